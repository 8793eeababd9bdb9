// The API token endpoints: admins create tokens (shown once), list and read them (never the token
// itself), and revoke them.
import { z } from 'zod';
import type { Permission } from '../../shared/auth/permissions.js';
import { defineRoute, heldForApproval, type ApiRoute } from '../../shared/http/api-route.js';
import { abilityOf, principalOf } from '../../shared/http/request-auth.js';
import type { ApiTokenService } from './api-token-service.js';
import { apiTokenSchema, createApiTokenSchema, createdApiTokenSchema } from './api-token-types.js';

const idParams = z.object({ id: z.uuid('must be a token id') });

export function apiTokenRoutes(deps: { apiTokens: ApiTokenService }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/tokens',
      summary: 'Lists API tokens (never the tokens themselves)',
      tags: ['api-tokens'],
      access: { action: 'read', subject: 'ApiToken' },
      rateLimit: 'api-token',
      responses: { 200: { description: 'the tokens', schema: z.object({ tokens: z.array(apiTokenSchema) }) } },
      handler: async (_req, res) => {
        res.json({ tokens: await deps.apiTokens.list() });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/tokens',
      summary: 'Creates an API token scoped to named permissions; the token is in this response only',
      tags: ['api-tokens'],
      access: { action: 'create', subject: 'ApiToken' },
      rateLimit: 'api-token',
      governedAs: 'createApiTokens',
      request: { body: createApiTokenSchema },
      responses: {
        201: { description: 'created; store the token now, it is not shown again', schema: createdApiTokenSchema },
        202: heldForApproval('creating API tokens'),
        409: { description: 'the admin change named in gatehouse-admin-change is not approved, was already made, or is for another call' },
        403: { description: 'a scope the caller does not hold themselves' },
      },
      handler: async (req, res) => {
        const body = req.body as z.infer<typeof createApiTokenSchema>;
        const principal = principalOf(req);
        const created = await deps.apiTokens.create({
          name: body.name,
          scopes: body.scopes as Permission[],
          expiresInDays: body.expiresInDays,
          by: { kind: principal.kind, id: principal.id },
          creatorAbility: abilityOf(req),
        });
        res.status(201).setHeader('Cache-Control', 'no-store').json({ ...created.view, token: created.token });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/tokens/:id',
      summary: 'Reads one API token: scopes, expiry, last use, revocation',
      tags: ['api-tokens'],
      access: { action: 'read', subject: 'ApiToken' },
      rateLimit: 'api-token',
      request: { params: idParams },
      responses: { 200: { description: 'the token', schema: apiTokenSchema }, 404: { description: 'no such token' } },
      handler: async (req, res) => {
        res.json(await deps.apiTokens.get((req.params as z.infer<typeof idParams>).id));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/tokens/:id',
      summary: 'Revokes an API token at once, on every replica',
      tags: ['api-tokens'],
      access: { action: 'delete', subject: 'ApiToken' },
      rateLimit: 'api-token',
      request: { params: idParams },
      responses: { 200: { description: 'revoked', schema: apiTokenSchema }, 404: { description: 'no such token' }, 409: { description: 'already revoked' } },
      handler: async (req, res) => {
        const principal = principalOf(req);
        res.json(await deps.apiTokens.revoke((req.params as z.infer<typeof idParams>).id, { kind: principal.kind, id: principal.id }));
      },
    }),
  ];
}
