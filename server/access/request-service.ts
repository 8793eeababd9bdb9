// Requests for access: a person asks for access for themselves, or for a non-human identity they
// own, and the change runs through the same path as every other (decide, gate, apply) in an
// access-request workflow. Listing shows every access change Gatehouse decided, filterable; a
// person without a reviewing role sees the ones they asked for and the ones about them.
import { randomUUID } from 'node:crypto';
import { ForbiddenError, subject as asSubject } from '@casl/ability';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { holdsUnconditionally } from '../../policies/admin-ability.js';
import type { AccessChange, AccessChangeInput } from '../../policies/access-change.js';
import { CHANGE_SOURCES } from '../../policies/access-change.js';
import type { Decision } from '../../policies/decide.js';
import type { AdminAbility, Principal } from '../../shared/auth/permissions.js';
import { GatehouseError, conflict, invalid, notFound } from '../../shared/errors.js';
import { accessRequestWorkflow, accessRequestWorkflowId } from '../../workflows/access-request/workflow.js';
import { approvalWorkflowId, cancelSignal, stateQuery } from '../../workflows/approval/workflow.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';
import type { IdentityResolver } from './identity-resolver.js';
import { isoTime } from '../../shared/timestamps.js';

export interface RequestCaller {
  principal: Principal;
  ability: AdminAbility;
}

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const REQUESTABLE_KINDS = ['grant', 'revoke', 'create-account'] as const;

export const newRequestSchema = z
  .object({
    /** Whose access: your own, or a non-human identity you own (its directory identity id). */
    for: z.union([z.literal('self'), z.object({ nhi: z.uuid({ message: 'must be the id of a non-human identity' }) }).strict()], {
      error: 'must be "self" or { "nhi": "<identity id>" }',
    }),
    /** When you have identities in several directories: which one. */
    directoryId: z.uuid({ message: 'must be a directory id' }).optional(),
    connector: text(100).describe('the connector, by name or id'),
    kind: z.enum(REQUESTABLE_KINDS).default('grant'),
    entitlement: text(512).optional().describe('the entitlement, by its name on the connector (for grant and revoke)'),
    accountName: text(256).optional().describe('the account to create (for create-account only)'),
    justification: text(4000).describe('why the access is needed; approvers see it'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.kind === 'grant' || r.kind === 'revoke') && !r.entitlement) ctx.addIssue({ code: 'custom', path: ['entitlement'], message: `is required for ${r.kind}` });
    if (r.kind === 'create-account' && !r.accountName) ctx.addIssue({ code: 'custom', path: ['accountName'], message: 'is required for create-account' });
    // Any other kind acts on the account the subject already holds: a name here could aim at someone else's.
    if (r.kind !== 'create-account' && r.accountName !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['accountName'], message: `is only for create-account: ${r.kind} acts on the account the subject already holds on the connector` });
    }
  });
export type NewRequest = z.infer<typeof newRequestSchema>;

export const withdrawalSchema = z.object({ reason: text(2000) }).strict();
export type Withdrawal = z.infer<typeof withdrawalSchema>;

const STATUSES = ['allowed', 'denied', 'awaiting-approval', 'approved', 'rejected', 'expired', 'cancelled', 'applied', 'failed', 'compensated'] as const;

export const requestQuerySchema = z
  .object({
    status: z.enum(STATUSES).optional(),
    source: z.enum(CHANGE_SOURCES).optional(),
    kind: z.string().max(32).optional(),
    subjectId: text(512).optional(),
    requesterId: text(512).optional(),
    connectorId: z.uuid({ message: 'must be a connector id' }).optional(),
    entitlement: text(512).optional(),
    mine: z.enum(['requested', 'about-me']).optional().describe('only requests you made, or only changes to your own access'),
    from: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
    to: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
    limit: z.coerce.number({ message: 'must be a number' }).int().min(1, 'must be at least 1').max(200, 'must be at most 200').default(50),
    cursor: z.string().regex(/^\d{1,20}_[0-9a-f-]{36}$/, 'must be a cursor returned by a previous page').optional(),
  })
  .strict();
