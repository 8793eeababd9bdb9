// The sync flow API: the flows in force (read:Flow), one flow with its publications, checking a
// draft without storing it, and publishing a version (publish:Flow), recorded in the ledger.
import { z } from 'zod';
import { defineRoute, type ApiRoute, errorBody } from '../../shared/http/api-route.js';
import { publicationView, versionView } from '../../shared/http/publication-views.js';
import { abilityOf, principalOf } from '../../shared/http/request-auth.js';
import type { FlowService } from './flow-service.js';

const TAGS = ['flows'];
const hash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a flow version hash (64 hex digits)');
const flowName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a flow name (lower-case letters, digits and dashes)');

const inForceView = publicationView.extend({ version: versionView });

const documentText = z.string({ error: 'must be the flow document, as YAML or JSON text' }).min(1, 'must not be empty').max(1_000_000, 'must be at most 1 MB');

const publishBody = z
  .object({
    document: documentText,
    note: z.string().max(1000, 'must be at most 1000 characters').optional(),
    replaces: hash.nullable().optional().describe('the version hash you expect in force for this flow (null: a new flow); refused with 409 when another was published since'),
  })
  .strict();

const previewCounts = z.object({ create: z.number(), update: z.number(), unchanged: z.number(), kept: z.number(), delete: z.number().describe("a mirror's records the source no longer has"), grant: z.number().describe('access changes the run would hand to the gate'), skipped: z.number(), refused: z.number() });

const previewView = z.object({
  flow: z.string(),
  versionHash: z.string(),
  targetKind: z.string(),
  read: z.number(),
  moreAfter: z.boolean(),
  counts: previewCounts,
  sample: z.array(
    z.object({
      situation: z.enum(['create', 'update', 'unchanged', 'kept', 'delete', 'grant', 'refused']),
      record: z.record(z.string(), z.unknown()),
      source: z.record(z.string(), z.unknown()).optional().describe("a draft's preview: the source record, with the draft's field rules applied by field name"),
      changedFields: z.array(z.string()).optional(),
      error: z.string().optional(),
    }),
  ),
});

const planView = z
  .object({
    state: z.enum(['awaiting-approval', 'approved', 'not-needed', 'rejected', 'expired']),
    digest: hash.describe('SHA-256 over every record\'s situation and content: approve by naming it'),
    counts: previewCounts,
    read: z.number(),
    moreAfter: z.boolean().describe('more records wait after those the plan covers (the next run\'s)'),
    reasons: z.array(z.string()).describe('why it needs approval'),
    proposedAt: z.string(),
    deadlineAt: z.string().optional(),
    decidedBy: z.object({ kind: z.string(), id: z.string(), name: z.string().optional() }).optional(),
    decidedAt: z.string().optional(),
    reason: z.string().nullable().optional(),
    driftedFrom: hash.optional().describe('the digest approved before the live diff drifted from it'),
  })
  .describe("a planned run's plan (flows with plan rules, and every flow that writes memberships)");

const runView = z.object({
  id: z.string(),
  flow: z.string(),
  versionHash: z.string(),
  status: z.enum(['running', 'succeeded', 'failed']),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  startedBy: z.object({ kind: z.string(), id: z.string(), name: z.string().optional() }),
  pages: z.number().describe('pages read and written so far'),
  deadLettered: z.number().describe('records set aside as dead letters'),
  read: z.number(),
  skipped: z.number().describe('records the filter refused or the mapping mapped to nothing'),
  created: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  deleted: z.number().describe('records a mirror deleted because the source no longer has them'),
  accessChanges: z
    .object({
      total: z.number(),
      applied: z.number(),
      awaitingApproval: z.number(),
      inProgress: z.number().describe('being decided or applied'),
      refused: z.number().describe('denied by policy, or rejected, expired or cancelled at the gate'),
      failed: z.number().describe('failed, or applied and then undone'),
    })
    .describe("access changes the run handed to the gate (records written to a connector's memberships), by where each stands now"),
  plan: planView.optional(),
  error: z.string().optional(),
});

