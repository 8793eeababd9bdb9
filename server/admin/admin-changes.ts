// Admin changes that wait for approval (issue 12, item 8): one admin alone does not change what
// everyone may do. When the policy in force says an admin change needs approval (publishing access
// policy needs a second admin by default), the change is stored as proposed, recorded in the ledger,
// and sent through the same approval gate as access changes: the same stages, eligibility (never the
// proposer), signed decisions and records. It takes effect in the transaction that records the gate's
// approved outcome, and only after the approvals on the ledger verify again (change-authority.ts), so
// nothing is applied twice or without its approvals.
import { createHash, randomUUID } from 'node:crypto';
import { ForbiddenError, subject as asSubject } from '@casl/ability';
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Actor, Ledger, LedgerAppender, LedgerEntry } from '../../audit/index.js';
import { actorOfPrincipal } from '../../audit/ledger-routes.js';
import { checkEligibility, type ApproverClaims, type GateParticipants } from '../../policies/approval-eligibility.js';
import type { DecisionStage } from '../../policies/decide.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';
import { publishInTransaction, type AdminChangeProposals, type AdminChangeView, type PolicyCaller, type PublishPayload } from '../../policies/policy-service.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { GatehouseError, conflict, dependencyUnavailable, invalid, notFound } from '../../shared/errors.js';
import { abilityOf, principalOf } from '../../shared/http/request-auth.js';
import type { Govern } from '../http/mount-routes.js';
import { adminRequirement, type AdminRequirement } from '../../policies/admin-rules.js';
import type { AdminAction } from '../../policies/policy-document.js';
import type { PolicyStore } from '../../policies/policy-store.js';
import { isoTime } from '../../shared/timestamps.js';
import type { GateEvent, GateEventKind } from '../../workflows/approval/activities.js';
import { approvalWorkflowId, type ApprovalDecisionRecord, type ApprovalState } from '../../workflows/approval/workflow.js';
import { checkAuthority, holdsApprovals, type AuthorityActions, type RecordedStage } from '../../workflows/change/change-authority.js';
import { ledgerEntriesOfChange } from '../../workflows/change/access-change-record.js';
import { openStage, sendGateDecision, type GateRecord } from '../access/gate-decision.js';
import type { IdentityResolver } from '../access/identity-resolver.js';

export const ADMIN_LEDGER_ACTIONS = {
  proposed: 'admin.change.proposed',
  stageStarted: 'admin.change.stage_started',
  approved: 'admin.change.approved',
  denied: 'admin.change.denied',
  escalated: 'admin.change.escalated',
  expired: 'admin.change.expired',
  cancelled: 'admin.change.cancelled',
  closed: 'admin.change.closed',
  applied: 'admin.change.applied',
  failed: 'admin.change.failed',
  refused: 'admin.change.refused',
} as const;

/** What the authority check reads for an admin change: the proposal stands where an access change's decision does. */
const AUTHORITY_ACTIONS: AuthorityActions = {
  decided: ADMIN_LEDGER_ACTIONS.proposed,
  approved: ADMIN_LEDGER_ACTIONS.approved,
  denied: ADMIN_LEDGER_ACTIONS.denied,
  expired: ADMIN_LEDGER_ACTIONS.expired,
  requestClosed: ADMIN_LEDGER_ACTIONS.closed,
};

const GATE_ACTION: Record<GateEventKind, string> = {
  opened: 'admin.change.gate_opened',
  'stage-started': ADMIN_LEDGER_ACTIONS.stageStarted,
  approved: ADMIN_LEDGER_ACTIONS.approved,
  denied: ADMIN_LEDGER_ACTIONS.denied,
  escalated: ADMIN_LEDGER_ACTIONS.escalated,
  expired: ADMIN_LEDGER_ACTIONS.expired,
  'passed-by-expiry': ADMIN_LEDGER_ACTIONS.approved,
  cancelled: ADMIN_LEDGER_ACTIONS.cancelled,
  closed: ADMIN_LEDGER_ACTIONS.closed,
};

