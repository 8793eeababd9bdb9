// The runs API, as data: joiner-mover-leaver runs and reconciliation passes (read:Run), and an
// admin's retry and cancel (retry:Run, cancel:Run).
import { z } from 'zod';
import { callerOf } from '../../connectors/caller.js';
import { defineRoute, type ApiRoute, errorBody } from '../../shared/http/api-route.js';
import { runQuerySchema, type RunService } from './run-service.js';

const idParams = z.object({ id: z.uuid({ message: 'must be a run id (a UUID)' }) });
const cancelBody = z.object({ reason: z.string().trim().min(1, 'is required: say why').max(2000, 'must be at most 2000 characters') }).strict();
const run = z.record(z.string(), z.unknown());

export function runRoutes(deps: { runs: RunService }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/runs',
      summary: 'Joiner-mover-leaver runs and reconciliation passes, newest first; filter by identity, status, kind, connector and time',
      tags: ['runs'],
      access: { action: 'read', subject: 'Run' },
      request: { query: runQuerySchema },
      responses: { 200: { description: 'a page of runs', schema: z.object({ runs: z.array(run), nextCursor: z.string().optional() }) }, 400: { description: 'a parameter is wrong (it is named)', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await deps.runs.list(callerOf(req), req.query as unknown as z.output<typeof runQuerySchema>));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/runs/:id',
      summary: 'One run: its steps, its timeline from the ledger, and its workflow’s status in Temporal',
      tags: ['runs'],
      access: { action: 'read', subject: 'Run' },
      request: { params: idParams },
      responses: { 200: { description: 'the run', schema: run }, 404: { description: 'no such run', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await deps.runs.get(callerOf(req), (req.params as z.infer<typeof idParams>).id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/runs/:id/retry',
      summary: 'Run the person’s plan again from where things stand now (a new run), or a reconciliation pass now',
      tags: ['runs'],
      access: { action: 'retry', subject: 'Run' },
      request: { params: idParams },
      responses: {
        202: { description: 'the retry was handed to the workflow', schema: z.object({ retried: z.literal(true), eventId: z.string().optional(), workflowId: z.string() }) },
        404: { description: 'no such run', schema: errorBody },
        409: { description: 'the run is still running', schema: errorBody },
      },
      handler: async (req, res) => {
        res.status(202).json(await deps.runs.retry(callerOf(req), (req.params as z.infer<typeof idParams>).id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/runs/:id/cancel',
      summary: 'Stop a running run, with a reason: its pending approvals close as cancelled and what it applied is undone (a leaver’s removals are kept)',
      tags: ['runs'],
      access: { action: 'cancel', subject: 'Run' },
      request: { params: idParams, body: cancelBody },
      responses: {
        202: { description: 'the workflow was told to cancel the run', schema: z.object({ cancelling: z.literal(true) }) },
        404: { description: 'no such run', schema: errorBody },
        409: { description: 'the run is not running', schema: errorBody },
      },
      handler: async (req, res) => {
        res.status(202).json(await deps.runs.cancel(callerOf(req), (req.params as z.infer<typeof idParams>).id, (req.body as z.infer<typeof cancelBody>).reason));
      },
    }),
  ];
}