export type RequestQuery = z.infer<typeof requestQuerySchema>;

interface ChangeRow {
  id: string;
  change: AccessChange;
  status: string;
  source: string;
  decision: Decision;
  policy_name: string;
  policy_version_hash: string;
  result: Record<string, unknown> | null;
  error: { type: string; message: string } | null;
  decided_at: Date | string;
  decided_us: string;
  updated_at: Date | string;
  connector_name: string | null;
  r_status: string | null;
  r_stages: { name: string; quorum: number }[] | null;
  r_current_stage_index: number | null;
  r_escalated: boolean | null;
  r_decisions: unknown[] | null;
  r_closing_reason: string | null;
}

export interface RequestView {
  id: string;
  kind: string;
  status: string;
  source: string;
  subject: { type: string; id: string; directoryId?: string; displayName?: string };
  connector: { id: string; name?: string };
  entitlement?: string;
  accountName?: string;
  requester: AccessChange['requester'];
  justification?: string;
  decision: { effect: string; policy: { name: string; versionHash: string }; reasons: string[]; matchedRules: string[]; sodConflicts: string[]; riskLevel: string };
  approval?: { status: string; stage?: string; stageIndex: number; stages: { name: string; quorum: number }[]; escalated: boolean; decisions: unknown[]; closingReason?: string };
  result?: Record<string, unknown>;
  error?: { type: string; message: string };
  decidedAt: string;
  updatedAt: string;
}

const DECIDED_US = '(extract(epoch FROM a.decided_at) * 1000000)::bigint';
const COLUMNS = `a.id, a.change, a.status, a.source, a.decision, a.policy_name, a.policy_version_hash, a.result, a.error, a.decided_at, ${DECIDED_US} AS decided_us, a.updated_at,
  c.name AS connector_name, r.status AS r_status, r.stages AS r_stages, r.current_stage_index AS r_current_stage_index, r.escalated AS r_escalated,
  r.decisions AS r_decisions, r.closing_reason AS r_closing_reason`;
const FROM = `access_change a LEFT JOIN connector_instance c ON c.id::text = a.connector_id LEFT JOIN access_request r ON r.id = a.id`;

function toView(row: ChangeRow): RequestView {
  const c = row.change;
  return {
    id: row.id,
    kind: c.kind,
    status: row.status,
    source: row.source,
    subject: { type: c.subject.type, id: c.subject.id, ...(c.subject.directoryId ? { directoryId: c.subject.directoryId } : {}), ...(c.subject.displayName ? { displayName: c.subject.displayName } : {}) },
    connector: { id: c.target.connectorId, ...((row.connector_name ?? c.target.connectorName) ? { name: (row.connector_name ?? c.target.connectorName)! } : {}) },
    ...(c.target.entitlement ? { entitlement: c.target.entitlement.id } : {}),
    ...(c.target.accountName ? { accountName: c.target.accountName } : {}),
    requester: c.requester,
    ...(c.justification ? { justification: c.justification } : {}),
    decision: {
      effect: row.decision.effect,
      policy: { name: row.policy_name, versionHash: row.policy_version_hash },
      reasons: row.decision.reasons,
      matchedRules: row.decision.matchedRules.map((r) => r.id),
      sodConflicts: row.decision.sodConflicts.map((s) => s.id),
      riskLevel: row.decision.target.riskLevel,
    },
    ...(row.r_status
      ? {
          approval: {
            status: row.r_status,
            ...(row.r_stages?.[row.r_current_stage_index ?? 0] ? { stage: row.r_stages[row.r_current_stage_index ?? 0]!.name } : {}),
            stageIndex: row.r_current_stage_index ?? 0,
            stages: (row.r_stages ?? []).map((s) => ({ name: s.name, quorum: s.quorum })),
            escalated: row.r_escalated ?? false,
            decisions: row.r_decisions ?? [],
            ...(row.r_closing_reason ? { closingReason: row.r_closing_reason } : {}),
          },
        }
      : {}),
    ...(row.result ? { result: row.result } : {}),
    ...(row.error ? { error: row.error } : {}),
    decidedAt: isoTime(row.decided_at),
    updatedAt: isoTime(row.updated_at),
  };
}