export const ADMIN_CHANGE_STATUSES = ['pending', 'approved', 'applied', 'denied', 'expired', 'cancelled', 'failed'] as const;
export type AdminChangeStatus = (typeof ADMIN_CHANGE_STATUSES)[number];

/** An admin change that is an API call: made by its proposer once approved, exactly as proposed. */
export interface CallPayload {
  method: string;
  /** The request path, with its parameters filled in. */
  path: string;
  /** The validated body; for a call that carries secrets, without their values (the route's governedView). */
  body: unknown;
}

/** The admin changes Gatehouse stores, and the policy key that governs each. */
export const CHANGE_ACTIONS = {
  'publish-policy': 'publishPolicy',
  'create-api-token': 'createApiTokens',
  'create-scim-token': 'createScimTokens',
  'change-connector': 'changeConnectors',
} as const satisfies Record<string, AdminAction>;
export type ChangeAction = keyof typeof CHANGE_ACTIONS;
const actionOf = (key: AdminAction): ChangeAction | undefined => (Object.keys(CHANGE_ACTIONS) as ChangeAction[]).find((a) => CHANGE_ACTIONS[a] === key);

/** How long an approved call may wait for its proposer to make it; after that it expires, on record. */
export const APPROVED_CALL_TTL_MS = 7 * 86_400_000;

/** The header a proposer sends, with the admin change's id, to make an approved call. */
export const ADMIN_CHANGE_HEADER = 'gatehouse-admin-change';

interface AdminChangeRow extends GateRecord {
  action: ChangeAction;
  status: AdminChangeStatus;
  payload: PublishPayload | CallPayload;
  payload_hash: string;
  summary: string;
  proposed_by_kind: string;
  proposed_by_id: string;
  proposed_by_name: string | null;
  closing_reason: string | null;
  result: Record<string, unknown> | null;
  closed_at: Date | string | null;
}

/** An admin change with how it stands: its stage, decisions and outcome. */
export interface AdminChangeDetail extends AdminChangeView {
  stage?: NonNullable<ReturnType<typeof openStage>>['view'];
  decisions: (ApprovalDecisionRecord & { at?: string })[];
  closingReason?: string;
  result?: Record<string, unknown>;
  closedAt?: string;
  /** Whether the caller may decide its open stage now, and how (or why not). */
  youMayDecide?: { allowed: true; as: string } | { allowed: false; reason: string };
}

/** How many pending admin changes the inbox looks at per call (oldest first). */
const INBOX_SCAN = 1000;

const COLUMNS = `id, action, status, payload, payload_hash, summary, proposed_by_kind, proposed_by_id, proposed_by_name, policy_name, policy_version_hash,
  reasons, stages, participants, current_stage_index, stage_started_at, escalated, decisions, closing_reason, result, created_at, closed_at`;

const payloadHash = (payload: PublishPayload | CallPayload) => createHash('sha256').update(canonicalJson(payload)).digest('hex');

const recordedStages = (stages: DecisionStage[]): RecordedStage[] => stages.map((s, index) => ({ index, name: s.name, quorum: s.quorum, onExpiry: s.onExpiry }));

function proposerActor(row: AdminChangeRow): Actor {
  const kind = row.proposed_by_kind === 'nhi' || row.proposed_by_kind === 'system' ? row.proposed_by_kind : 'human';
  return { kind, id: row.proposed_by_id, ...(row.proposed_by_name ? { display: row.proposed_by_name } : {}) };
}

function toView(row: AdminChangeRow): AdminChangeView {
  return {
    id: row.id,
    action: row.action,
    status: row.status,
    summary: row.summary,
    reasons: row.reasons,
    stages: row.stages.map((s) => ({ name: s.name, quorum: s.quorum })),
    policy: { name: row.policy_name, versionHash: row.policy_version_hash },
    proposedBy: { kind: row.proposed_by_kind, id: row.proposed_by_id, ...(row.proposed_by_name ? { name: row.proposed_by_name } : {}) },
    createdAt: isoTime(row.created_at),
  };
}

