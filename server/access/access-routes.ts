// The approval inbox and the requests API, as data. The inbox and decisions need decide:ApprovalRequest
// (the security-approver role; which requests, the policy says); asking for access needs
// request:AccessRequest (every person); reading requests needs read:AccessRequest (reviewers see
// all, everyone else the requests they made and the ones about them).
import { z } from 'zod';
import { defineRoute, type ApiRoute, errorBody } from '../../shared/http/api-route.js';
import { abilityOf, principalOf } from '../../shared/http/request-auth.js';
import type { ApprovalService } from './approval-service.js';
import { newRequestSchema, requestQuerySchema, withdrawalSchema, type NewRequest, type RequestQuery, type RequestService, type Withdrawal } from './request-service.js';

const idParams = z.object({ id: z.uuid({ message: 'must be a request id (a UUID)' }) });
export const decisionBody = z
  .object({
    verdict: z.enum(['approve', 'deny'], { error: 'must be approve or deny' }),
    reason: z.string().trim().min(1, 'is required: say why').max(2000, 'must be at most 2000 characters'),
  })
  .strict();

const caller = (req: Parameters<ApiRoute['handler']>[0]) => ({ principal: principalOf(req), ability: abilityOf(req) });

export function accessRoutes(deps: { approvals: ApprovalService; requests: RequestService }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/approvals',
      summary: 'Your inbox: the approval requests you may decide now, with the change, its subject, the policy’s reasons, SoD warnings and the justification',
      tags: ['approvals'],
      access: { action: 'decide', subject: 'ApprovalRequest' },
      responses: { 200: { description: 'the requests, oldest first', schema: z.object({ approvals: z.array(z.record(z.string(), z.unknown())) }) } },
      handler: async (req, res) => {
        res.json({ approvals: await deps.approvals.inbox(caller(req)) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/approvals/:id/decision',
      summary: 'Approve or deny the open stage of an approval request, with a reason',
      tags: ['approvals'],
      access: { action: 'decide', subject: 'ApprovalRequest' },
      request: { params: idParams, body: decisionBody },
      responses: {
        200: { description: 'recorded; the request’s state after it', schema: z.record(z.string(), z.unknown()) },
        403: { description: 'you may not decide this request (the reason says why: your own access, your own request, already decided, not an approver of this stage)', schema: errorBody },
        404: { description: 'no such request', schema: errorBody },
        409: { description: 'the request is closed or moved on since you read it', schema: errorBody },
      },
      handler: async (req, res) => {
        const { id } = req.params as z.infer<typeof idParams>;
        res.json({ state: await deps.approvals.decide(caller(req), id, req.body as z.infer<typeof decisionBody>) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/requests',
      summary: 'Access changes and requests: their decision, approval and result; filter by status, source, kind, subject, requester, connector, entitlement, time',
      tags: ['requests'],
      access: { action: 'read', subject: 'AccessRequest' },
      request: { query: requestQuerySchema },
      responses: { 200: { description: 'newest first', schema: z.object({ requests: z.array(z.record(z.string(), z.unknown())), nextCursor: z.string().optional() }) } },
      handler: async (req, res) => {
        res.json(await deps.requests.list(caller(req), req.query as unknown as RequestQuery));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/requests/:id',
      summary: 'One access change or request',
      tags: ['requests'],
      access: { action: 'read', subject: 'AccessRequest' },
      request: { params: idParams },
      responses: { 200: { description: 'the request', schema: z.record(z.string(), z.unknown()) }, 404: { description: 'no such request', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await deps.requests.get(caller(req), (req.params as z.infer<typeof idParams>).id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/requests',
      summary: 'Ask for access, for yourself or for a non-human identity you own; policy decides, and approvers where it says so',
      tags: ['requests'],
      access: { action: 'request', subject: 'AccessRequest' },
      request: { body: newRequestSchema },
      responses: {
        201: { description: 'decided: the status says what happens next (allowed, denied, awaiting-approval, applied...)', schema: z.object({ id: z.string(), workflowId: z.string(), status: z.string() }) },
        202: { description: 'submitted and being decided; follow it in GET /api/requests/{id}', schema: z.object({ id: z.string(), workflowId: z.string(), status: z.literal('deciding') }) },
        400: { description: 'the request names something that does not exist or is incomplete; the error names the field', schema: errorBody },
        403: { description: 'you do not own the non-human identity', schema: errorBody },
        409: { description: 'the same change is already waiting for approval', schema: errorBody },
      },
      handler: async (req, res) => {
        const created = await deps.requests.create(caller(req), req.body as NewRequest);
        res.status(created.status === 'deciding' ? 202 : 201).json(created);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/requests/:id/withdraw',
      summary: 'Withdraw a request that waits for approval (its requester, or an admin), with a reason; the change is never applied',
      tags: ['requests'],
      access: { action: 'cancel', subject: 'AccessRequest' },
      request: { params: idParams, body: withdrawalSchema },
      responses: {
        200: { description: 'withdrawn: the request, its approval now cancelled with the reason', schema: z.record(z.string(), z.unknown()) },
        403: { description: 'you did not make this request (and are not an admin)', schema: errorBody },
        404: { description: 'no such request', schema: errorBody },
        409: { description: 'the request is not waiting for approval (decided, applied, or never gated)', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json(await deps.requests.withdraw(caller(req), (req.params as z.infer<typeof idParams>).id, req.body as Withdrawal));
      },
    }),
  ];
}