const deadLetterView = z.object({
  id: z.string(),
  flow: z.string(),
  runId: z.string(),
  versionHash: z.string(),
  stage: z.enum(['map', 'write']).describe('where it failed: mapping it, or writing it to the target'),
  error: z.string(),
  record: z.record(z.string(), z.unknown()).describe("the source record with the flow's field rules applied (the record itself is sealed, for replays)"),
  status: z.enum(['open', 'replayed', 'discarded', 'superseded']),
  attempts: z.number(),
  createdAt: z.string(),
  resolvedAt: z.string().optional(),
  resolvedBy: z.object({ kind: z.string(), id: z.string(), name: z.string().optional() }).optional(),
  reason: z.string().optional(),
});
const deadLetterParams = z.object({ name: flowName, id: z.uuid('must be a dead letter id (a UUID)') });

const caller = (req: Parameters<ApiRoute['handler']>[0]) => ({ principal: principalOf(req), ability: abilityOf(req) });

export function flowRoutes(deps: { service: FlowService }): ApiRoute[] {
  const { service } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/api/flows',
      summary: 'The sync flows in force, each with its version',
      tags: TAGS,
      access: { action: 'read', subject: 'Flow' },
      responses: { 200: { description: 'every published flow, by name', schema: z.object({ flows: z.array(inForceView) }) } },
      handler: async (req, res) => {
        res.json({ flows: await service.list(caller(req)) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/flows/:name',
      summary: "One flow: its version in force and its publications, newest first",
      tags: TAGS,
      access: { action: 'read', subject: 'Flow' },
      request: { params: z.object({ name: flowName }) },
      responses: {
        200: { description: 'the flow', schema: z.object({ inForce: inForceView, publications: z.array(publicationView) }) },
        404: { description: 'no flow of that name was published', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json(await service.get(caller(req), (req.params as { name: string }).name));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/:name/runs',
      summary: 'Run a flow now (its version in force): it reads what is new in the source since the last run, and writes it',
      tags: TAGS,
      access: { action: 'run', subject: 'Flow' },
      request: {
        params: z.object({ name: flowName }),
        body: z.object({ refresh: z.boolean().optional().describe('a full resync: read the source from its start (records already written come out unchanged)') }).strict(),
      },
      responses: {
        202: { description: 'the run started; follow it at /api/flows/{name}/runs/{id}', schema: runView },
        404: { description: 'no flow of that name was published', schema: errorBody },
        409: { description: 'a run of this flow is in progress', schema: errorBody },
        503: { description: 'Temporal could not be reached; the run is recorded as failed and nothing was read', schema: errorBody },
      },
      handler: async (req, res) => {
        res.status(202).json(await service.startRun(caller(req), (req.params as { name: string }).name, req.body as { refresh?: boolean }));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/:name/webhook-secret',
      summary: "Set a new webhook secret for a flow started by webhooks (kept in Vault, shown this once; the old one stops working)",
      tags: TAGS,
      access: { action: 'publish', subject: 'Flow' },
      request: { params: z.object({ name: flowName }) },
      responses: {
        201: {
          description: 'the new secret, which is not shown again',
          schema: z.object({ flow: z.string(), auth: z.enum(['hmac', 'token']), path: z.string().describe('where the webhook is called (POST)'), secret: z.string() }),
        },
        400: { description: 'the flow in force is not started by webhooks', schema: errorBody },
        404: { description: 'no flow of that name was published', schema: errorBody },
      },
      handler: async (req, res) => {
        res.status(201).json(await service.setWebhookSecret(caller(req), (req.params as { name: string }).name));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/hooks/flows/:name',
      summary:
        "A webhook call that starts a run of a flow whose trigger is a webhook. hmac: headers Gatehouse-Webhook-Timestamp (unix seconds, within 5 minutes) and Gatehouse-Webhook-Signature (sha256=<hex HMAC-SHA256 of \"<timestamp>.<raw body>\" under the flow's secret); token: Authorization: Bearer <secret>. The body is not read as data: the run reads the flow's source",
      tags: TAGS,
      access: 'public',
      rateLimit: 'webhook',
      request: { params: z.object({ name: flowName }) },
      responses: {
        202: { description: 'authentic: a run started; its id is in the answer', schema: runView },
        401: { description: 'not authentic (a missing, stale or wrong signature, or a wrong token); recorded on the ledger with why', schema: errorBody },
        404: { description: 'no flow of that name is started by webhooks', schema: errorBody },
        409: { description: 'a run of this flow is in progress; send again after it ends (Retry-After)', schema: errorBody },
        429: { description: 'too many webhook calls from this address', schema: errorBody },
      },
      handler: async (req, res) => {
        const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        try {
          res.status(202).json(await service.receiveWebhook({ name: (req.params as { name: string }).name, headers: req.headers, rawBody, from: req.ip ?? 'unknown' }));
        } catch (err) {
          if ((err as { code?: string }).code === 'conflict') res.setHeader('Retry-After', '30');
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/:name/runs/:id/plan-decision',
      summary: "Approve or reject a run's plan, naming the digest you looked at; whoever started the run does not decide it",
      tags: TAGS,
      access: { action: 'decide', subject: 'Flow' },
      request: {
        params: z.object({ name: flowName, id: z.uuid('must be a run id (a UUID)') }),
        body: z.object({ verdict: z.enum(['approve', 'reject']), digest: hash, reason: z.string().min(1).max(1000).optional() }).strict(),
      },
      responses: {
        200: { description: 'decided; the run goes on (checking the live diff against the plan first) or fails', schema: runView },
        403: { description: 'you started this run, or may not decide plans', schema: errorBody },
        404: { description: 'no such run of this flow', schema: errorBody },
        409: { description: 'the run has no plan waiting, or its plan changed since you looked (another digest)', schema: errorBody },
      },
      handler: async (req, res) => {
        const { name, id } = req.params as { name: string; id: string };
        res.json(await service.decidePlan(caller(req), name, id, req.body as { verdict: 'approve' | 'reject'; digest: string; reason?: string }));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/flows/:name/runs',
      summary: "A flow's runs, newest first, with their counts",
      tags: TAGS,
      access: { action: 'read', subject: 'Flow' },
      request: { params: z.object({ name: flowName }), query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }).strict() },
      responses: {
        200: { description: 'the runs', schema: z.object({ runs: z.array(runView) }) },
        404: { description: 'no flow of that name was published', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json({ runs: await service.runs(caller(req), (req.params as { name: string }).name, (req.query as unknown as { limit: number }).limit) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/flows/:name/runs/:id',
      summary: 'One run: its status and counts so far',
      tags: TAGS,
      access: { action: 'read', subject: 'Flow' },
      request: { params: z.object({ name: flowName, id: z.uuid('must be a run id (a UUID)') }) },
      responses: {
        200: { description: 'the run', schema: runView },
        404: { description: 'no such run of this flow', schema: errorBody },
      },
      handler: async (req, res) => {
        const p = req.params as { name: string; id: string };
        res.json(await service.run(caller(req), p.name, p.id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/preview-draft',
      summary: "Preview a draft flow document without publishing it: the first records of its source, each beside what the draft makes of it (the mapping editor's view); nothing is stored or written",
      tags: TAGS,
      access: { action: 'run', subject: 'Flow' },
      request: { body: z.object({ document: documentText, limit: z.number().int().min(1).max(500).default(20) }).strict() },
      responses: {
        200: { description: 'what the draft would do, record by record', schema: previewView },
        400: { description: 'the draft is not a valid flow (the field is named), or names a connector that does not exist', schema: errorBody },
        503: { description: 'the preview did not finish (a connector or Temporal unreachable)', schema: errorBody },
      },
      handler: async (req, res) => {
        const body = req.body as { document: string; limit: number };
        res.json(await service.previewDraft(caller(req), body.document, body.limit));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/:name/preview',
      summary: 'What the next run would do with the next records after the cursor: nothing is written and the cursor stays',
      tags: TAGS,
      access: { action: 'run', subject: 'Flow' },
      request: { params: z.object({ name: flowName }), body: z.object({ limit: z.number().int().min(1).max(10_000).default(500) }).strict() },
      responses: {
        200: {
          description: "each situation's count, and a sample of records shown with the flow's field rules applied",
          schema: previewView,
        },
        404: { description: 'no flow of that name was published', schema: errorBody },
        503: { description: 'the preview did not finish (a connector or Temporal unreachable)', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json(await service.preview(caller(req), (req.params as { name: string }).name, (req.body as { limit: number }).limit));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/flows/:name/dead-letters',
      summary: "A flow's dead letters: records a run could not map or write, set aside while the rest went on",
      tags: TAGS,
      access: { action: 'read', subject: 'Flow' },
      request: {
        params: z.object({ name: flowName }),
        query: z.object({ status: z.enum(['open', 'replayed', 'discarded', 'superseded']).default('open'), limit: z.coerce.number().int().min(1).max(500).default(50) }).strict(),
      },
      responses: {
        200: { description: 'the dead letters, newest first', schema: z.object({ deadLetters: z.array(deadLetterView) }) },
        404: { description: 'no flow of that name was published', schema: errorBody },
      },
      handler: async (req, res) => {
        const q = req.query as unknown as { status: 'open'; limit: number };
        res.json({ deadLetters: await service.deadLetters(caller(req), (req.params as { name: string }).name, q) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/:name/dead-letters/:id/replay',
      summary: "Run a dead letter through the flow's version in force again (after a fix); it is resolved if it goes through",
      tags: TAGS,
      access: { action: 'run', subject: 'Flow' },
      request: { params: deadLetterParams },
      responses: {
        200: {
          description: 'replayed (status replayed), or refused again (status open, with the reason)',
          schema: z.object({ status: z.enum(['open', 'replayed', 'discarded', 'superseded']), error: z.string().optional(), outcome: z.string().optional(), deadLetter: deadLetterView }),
        },
        404: { description: 'no such dead letter of this flow', schema: errorBody },
        409: { description: 'the dead letter is not open', schema: errorBody },
        503: { description: 'the replay did not finish (the target or Temporal unreachable); it stays open', schema: errorBody },
      },
      handler: async (req, res) => {
        const p = req.params as { name: string; id: string };
        res.json(await service.replayDeadLetter(caller(req), p.name, p.id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/:name/dead-letters/:id/discard',
      summary: 'Set a dead letter aside for good, saying why; recorded on the ledger',
      tags: TAGS,
      access: { action: 'run', subject: 'Flow' },
      request: { params: deadLetterParams, body: z.object({ reason: z.string().min(1, 'must say why').max(1000, 'must be at most 1000 characters') }).strict() },
      responses: {
        200: { description: 'discarded', schema: deadLetterView },
        404: { description: 'no such dead letter of this flow', schema: errorBody },
        409: { description: 'the dead letter is not open', schema: errorBody },
      },
      handler: async (req, res) => {
        const p = req.params as { name: string; id: string };
        res.json(await service.discardDeadLetter(caller(req), p.name, p.id, (req.body as { reason: string }).reason));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows/validate',
      summary: 'Check a flow document (schema, expressions, connectors) without storing it',
      tags: TAGS,
      access: { action: 'read', subject: 'Flow' },
      request: { body: z.object({ document: documentText }).strict() },
      responses: {
        200: { description: 'valid: the name and version it would publish as', schema: z.object({ valid: z.literal(true), name: z.string(), versionHash: z.string(), document: z.record(z.string(), z.unknown()) }) },
        400: { description: 'not a valid flow; the error names the field', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json({ valid: true, ...(await service.validate(caller(req), (req.body as { document: string }).document)) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/flows',
      summary: 'Publish a flow version: its runs use it from now on, and the publication is recorded in the ledger',
      tags: TAGS,
      access: { action: 'publish', subject: 'Flow' },
      request: { body: publishBody },
      responses: {
        201: { description: 'published', schema: z.object({ published: z.literal(true), publication: publicationView }) },
        200: { description: 'this version was already in force; nothing changed', schema: z.object({ published: z.literal(false), publication: publicationView }) },
        400: { description: 'not a valid flow; the error names the field', schema: errorBody },
        409: { description: 'another version of this flow was published since the one named in replaces', schema: errorBody },
      },
      handler: async (req, res) => {
        const result = await service.publish(caller(req), req.body as z.infer<typeof publishBody>);
        res.status(result.published ? 201 : 200).json(result);
      },
    }),
  ];
}
