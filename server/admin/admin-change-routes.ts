// The admin changes API, as data: admin changes that wait for approval before they take effect
// (issue 12, item 8). Reading them follows what they change (read:Policy for a policy publication);
// deciding one is decide:ApprovalRequest, and then the stage's eligibility, which never includes the
// person who proposed it.
import { z } from 'zod';
import { defineRoute, type ApiRoute, errorBody } from '../../shared/http/api-route.js';
import { abilityOf, principalOf } from '../../shared/http/request-auth.js';
import { decisionBody } from '../access/access-routes.js';
import { ADMIN_CHANGE_STATUSES, type AdminChanges } from './admin-changes.js';

const TAGS = ['admin changes'];
const idParams = z.object({ id: z.uuid({ message: 'must be an admin change id (a UUID)' }) });
const listQuery = z
  .object({
    status: z.enum(ADMIN_CHANGE_STATUSES, { error: `must be one of ${ADMIN_CHANGE_STATUSES.join(', ')}` }).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();
const changeView = z.record(z.string(), z.unknown());

const caller = (req: Parameters<ApiRoute['handler']>[0]) => ({ principal: principalOf(req), ability: abilityOf(req) });

export function adminChangeRoutes(deps: { changes: AdminChanges }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/admin-changes',
      summary: 'Admin changes, newest first: what was proposed, by whom, what it waits for, and how it ended',
      tags: TAGS,
      access: { action: 'read', subject: 'Policy' },
      request: { query: listQuery },
      responses: { 200: { description: 'the admin changes; for a pending one, whether you may decide it', schema: z.object({ adminChanges: z.array(changeView) }) } },
      handler: async (req, res) => {
        const q = req.query as unknown as z.infer<typeof listQuery>;
        res.json({ adminChanges: await deps.changes.list(caller(req), { limit: q.limit, ...(q.status ? { status: q.status } : {}) }) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/admin-changes/inbox',
      summary: 'The admin changes you may decide now, oldest first (the approval inbox shows them beside access requests)',
      tags: TAGS,
      access: { action: 'decide', subject: 'ApprovalRequest' },
      responses: { 200: { description: 'the admin changes', schema: z.object({ adminChanges: z.array(changeView) }) } },
      handler: async (req, res) => {
        res.json({ adminChanges: await deps.changes.inbox(caller(req)) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/admin-changes/:id',
      summary: 'One admin change',
      tags: TAGS,
      access: { action: 'read', subject: 'Policy' },
      request: { params: idParams },
      responses: { 200: { description: 'the admin change', schema: changeView }, 404: { description: 'no such admin change', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await deps.changes.get(caller(req), (req.params as z.infer<typeof idParams>).id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/admin-changes/:id/decision',
      summary: 'Approve or deny the open stage of an admin change, with a reason',
      tags: TAGS,
      access: { action: 'decide', subject: 'ApprovalRequest' },
      request: { params: idParams, body: decisionBody },
      responses: {
        200: { description: 'recorded; the gate’s state after it', schema: z.object({ state: z.record(z.string(), z.unknown()) }) },
        403: { description: 'you may not decide it (the reason says why: you proposed it, already decided, not an approver of this stage)', schema: errorBody },
        404: { description: 'no such admin change', schema: errorBody },
        409: { description: 'it is closed or moved on since you read it', schema: errorBody },
      },
      handler: async (req, res) => {
        const { id } = req.params as z.infer<typeof idParams>;
        res.json({ state: await deps.changes.decide(caller(req), id, req.body as z.infer<typeof decisionBody>) });
      },
    }),
  ];
}