/** The server's side: propose, read, and decide admin changes. */
export function createAdminChanges(deps: {
  orm: MikroORM;
  ledger: LedgerAppender & Pick<Ledger, 'query'>;
  policies: Pick<PolicyStore, 'inForce'>;
  temporal: { client: Client; taskQueue: string };
  identities: Pick<IdentityResolver, 'claimsFor'>;
  decisions: Pick<DecisionSigner, 'sign' | 'keys'>;
}) {
  const sql = () => deps.orm.em.fork().getConnection();

  async function load(id: string): Promise<AdminChangeRow | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const [row] = await sql().execute<AdminChangeRow[]>(`SELECT ${COLUMNS} FROM admin_change WHERE id = ?`, [id]);
    return row;
  }

  /** Whether this caller may decide the open stage now: eligible under the stage, never the proposer, and allowed by their ability. */
  function assess(row: AdminChangeRow, caller: PolicyCaller, claims: ApproverClaims): { allowed: true; as: string } | { allowed: false; reason: string } {
    const open = openStage(row);
    if (!open) return { allowed: false, reason: `this admin change is ${row.status}` };
    const eligibility = checkEligibility({ stageName: open.stage.name, approvers: open.approvers, participants: row.participants, decidedBy: row.decisions.map((d) => d.userId), approver: claims });
    if (!eligibility.eligible) return { allowed: false, reason: eligibility.reason === 'you requested this change, so someone else must decide it' ? 'you proposed this admin change, so someone else must approve it' : eligibility.reason };
    const instance = { eligibleApproverIds: [caller.principal.id], requesterId: row.proposed_by_kind === 'human' ? row.proposed_by_id : null, subjectUserIds: [] };
    const refusal = ForbiddenError.from(caller.ability).unlessCan('decide', asSubject('ApprovalRequest', instance));
    if (refusal) return { allowed: false, reason: refusal.message };
    return { allowed: true, as: eligibility.as };
  }

  function detail(row: AdminChangeRow, mayDecide?: AdminChangeDetail['youMayDecide']): AdminChangeDetail {
    const open = openStage(row);
    return {
      ...toView(row),
      ...(open ? { stage: open.view } : {}),
      decisions: row.decisions,
      ...(row.closing_reason ? { closingReason: row.closing_reason } : {}),
      ...(row.result ? { result: row.result } : {}),
      ...(row.closed_at ? { closedAt: isoTime(row.closed_at) } : {}),
      ...(mayDecide ? { youMayDecide: mayDecide } : {}),
    };
  }

  /** Stores the proposal, records it, and opens its approval gate. */
  async function propose(input: { caller: PolicyCaller; action: ChangeAction; payload: PublishPayload | CallPayload; summary: string; requirement: AdminRequirement; policy: { name: string; versionHash: string }; target: { type: string; id: string } }): Promise<AdminChangeView> {
    const { caller, payload, summary, requirement, policy } = input;
    const id = randomUUID();
    const workflowId = approvalWorkflowId(id);
    const claims = await deps.identities.claimsFor(caller.principal);
    // Nobody approves what they proposed: every key that denotes the proposer is excluded.
    const participants: GateParticipants = { subjectKeys: [], requesterKeys: [...new Set([caller.principal.id, ...claims.identityKeys])], managerKeys: [], entitlementOwnerKeys: [] };
    const actor = actorOfPrincipal(caller.principal);
    const hash = payloadHash(payload);
    const reasons = [requirement.reason];
    const now = new Date();
    const row = await deps.orm.em.fork().transactional(async (em) => {
      const conn = em.getConnection();
      const [inserted] = await conn.execute<AdminChangeRow[]>(
        `INSERT INTO admin_change (id, action, status, payload, payload_hash, summary, proposed_by_kind, proposed_by_id, proposed_by_name, policy_name, policy_version_hash,
           reasons, stages, participants, workflow_id, current_stage_index, current_stage, stage_started_at, created_at, updated_at)
         VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
        [id, input.action, JSON.stringify(payload), hash, summary, actor.kind, actor.id, actor.display ?? null, policy.name, policy.versionHash, JSON.stringify(reasons), JSON.stringify(requirement.stages), JSON.stringify(participants), workflowId, requirement.stages[0]?.name ?? null, now, now, now],
        'all',
        em.getTransactionContext(),
      );
      await deps.ledger.append(
        {
          action: ADMIN_LEDGER_ACTIONS.proposed,
          actor,
          subject: { type: 'adminChange', id },
          target: input.target,
          details: {
            action: input.action,
            summary,
            // What the apply step checks the approvals against, from the ledger alone.
            changeHash: hash,
            effect: 'require-approval',
            rule: requirement.rule,
            reasons,
            stages: recordedStages(requirement.stages),
            exclusions: { subjectKeys: [], requesterKeys: participants.requesterKeys },
            ...('note' in payload && payload.note ? { note: payload.note } : {}),
          },
          correlation: { workflowId, requestId: id, changeId: id },
          policy: { id: policy.name, versionHash: policy.versionHash },
        },
        { em },
      );
      return inserted!;
    });
    try {
      await deps.temporal.client.workflow.start('approvalWorkflow', {
        taskQueue: deps.temporal.taskQueue,
        workflowId,
        args: [{ change: { id }, gate: 'admin-change', policy, reasons, sodConflicts: [], stages: requirement.stages, participants }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        searchAttributes: { GatehouseKind: ['approval'], GatehouseSubject: [`admin-change:${id}`] },
      });
    } catch (err) {
      const reason = `the approval gate could not be opened: ${(err as Error).message.split('\n')[0]}`;
      await deps.orm.em.fork().transactional(async (em) => {
        await em.getConnection().execute("UPDATE admin_change SET status = 'failed', closing_reason = ?, closed_at = now(), updated_at = now() WHERE id = ?", [reason, id], 'run', em.getTransactionContext());
        await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.failed, actor: { kind: 'system', id: 'gatehouse' }, subject: { type: 'adminChange', id }, details: { reason }, correlation: { requestId: id, changeId: id } }, { em });
      });
      throw dependencyUnavailable('Temporal', `${reason}; nothing was changed, propose it again`, err);
    }
    return toView(row);
  }

  const proposals: AdminChangeProposals = {
    proposePublication: ({ caller, payload, summary, requirement, policy }) =>
      propose({ caller, action: 'publish-policy', payload, summary, requirement, policy, target: { type: 'policy', id: policy.name } }),
  };

  /** Makes an approved call, once, for its proposer: the very call approved, verified again from the ledger. */
  async function claimApprovedCall(caller: PolicyCaller, id: string, action: ChangeAction, call: CallPayload): Promise<(error?: unknown) => Promise<void>> {
    const row = await load(id);
    if (!row) throw notFound('admin change', id);
    if (row.action !== action) throw invalid(ADMIN_CHANGE_HEADER, `admin change ${id} is a ${row.action}, not a ${action}`);
    const proposer = actorOfPrincipal(caller.principal);
    if (row.proposed_by_id !== proposer.id || row.proposed_by_kind !== proposer.kind) throw new GatehouseError('forbidden', `admin change ${id} was proposed by someone else; only its proposer makes the approved call`, { field: ADMIN_CHANGE_HEADER });
    if (row.status !== 'approved') throw conflict(`admin change ${id} is ${row.status}${row.status === 'applied' ? ': its call was already made' : ', not approved'}`, ADMIN_CHANGE_HEADER);
    const approvedAt = new Date(row.closed_at ?? 0);
    if (Date.now() - approvedAt.getTime() > APPROVED_CALL_TTL_MS) {
      const reason = `its approval of ${approvedAt.toISOString()} was not used within ${APPROVED_CALL_TTL_MS / 86_400_000} days`;
      await deps.orm.em.fork().transactional(async (em) => {
        const [hit] = await em.getConnection().execute<{ id: string }[]>("UPDATE admin_change SET status = 'expired', closing_reason = ?, updated_at = now() WHERE id = ? AND status = 'approved' RETURNING id", [reason, id], 'all', em.getTransactionContext());
        if (hit) await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.expired, actor: { kind: 'system', id: 'gatehouse' }, subject: { type: 'adminChange', id }, details: { reason, unusedApproval: true }, correlation: { requestId: id, changeId: id } }, { em });
      });
      throw conflict(`admin change ${id} expired: ${reason}; propose it again`, ADMIN_CHANGE_HEADER);
    }
    if (payloadHash(call) !== row.payload_hash) throw conflict(`this call is not the one approved in admin change ${id} (${row.summary}); send exactly that call, or propose this one`, ADMIN_CHANGE_HEADER);
    const entries = await ledgerEntriesOfChange(deps.ledger, id);
    const authority = checkAuthority(entries, { id, hash: row.payload_hash }, holdsApprovals(entries, AUTHORITY_ACTIONS) ? await deps.decisions.keys() : [], AUTHORITY_ACTIONS);
    if (!authority.allowed) throw new GatehouseError('forbidden', `admin change ${id} cannot be made: ${authority.reason}`, { field: ADMIN_CHANGE_HEADER });
    const actor = proposer;
    // Claimed in one statement, so two calls at once make it once.
    const claimed = await deps.orm.em.fork().transactional(async (em) => {
      const [hit] = await em.getConnection().execute<{ id: string }[]>("UPDATE admin_change SET status = 'applied', closed_at = now(), updated_at = now() WHERE id = ? AND status = 'approved' RETURNING id", [id], 'all', em.getTransactionContext());
      if (!hit) return false;
      await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.applied, actor, subject: { type: 'adminChange', id }, details: { action, call: `${call.method} ${call.path}` }, correlation: { requestId: id, changeId: id } }, { em });
      return true;
    });
    if (!claimed) throw conflict(`admin change ${id} was just made by another call`, ADMIN_CHANGE_HEADER);
    return async (error?: unknown) => {
      if (error === undefined) return;
      // The call failed: the approval stands, and the proposer may send it again.
      const reason = error instanceof Error ? error.message : String(error);
      await deps.orm.em.fork().transactional(async (em) => {
        await em.getConnection().execute("UPDATE admin_change SET status = 'approved', closed_at = NULL, updated_at = now() WHERE id = ? AND status = 'applied'", [id], 'run', em.getTransactionContext());
        await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.failed, actor, subject: { type: 'adminChange', id }, details: { action, reason: reason.slice(0, 1000), approvalStands: true }, correlation: { requestId: id, changeId: id } }, { em });
      });
    };
  }

  /**
   * The server's hook for routes that are admin changes: made at once when the policy in force allows
   * it (or none is in force yet), held as a proposal (202) when it needs approval, and made once
   * approved when its proposer sends the same call naming the admin change.
   */
  const govern: Govern = async (req, route) => {
    const key = route.governedAs as AdminAction;
    const action = actionOf(key);
    if (!action) throw new Error(`${route.method.toUpperCase()} ${route.path} names an unknown admin change ${route.governedAs}`);
    const caller = { principal: principalOf(req), ability: abilityOf(req) };
    const call: CallPayload = { method: req.method, path: req.path, body: (route.governedView ? await route.governedView(req) : req.body) ?? null };
    const named = req.get(ADMIN_CHANGE_HEADER);
    if (named !== undefined) {
      if (!/^[0-9a-f-]{36}$/i.test(named)) throw invalid(ADMIN_CHANGE_HEADER, 'must be an admin change id (a UUID)');
      return { proceed: true, finished: await claimApprovedCall(caller, named, action, call) };
    }
    const inForce = await deps.policies.inForce();
    if (!inForce) return { proceed: true };
    const requirement = adminRequirement(inForce.version.document, key);
    if (requirement.effect === 'allow') return { proceed: true };
    const view = await propose({
      caller,
      action,
      payload: call,
      summary: `${route.summary.replace(/[;:].*$/, '')}: ${call.method} ${call.path}`,
      requirement,
      policy: { name: inForce.name, versionHash: inForce.versionHash },
      target: { type: 'api', id: `${call.method} ${route.path}` },
    });
    return {
      proceed: false,
      status: 202,
      body: { awaitingApproval: view, next: `once approved, send this same call again with the header ${ADMIN_CHANGE_HEADER}: ${view.id}` },
    };
  };

  return {
    proposals,
    govern,

    /** Admin changes, newest first: for whoever may read what they change. */
    async list(caller: PolicyCaller, options: { status?: AdminChangeStatus; limit: number }): Promise<AdminChangeDetail[]> {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', asSubject('Policy', {}));
      const rows = await sql().execute<AdminChangeRow[]>(
        `SELECT ${COLUMNS} FROM admin_change ${options.status ? 'WHERE status = ?' : ''} ORDER BY created_at DESC, id LIMIT ${options.limit}`,
        options.status ? [options.status] : [],
      );
      const claims = caller.principal.kind === 'human' ? await deps.identities.claimsFor(caller.principal) : undefined;
      return rows.map((row) => detail(row, claims && row.status === 'pending' ? assess(row, caller, claims) : undefined));
    },

    /** The pending admin changes the caller may decide now, oldest first. */
    async inbox(caller: PolicyCaller): Promise<AdminChangeDetail[]> {
      ForbiddenError.from(caller.ability).throwUnlessCan('decide', 'ApprovalRequest');
      if (caller.principal.kind !== 'human') return [];
      const claims = await deps.identities.claimsFor(caller.principal);
      const rows = await sql().execute<AdminChangeRow[]>(`SELECT ${COLUMNS} FROM admin_change WHERE status = 'pending' ORDER BY created_at, id LIMIT ${INBOX_SCAN}`);
      return rows.flatMap((row) => {
        const verdict = assess(row, caller, claims);
        return verdict.allowed ? [detail(row, verdict)] : [];
      });
    },

    async get(caller: PolicyCaller, id: string): Promise<AdminChangeDetail> {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', asSubject('Policy', {}));
      const row = await load(id);
      if (!row) throw notFound('admin change', id);
      const claims = caller.principal.kind === 'human' && row.status === 'pending' ? await deps.identities.claimsFor(caller.principal) : undefined;
      return detail(row, claims ? assess(row, caller, claims) : undefined);
    },

    /** Approves or denies the open stage of an admin change, as the caller. */
    async decide(caller: PolicyCaller, id: string, input: { verdict: 'approve' | 'deny'; reason: string }): Promise<ApprovalState> {
      ForbiddenError.from(caller.ability).throwUnlessCan('decide', 'ApprovalRequest');
      const row = await load(id);
      if (!row) throw notFound('admin change', id);
      if (row.status !== 'pending') throw conflict(`admin change ${id} is already ${row.status}`);
      if (caller.principal.kind !== 'human') throw new GatehouseError('forbidden', `you may not decide admin change ${id}: approvals come from people, not tokens`, { details: { action: 'decide', subject: 'ApprovalRequest' } });
      const claims = await deps.identities.claimsFor(caller.principal);
      const verdict = assess(row, caller, claims);
      if (!verdict.allowed) throw new GatehouseError('forbidden', `you may not decide admin change ${id}: ${verdict.reason}`, { details: { action: 'decide', subject: 'ApprovalRequest' } });
      return sendGateDecision({ temporal: deps.temporal.client, decisions: deps.decisions }, { id, stageIndex: row.current_stage_index, stageName: row.stages[row.current_stage_index]!.name, approver: claims, verdict: input.verdict, reason: input.reason, what: 'admin change' });
    },
  };
}

export type AdminChanges = ReturnType<typeof createAdminChanges>;

const STATUS_AFTER: Record<string, AdminChangeStatus> = { denied: 'denied', expired: 'expired', cancelled: 'cancelled' };

/**
 * The worker's side: each gate event of an admin change is written to its record and the ledger in
 * one transaction, exactly once; the approved outcome applies the change in that same transaction.
 */
export function createAdminGateRecorder(deps: { orm: MikroORM; ledger: LedgerAppender & Pick<Ledger, 'query'>; decisions: Pick<DecisionSigner, 'keys'> }) {
  async function apply(em: EntityManager, row: AdminChangeRow, closed: LedgerEntry, event: GateEvent): Promise<{ status: AdminChangeStatus; reason: string; result?: Record<string, unknown> }> {
    // The approvals are verified again from the ledger (the entry just appended is not committed yet).
    const entries = [...(await ledgerEntriesOfChange(deps.ledger, row.id)), closed];
    const authority = checkAuthority(entries, { id: row.id, hash: row.payload_hash }, holdsApprovals(entries, AUTHORITY_ACTIONS) ? await deps.decisions.keys() : [], AUTHORITY_ACTIONS);
    const correlation = { workflowId: event.workflowId, runId: event.runId, requestId: row.id, changeId: row.id };
    if (!authority.allowed) {
      await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.refused, actor: { kind: 'workflow', id: event.workflowId }, subject: { type: 'adminChange', id: row.id }, details: { reason: authority.reason }, correlation }, { em });
      return { status: 'failed', reason: `refused: ${authority.reason}` };
    }
    const approvedBy = row.decisions.filter((d) => d.verdict === 'approve').map((d) => ({ userId: d.userId, ...(d.displayName ? { name: d.displayName } : {}), stage: d.stage }));
    const payload = row.payload as PublishPayload;
    try {
      const published = await publishInTransaction(em, deps.ledger, {
        text: payload.document,
        note: payload.note,
        replaces: payload.replaces,
        governedBy: row.policy_version_hash,
        actor: proposerActor(row),
        authority: { adminChange: row.id, approvedBy, authority: row.reasons[0] },
      });
      if (!('publication' in published)) throw new Error('an approved publication cannot wait for approval again');
      const result = { publication: published.publication, published: published.published };
      await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.applied, actor: { kind: 'workflow', id: event.workflowId }, subject: { type: 'adminChange', id: row.id }, target: { type: 'policy', id: published.publication.name }, details: { action: row.action, versionHash: published.publication.versionHash, published: published.published }, correlation }, { em });
      return { status: 'applied', reason: published.published ? `approved and published (publication ${published.publication.seq})` : 'approved; this version was already in force, so nothing changed', result };
    } catch (err) {
      // A refusal of the publication itself (another version was published since it was proposed)
      // writes nothing before it is thrown; it closes the admin change as failed, on record.
      if (!(err instanceof GatehouseError)) throw err;
      await deps.ledger.append({ action: ADMIN_LEDGER_ACTIONS.failed, actor: { kind: 'workflow', id: event.workflowId }, subject: { type: 'adminChange', id: row.id }, details: { reason: err.message }, correlation }, { em });
      return { status: 'failed', reason: `approved, but not applied: ${err.message}` };
    }
  }

  return {
    async recordGateEvent(event: GateEvent): Promise<{ recorded: boolean }> {
      return deps.orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const now = new Date();
        const run = (text: string, params: unknown[]) => conn.execute(text, params, 'run', ctx);
        const inserted = await conn.execute<{ seq: number }[]>(
          `INSERT INTO admin_change_event (change_id, seq, kind, stage, actor_id, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (change_id, seq) DO NOTHING RETURNING seq`,
          [event.requestId, event.seq, event.kind, event.stage ?? null, event.actorId ?? null, event.reason ?? null, now],
          'all',
          ctx,
        );
        if (!inserted.length) return { recorded: false }; // a retry of an event already on record
        const [row] = await conn.execute<AdminChangeRow[]>(`SELECT ${COLUMNS} FROM admin_change WHERE id = ? FOR UPDATE`, [event.requestId], 'all', ctx);
        if (!row) throw new Error(`approval gate ${event.workflowId}: admin change ${event.requestId} was never proposed`);

        switch (event.kind) {
          case 'stage-started':
            await run('UPDATE admin_change SET current_stage_index = ?, current_stage = ?, stage_started_at = ?, escalated = false, updated_at = ? WHERE id = ?', [event.stageIndex, event.stage ?? null, now, now, row.id]);
            break;
          case 'escalated':
            await run('UPDATE admin_change SET escalated = true, updated_at = ? WHERE id = ?', [now, row.id]);
            break;
          case 'approved':
          case 'denied': {
            const decision = { stageIndex: event.stageIndex, stage: event.stage, userId: event.actorId, ...(event.actorName ? { displayName: event.actorName } : {}), verdict: event.kind === 'approved' ? 'approve' : 'deny', reason: event.reason, at: now.toISOString(), as: event.detail?.as };
            await run('UPDATE admin_change SET decisions = decisions || ?::jsonb, updated_at = ? WHERE id = ?', [JSON.stringify([decision]), now, row.id]);
            row.decisions = [...row.decisions, decision as ApprovalDecisionRecord];
            break;
          }
          default:
            break;
        }

        const human = (event.kind === 'approved' || event.kind === 'denied' || event.kind === 'cancelled') && event.actorId;
        const entry = await deps.ledger.append(
          {
            action: GATE_ACTION[event.kind],
            actor: human ? { kind: 'human', id: event.actorId!, ...(event.actorName ? { display: event.actorName.slice(0, 256) } : {}) } : { kind: 'workflow', id: event.workflowId },
            subject: { type: 'adminChange', id: row.id },
            details: {
              gateEvent: event.kind,
              action: row.action,
              stageIndex: event.stageIndex,
              ...(event.stage ? { stage: event.stage } : {}),
              ...(event.reason ? { reason: event.reason } : {}),
              ...(event.kind === 'passed-by-expiry' ? { byExpiry: true } : {}),
              ...(event.kind === 'opened' ? {} : (event.detail ?? {})),
            },
            correlation: { workflowId: event.workflowId, runId: event.runId, requestId: row.id, changeId: row.id },
            policy: { id: event.policy.name, versionHash: event.policy.versionHash },
          },
          { em },
        );

        if (event.kind === 'closed') {
          const gateStatus = String(event.detail?.status);
          const outcome =
            gateStatus !== 'approved'
              ? { status: STATUS_AFTER[gateStatus] ?? 'cancelled', reason: event.reason ?? gateStatus }
              : row.action === 'publish-policy'
                ? await apply(em, row, entry, event)
                : { status: 'approved' as const, reason: `approved: its proposer now sends the same call with the header ${ADMIN_CHANGE_HEADER}: ${row.id}` };
          await run('UPDATE admin_change SET status = ?, closing_reason = ?, result = ?, closed_at = ?, updated_at = ? WHERE id = ?', [
            outcome.status,
            outcome.reason,
            'result' in outcome && outcome.result ? JSON.stringify(outcome.result) : null,
            now,
            now,
            row.id,
          ]);
        }
        return { recorded: true };
      });
    },
  };
}
