// The access policy API, as data: the version in force and the publication history (read:Policy),
// a version's document by its hash, publishing a new version (publish:Policy; it waits for approval
// when the policy in force says so, see server/admin) and simulating a draft
// against today's access and pending requests (simulate:Policy).
import { z } from 'zod';
import { defineRoute, type ApiRoute, errorBody } from '../shared/http/api-route.js';
import { publicationView, versionView } from '../shared/http/publication-views.js';
import { abilityOf, principalOf } from '../shared/http/request-auth.js';
import type { PolicyService } from './policy-service.js';

const TAGS = ['policies'];
const hash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a policy version hash (64 hex digits)');


const documentText = z.string({ error: 'must be the policy document, as YAML or JSON text' }).min(1, 'must not be empty').max(1_000_000, 'must be at most 1 MB');

const publishBody = z
  .object({
    document: documentText,
    note: z.string().max(1000, 'must be at most 1000 characters').optional(),
    replaces: hash.optional().describe('the version hash you expect to be in force; refused with 409 when another was published since'),
  })
  .strict();

const simulateBody = z.object({ document: documentText, limit: z.number().int().min(1).max(100_000).optional() }).strict();

const caller = (req: Parameters<ApiRoute['handler']>[0]) => ({ principal: principalOf(req), ability: abilityOf(req) });

export function policyRoutes(deps: { service: PolicyService }): ApiRoute[] {
  const { service } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/api/policies',
      summary: 'The access policy in force and the latest publications',
      tags: TAGS,
      access: { action: 'read', subject: 'Policy' },
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(20), before: z.coerce.number().int().min(1).optional() }).strict() },
      responses: { 200: { description: 'the policy in force (null before the first publication) and publications, newest first', schema: z.object({ inForce: versionView.extend({ publication: publicationView }).nullable(), publications: z.array(publicationView) }) } },
      handler: async (req, res) => {
        const q = req.query as unknown as { limit: number; before?: number };
        const c = caller(req);
        const current = await service.inForce(c);
        const publications = await service.publications(c, { limit: q.limit, ...(q.before !== undefined ? { beforeSeq: q.before } : {}) });
        if (!current) return void res.json({ inForce: null, publications });
        const { version, ...publication } = current;
        res.json({ inForce: { ...version, publication }, publications });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/policies/versions/:versionHash',
      summary: 'One policy version: its document and the text it was published as',
      tags: TAGS,
      access: { action: 'read', subject: 'Policy' },
      request: { params: z.object({ versionHash: hash }) },
      responses: { 200: { description: 'the version', schema: versionView }, 404: { description: 'no such version', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await service.version(caller(req), (req.params as { versionHash: string }).versionHash));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/policies',
      summary: 'Publish a policy version: it is in force for every decision from now on, and recorded in the ledger',
      tags: TAGS,
      access: { action: 'publish', subject: 'Policy' },
      request: { body: publishBody },
      responses: {
        201: { description: 'published', schema: z.object({ published: z.literal(true), publication: publicationView }) },
        200: { description: 'this version was already in force; nothing changed', schema: z.object({ published: z.literal(false), publication: publicationView }) },
        202: {
          description: 'the policy in force says publishing needs approval (by default, a second admin): nothing is published until the admin change is approved',
          schema: z.object({ published: z.literal(false), awaitingApproval: z.record(z.string(), z.unknown()) }),
        },
        503: { description: 'the approval gate could not be opened (Temporal is unreachable); nothing was changed', schema: errorBody },
        400: { description: 'the document is not a valid policy; the error names the field', schema: errorBody },
        409: { description: 'another version was published since the one named in replaces', schema: errorBody },
      },
      handler: async (req, res) => {
        const result = await service.publish(caller(req), req.body as z.infer<typeof publishBody>);
        res.status('awaitingApproval' in result ? 202 : result.published ? 201 : 200).json(result);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/policies/simulate',
      summary: 'Decide current assignments and pending requests again under a draft; nothing is published or changed',
      tags: TAGS,
      access: { action: 'simulate', subject: 'Policy' },
      request: { body: simulateBody },
      responses: {
        200: { description: 'what the draft would decide differently', schema: z.record(z.string(), z.unknown()) },
        400: { description: 'the draft is not a valid policy; the error names the field', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json(await service.simulate(caller(req), req.body as z.infer<typeof simulateBody>));
      },
    }),
  ];
}
