// The approval inbox: what a signed-in person may decide now, and their decision, sent to the gate's
// Workflow Update. Two checks stand before the gate's own: the policy's eligibility (who the stage
// names; never the subject, the requester or someone who already decided) and the caller's CASL
// ability on this very request (STYLE.md practice 8). The gate's validator checks eligibility again
// against its own state, so a decision never enters history unless it is allowed. Every decision the
// server accepts is signed (the decision key in Vault transit) for the stage the gate is at, and the
// gate refuses any decision without that signature: approval power comes only from here.
import { ForbiddenError, subject as asSubject } from '@casl/ability';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AccessChange } from '../../policies/access-change.js';
import { checkEligibility, type ApproverClaims } from '../../policies/approval-eligibility.js';
import type { SodConflict } from '../../policies/decide.js';
import type { AdminAbility, Principal } from '../../shared/auth/permissions.js';
import { GatehouseError, conflict, notFound } from '../../shared/errors.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';
import type { ApprovalDecisionRecord, ApprovalState } from '../../workflows/approval/workflow.js';
import { openStage, sendGateDecision, type GateRecord } from './gate-decision.js';
import type { IdentityResolver } from './identity-resolver.js';
import { isoTime } from '../../shared/timestamps.js';

export interface ApprovalCaller {
  principal: Principal;
  ability: AdminAbility;
}

interface RequestRow extends GateRecord {
  change: AccessChange;
  sod_conflicts: SodConflict[];
  connector_name: string | null;
}

export interface InboxItem {
  id: string;
  change: AccessChange;
  subject: { type: string; id: string; displayName?: string };
  connector: { id: string; name?: string };
  entitlement?: string;
  requester: AccessChange['requester'];
  justification?: string;
  reasons: string[];
  sodConflicts: SodConflict[];
  policy: { name: string; versionHash: string };
  stage: { index: number; name: string; quorum: number; approvals: number; escalated: boolean; deadlineAt: string; of: number };
  stages: { name: string; quorum: number }[];
  decisions: (ApprovalDecisionRecord & { at?: string })[];
  /** How the caller is eligible, e.g. "role security-approver". */
  eligibleAs: string;
  createdAt: string;
}

const REQUEST_COLUMNS = `r.id, r.status, r.change, r.policy_name, r.policy_version_hash, r.reasons, r.sod_conflicts, r.stages, r.participants,
  r.current_stage_index, r.stage_started_at, r.escalated, r.decisions, r.created_at, c.name AS connector_name`;

const norm = (k: string) => k.trim().toLowerCase();
const overlaps = (a: readonly string[], b: readonly string[]) => {
  const set = new Set(a.map(norm));
  return b.some((k) => set.has(norm(k)));
};

/** How many pending requests the inbox looks at per call (oldest first). */
const INBOX_SCAN = 1000;