const norm = (k: string) => k.trim().toLowerCase();

export interface RequestServiceDeps {
  orm: MikroORM;
  temporal: Client;
  taskQueue: string;
  identities: Pick<IdentityResolver, 'identity' | 'linkOf' | 'ownerKeysOf' | 'claimsFor'>;
  /** Signs each withdrawal the service accepts; the gate takes no other. */
  decisions: Pick<DecisionSigner, 'signWithdrawal'>;
  /** How long a new request waits for its decision before answering 202 (the decision then shows in GET /api/requests). */
  decisionWaitMs?: number;
}

export function createRequestService(deps: RequestServiceDeps) {
  const sql = () => deps.orm.em.fork().getConnection();

  /** The instance fields role-permissions.ts conditions AccessRequest on, for this caller. */
  const instanceFor = (row: ChangeRow, caller: RequestCaller, myKeys: ReadonlySet<string>) =>
    asSubject('AccessRequest', {
      requesterId: row.change.requester.kind === 'human' ? row.change.requester.id : null,
      subjectUserIds: myKeys.has(norm(row.change.subject.id)) || (row.change.subject.ownerId && myKeys.has(norm(row.change.subject.ownerId))) ? [caller.principal.id] : [],
    });

  const myKeysOf = async (caller: RequestCaller) => new Set((await deps.identities.claimsFor(caller.principal)).identityKeys.map(norm));

  return {
    async create(caller: RequestCaller, input: NewRequest): Promise<{ id: string; workflowId: string; status: string }> {
      ForbiddenError.from(caller.ability).throwUnlessCan('request', 'AccessRequest');
      const { principal } = caller;
      if (principal.kind !== 'human') throw new GatehouseError('forbidden', 'access is requested by a person, for themselves or for what they own', { details: { action: 'request', subject: 'AccessRequest' } });

      const [connector] = await sql().execute<{ id: string; name: string }[]>(
        'SELECT id::text AS id, name FROM connector_instance WHERE id::text = ? OR name = ? LIMIT 1',
        [input.connector, input.connector],
      );
      if (!connector) throw invalid('connector', `no connector named ${input.connector}`);

      let subject: AccessChangeInput['subject'];
      if (input.for === 'self') {
        if (!principal.email) throw invalid('for', 'your sign-in carries no e-mail, so Gatehouse cannot tell which directory identity is yours');
        // Only an identity the person is linked to: in a directory that names their sign-in provider, and unambiguous.
        const link = await deps.identities.linkOf(principal);
        if (!link.directoryIds.length) {
          throw invalid('for', `no directory names your sign-in provider${link.issuer ? ` (${link.issuer})` : ''} as one that vouches for its people, so Gatehouse cannot tell which identity is yours (an admin names it in the directory's signInIssuers)`);
        }
        if (link.ambiguous.length) {
          throw conflict(`${link.ambiguous.length} active identities claim your e-mail ${principal.email} (${link.ambiguous.map((i) => `${i.userName} in directory ${i.directoryId}`).join(', ')}), so Gatehouse links you to none of them until an admin resolves the duplicate`, 'for');
        }
        const mine = link.identities.filter((i) => !input.directoryId || i.directoryId === input.directoryId);
        if (!mine.length) throw invalid('for', `no active identity in ${input.directoryId ? `directory ${input.directoryId}` : 'the directories your sign-in provider vouches for'} has your e-mail ${principal.email}`);
        subject = { type: 'human', id: mine[0]!.id, directoryId: mine[0]!.directoryId, displayName: mine[0]!.displayName };
      } else {
        const nhi = await deps.identities.identity(input.for.nhi);
        if (!nhi || nhi.type !== 'nhi') throw invalid('for.nhi', `${input.for.nhi} is not a non-human identity Gatehouse knows`);
        const owners = new Set((await deps.identities.ownerKeysOf(nhi)).map(norm));
        const me = await myKeysOf(caller);
        if (![...me].some((k) => owners.has(k))) {
          throw new GatehouseError('forbidden', `you do not own the non-human identity ${nhi.displayName} (${nhi.id}), so you cannot request access for it`, { details: { action: 'request', subject: 'AccessRequest' } });
        }
        subject = { type: 'nhi', id: nhi.id, directoryId: nhi.directoryId, displayName: nhi.displayName };
      }

      const [pending] = await sql().execute<{ id: string }[]>(
        `SELECT id FROM access_change WHERE status = 'awaiting-approval' AND subject_type = ? AND subject_id = ? AND connector_id = ? AND kind = ? AND entitlement_id IS NOT DISTINCT FROM ?
          LIMIT 1`,
        [subject.type, subject.id, connector.id, input.kind, input.entitlement ?? null],
      );
      if (pending) throw conflict(`the same change is already waiting for approval as request ${pending.id}`);

      const change: AccessChangeInput = {
        id: randomUUID(),
        kind: input.kind,
        subject,
        target: {
          connectorId: connector.id,
          ...(input.entitlement ? { entitlement: { id: input.entitlement } } : {}),
          ...(input.accountName ? { accountName: input.accountName } : {}),
        },
        source: 'manual-request',
        requester: { kind: 'human', id: principal.id },
        justification: input.justification,
      };
      const workflowId = accessRequestWorkflowId(change.id);
      try {
        await deps.temporal.workflow.start(accessRequestWorkflow, {
          taskQueue: deps.taskQueue,
          workflowId,
          args: [{ change }],
          searchAttributes: { GatehouseKind: ['access-request'], GatehouseSubject: [`${subject.type}:${subject.id}`] },
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) throw conflict(`request ${change.id} already exists`);
        throw err;
      }
      // Answer with the decision when it comes quickly (it usually does); otherwise the request is being decided.
      const deadline = Date.now() + (deps.decisionWaitMs ?? 5000);
      for (;;) {
        const [row] = await sql().execute<{ status: string }[]>('SELECT status FROM access_change WHERE id = ?', [change.id]);
        if (row) return { id: change.id, workflowId, status: row.status };
        if (Date.now() >= deadline) return { id: change.id, workflowId, status: 'deciding' };
        await new Promise((r) => setTimeout(r, 100));
      }
    },

    async list(caller: RequestCaller, q: RequestQuery): Promise<{ requests: RequestView[]; nextCursor?: string }> {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', 'AccessRequest');
      const everything = holdsUnconditionally(caller.ability, 'read:AccessRequest');
      const myKeys = await myKeysOf(caller);
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, ...values: unknown[]) => {
        where.push(clause);
        params.push(...values);
      };
      if (q.status) add('a.status = ?', q.status);
      if (q.source) add('a.source = ?', q.source);
      if (q.kind) add('a.kind = ?', q.kind);
      if (q.subjectId) add('a.subject_id = ?', q.subjectId);
      if (q.requesterId) add('a.requester_id = ?', q.requesterId);
      if (q.connectorId) add('a.connector_id = ?', q.connectorId);
      if (q.entitlement) add('a.entitlement_id = ?', q.entitlement);
      if (q.from) add('a.decided_at >= ?::timestamptz', q.from);
      if (q.to) add('a.decided_at < ?::timestamptz', q.to);
      if (q.mine === 'requested') add("a.requester_kind = 'human' AND a.requester_id = ?", caller.principal.id);
      // Lists go in as one JSON parameter each: the driver would spread an array into several.
      const mine = JSON.stringify([...myKeys]);
      const IN_MINE = '(SELECT jsonb_array_elements_text(?::jsonb))';
      if (q.mine === 'about-me') add(`(lower(a.subject_id) IN ${IN_MINE} OR lower(a.change #>> '{subject,ownerId}') IN ${IN_MINE})`, mine, mine);
      // Without a reviewing role, only what the caller asked for or what changes their own access.
      if (!everything) add(`((a.requester_kind = 'human' AND a.requester_id = ?) OR lower(a.subject_id) IN ${IN_MINE} OR lower(a.change #>> '{subject,ownerId}') IN ${IN_MINE})`, caller.principal.id, mine, mine);
      if (q.cursor) {
        const [at, id] = q.cursor.split('_') as [string, string];
        add(`(${DECIDED_US}, a.id) < (?::bigint, ?::uuid)`, at, id);
      }
      const rows = await sql().execute<ChangeRow[]>(
        `SELECT ${COLUMNS} FROM ${FROM} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${DECIDED_US} DESC, a.id DESC LIMIT ?`,
        [...params, q.limit + 1],
      );
      const page = rows.slice(0, q.limit).filter((row) => caller.ability.can('read', instanceFor(row, caller, myKeys)));
      const last = rows.length > q.limit ? rows[q.limit - 1]! : undefined;
      return { requests: page.map(toView), ...(last ? { nextCursor: `${last.decided_us}_${last.id}` } : {}) };
    },

    /**
     * Withdraws a request waiting for approval: its requester or an admin closes the gate as
     * cancelled, with the reason on record, and the change is never applied. Answers once the gate
     * has closed (or, if that takes longer than a few seconds, with the request as it stands).
     */
    async withdraw(caller: RequestCaller, id: string, input: Withdrawal): Promise<RequestView> {
      const load = async () => (await sql().execute<ChangeRow[]>(`SELECT ${COLUMNS} FROM ${FROM} WHERE a.id = ?`, [id]))[0];
      const row = await load();
      const myKeys = await myKeysOf(caller);
      // Someone who may not even see the request learns nothing about it.
      if (!row || !caller.ability.can('read', instanceFor(row, caller, myKeys))) throw notFound('request', id);
      ForbiddenError.from(caller.ability).setMessage('only the person who made a request, or an admin, may withdraw it').throwUnlessCan('cancel', instanceFor(row, caller, myKeys));
      if (row.r_status !== 'pending') {
        throw conflict(row.r_status ? `request ${id} is no longer waiting for approval (it is ${row.r_status}), so there is nothing to withdraw` : `request ${id} never waited for approval (it was ${row.status}), so there is nothing to withdraw`);
      }
      const gate = deps.temporal.workflow.getHandle(approvalWorkflowId(id));
      const { decisionKeyVersions } = await gate.query(stateQuery);
      const withdrawal = { by: caller.principal.id, reason: input.reason };
      const signature = decisionKeyVersions.length ? await deps.decisions.signWithdrawal({ changeId: id, ...withdrawal }, Math.max(...decisionKeyVersions)) : undefined;
      await gate.signal(cancelSignal, { ...withdrawal, ...(signature ? { signature } : {}) });
      const deadline = Date.now() + (deps.decisionWaitMs ?? 5000);
      for (;;) {
        const now = (await load())!;
        if (now.r_status !== 'pending' || Date.now() >= deadline) return toView(now);
        await new Promise((r) => setTimeout(r, 100));
      }
    },

    async get(caller: RequestCaller, id: string): Promise<RequestView> {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', 'AccessRequest');
      const [row] = await sql().execute<ChangeRow[]>(`SELECT ${COLUMNS} FROM ${FROM} WHERE a.id = ?`, [id]);
      if (!row) throw notFound('request', id);
      ForbiddenError.from(caller.ability).throwUnlessCan('read', instanceFor(row, caller, await myKeysOf(caller)));
      return toView(row);
    },
  };
}

export type RequestService = ReturnType<typeof createRequestService>;
