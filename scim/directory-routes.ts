// The admin API for directories and their SCIM tokens, as route declarations. Reading needs
// read:Directory; creating and revoking need manage:Directory. A new token is in one response only.
import { z } from 'zod';
import { defineRoute, heldForApproval, type ApiRoute } from '../shared/http/api-route.js';
import { principalOf } from '../shared/http/request-auth.js';
import { actorOfPrincipal } from '../audit/ledger-routes.js';
import { directoryNameSchema, directoryViewSchema, signInIssuersSchema, tokenLabelSchema, tokenViewSchema, type DirectoryService } from './directory-service.js';

const read = { action: 'read', subject: 'Directory' } as const;
const manage = { action: 'manage', subject: 'Directory' } as const;

const directoryParams = z.object({ directoryId: z.uuid({ message: 'must be a directory id (a UUID)' }) });
const tokenParams = directoryParams.extend({ tokenId: z.uuid({ message: 'must be a token id (a UUID)' }) });
const errorResponse = (description: string) => ({ description });

export function directoryRoutes(deps: { directories: DirectoryService; scimBaseUrl: string }): ApiRoute[] {
  const { directories } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/api/directories',
      summary: 'List directories (identity-provider connections) with their user, group and token counts',
      tags: ['directories'],
      access: read,
      responses: { 200: { description: 'the directories', schema: z.object({ directories: z.array(directoryViewSchema) }) } },
      handler: async (_req, res) => {
        res.json({ directories: await directories.listDirectories() });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/directories',
      summary: 'Create a directory: one identity-provider connection, and the tenant its users and groups live in',
      tags: ['directories'],
      access: manage,
      request: { body: z.object({ name: directoryNameSchema, signInIssuers: signInIssuersSchema.optional() }) },
      responses: {
        201: { description: 'created', schema: z.object({ directory: directoryViewSchema, scimBaseUrl: z.string() }) },
        409: errorResponse('a directory with this name exists'),
      },
      handler: async (req, res) => {
        const body = req.body as { name: string; signInIssuers?: string[] };
        const directory = await directories.createDirectory(body.name, actorOfPrincipal(principalOf(req)), body.signInIssuers ? { signInIssuers: body.signInIssuers } : {});
        res.status(201).json({ directory, scimBaseUrl: deps.scimBaseUrl });
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/directories/:directoryId',
      summary: "Name the OpenID issuers whose signed-in people are linked to this directory's identities (replaces the list)",
      tags: ['directories'],
      access: manage,
      request: { params: directoryParams, body: z.object({ signInIssuers: signInIssuersSchema }) },
      responses: {
        200: { description: 'the directory', schema: z.object({ directory: directoryViewSchema }) },
        404: errorResponse('no such directory'),
      },
      handler: async (req, res) => {
        const { directoryId } = req.params as z.infer<typeof directoryParams>;
        const { signInIssuers } = req.body as { signInIssuers: string[] };
        res.json({ directory: await directories.setSignInIssuers(directoryId, signInIssuers, actorOfPrincipal(principalOf(req))) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/directories/:directoryId',
      summary: 'A directory and its tokens (never the token values)',
      tags: ['directories'],
      access: read,
      request: { params: directoryParams },
      responses: {
        200: { description: 'the directory', schema: z.object({ directory: directoryViewSchema, tokens: z.array(tokenViewSchema), scimBaseUrl: z.string() }) },
        404: errorResponse('no such directory'),
      },
      handler: async (req, res) => {
        const { directoryId } = req.params as z.infer<typeof directoryParams>;
        const [directory, tokens] = await Promise.all([directories.getDirectory(directoryId), directories.listTokens(directoryId)]);
        res.json({ directory, tokens, scimBaseUrl: deps.scimBaseUrl });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/directories/:directoryId/tokens',
      summary: "Issue a bearer token for the directory's identity provider; the value is in this response only",
      tags: ['directories'],
      access: manage,
      governedAs: 'createScimTokens',
      request: { params: directoryParams, body: z.object({ label: tokenLabelSchema.optional() }) },
      responses: {
        201: { description: 'the token, with its value shown once', schema: z.object({ token: tokenViewSchema, secret: z.string(), scimBaseUrl: z.string() }) },
        202: heldForApproval('creating SCIM tokens'),
        409: errorResponse('the admin change named in gatehouse-admin-change is not approved, was already made, or is for another call'),
        404: errorResponse('no such directory'),
      },
      handler: async (req, res) => {
        const { directoryId } = req.params as z.infer<typeof directoryParams>;
        const { label } = req.body as { label?: string };
        const { token, secret } = await directories.createToken(directoryId, actorOfPrincipal(principalOf(req)), label === undefined ? {} : { label });
        res.setHeader('Cache-Control', 'no-store');
        res.status(201).json({ token, secret, scimBaseUrl: deps.scimBaseUrl });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/directories/:directoryId/tokens/:tokenId',
      summary: 'Revoke a token: requests with it are refused from then on',
      tags: ['directories'],
      access: manage,
      request: { params: tokenParams },
      responses: {
        200: { description: 'the revoked token', schema: z.object({ token: tokenViewSchema }) },
        404: errorResponse('no such token in this directory'),
      },
      handler: async (req, res) => {
        const { directoryId, tokenId } = req.params as z.infer<typeof tokenParams>;
        res.json({ token: await directories.revokeToken(tokenId, actorOfPrincipal(principalOf(req)), { directoryId }) });
      },
    }),
  ];
}