export function createApprovalService(deps: { orm: MikroORM; temporal: Client; identities: Pick<IdentityResolver, 'claimsFor'>; decisions: Pick<DecisionSigner, 'sign'> }) {
  const sql = () => deps.orm.em.fork().getConnection();

  /**
   * Whether this caller may decide this request now: eligible under the policy, and allowed by
   * their ability on this instance (the fields role-permissions.ts conditions on).
   */
  function assess(row: RequestRow, caller: ApprovalCaller, claims: ApproverClaims): { allowed: true; as: string } | { allowed: false; reason: string } {
    const open = openStage(row);
    if (row.status !== 'pending' || !open) return { allowed: false, reason: `this request is ${row.status}` };
    const eligibility = checkEligibility({
      stageName: open.stage.name,
      approvers: open.approvers,
      participants: row.participants,
      decidedBy: row.decisions.map((d) => d.userId),
      approver: claims,
    });
    const instance = {
      eligibleApproverIds: eligibility.eligible ? [caller.principal.id] : [],
      requesterId: row.change.requester.kind === 'human' ? row.change.requester.id : null,
      subjectUserIds: overlaps(claims.identityKeys, row.participants.subjectKeys) ? [caller.principal.id] : [],
    };
    if (!eligibility.eligible) return { allowed: false, reason: eligibility.reason };
    const refusal = ForbiddenError.from(caller.ability).unlessCan('decide', asSubject('ApprovalRequest', instance));
    if (refusal) return { allowed: false, reason: refusal.message };
    return { allowed: true, as: eligibility.as };
  }

  const toItem = (row: RequestRow, as: string): InboxItem => {
    const open = openStage(row)!;
    const c = row.change;
    return {
      id: row.id,
      change: c,
      subject: { type: c.subject.type, id: c.subject.id, ...(c.subject.displayName ? { displayName: c.subject.displayName } : {}) },
      connector: { id: c.target.connectorId, ...((row.connector_name ?? c.target.connectorName) ? { name: (row.connector_name ?? c.target.connectorName)! } : {}) },
      ...(c.target.entitlement ? { entitlement: c.target.entitlement.id } : {}),
      requester: c.requester,
      ...(c.justification ? { justification: c.justification } : {}),
      reasons: row.reasons,
      sodConflicts: row.sod_conflicts,
      policy: { name: row.policy_name, versionHash: row.policy_version_hash },
      stage: open.view,
      stages: row.stages.map((s) => ({ name: s.name, quorum: s.quorum })),
      decisions: row.decisions,
      eligibleAs: as,
      createdAt: isoTime(row.created_at),
    };
  };

  async function load(id: string): Promise<RequestRow | undefined> {
    const [row] = await sql().execute<RequestRow[]>(
      `SELECT ${REQUEST_COLUMNS} FROM access_request r LEFT JOIN connector_instance c ON c.id::text = r.connector_id WHERE r.id = ?`,
      [id],
    );
    return row;
  }

  return {
    /** Every pending request the caller may decide now, oldest first. */
    async inbox(caller: ApprovalCaller): Promise<InboxItem[]> {
      ForbiddenError.from(caller.ability).throwUnlessCan('decide', 'ApprovalRequest');
      if (caller.principal.kind !== 'human') return [];
      const claims = await deps.identities.claimsFor(caller.principal);
      const rows = await sql().execute<RequestRow[]>(
        `SELECT ${REQUEST_COLUMNS} FROM access_request r LEFT JOIN connector_instance c ON c.id::text = r.connector_id
          WHERE r.status = 'pending' ORDER BY r.created_at, r.id LIMIT ${INBOX_SCAN}`,
      );
      const items: InboxItem[] = [];
      for (const row of rows) {
        const verdict = assess(row, caller, claims);
        if (verdict.allowed) items.push(toItem(row, verdict.as));
      }
      return items;
    },

    /** Approves or denies the open stage of one request, as the caller. */
    async decide(caller: ApprovalCaller, id: string, input: { verdict: 'approve' | 'deny'; reason: string }): Promise<ApprovalState> {
      ForbiddenError.from(caller.ability).throwUnlessCan('decide', 'ApprovalRequest');
      const row = await load(id);
      if (!row) throw notFound('approval request', id);
      if (row.status !== 'pending') throw conflict(`approval request ${id} is already ${row.status}`);
      const claims = await deps.identities.claimsFor(caller.principal);
      const verdict = assess(row, caller, claims);
      if (!verdict.allowed) throw new GatehouseError('forbidden', `you may not decide approval request ${id}: ${verdict.reason}`, { details: { action: 'decide', subject: 'ApprovalRequest' } });
      return sendGateDecision(deps, {
        id,
        stageIndex: row.current_stage_index,
        stageName: row.stages[row.current_stage_index]!.name,
        approver: claims,
        verdict: input.verdict,
        reason: input.reason,
        what: 'approval request',
      });
    },
  };
}

export type ApprovalService = ReturnType<typeof createApprovalService>;
