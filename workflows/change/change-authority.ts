// Promise 1, checked from the ledger before anything reaches a target: the ledger must hold an allow
// decision for exactly this change (its id and content hash, the policy and its version hash) and,
// when that decision required approval, every stage's approvals from distinct people and the gate's
// approved outcome under the same policy version. Each person's approval must carry Gatehouse's
// signature over exactly what the ledger says they decided (issue 12, item 6), and no approver may be
// the subject or the requester (promise 6, checked again here from the decision's own record).
// Pure: the apply activity passes the entries and the decision key's public versions.
import type { LedgerEntry } from '../../audit/index.js';
import { verifyDecision, type DecisionKey, type DecisionSignature } from '../../policies/decision-signature.js';

/** A stage as the decision entry records it. */
export interface RecordedStage {
  index: number;
  name: string;
  quorum: number;
  onExpiry: 'deny' | 'allow';
}

export const LEDGER_ACTIONS = {
  decided: 'access.change.decided',
  approved: 'access.change.approved',
  denied: 'access.change.denied',
  escalated: 'access.change.escalated',
  expired: 'access.change.expired',
  applied: 'access.change.applied',
  failed: 'access.change.failed',
  refused: 'access.change.refused',
  compensated: 'access.change.compensated',
  compensationFailed: 'access.change.compensation_failed',
  requestOpened: 'access.request.opened',
  requestStageStarted: 'access.request.stage_started',
  requestCancelled: 'access.request.cancelled',
  requestClosed: 'access.request.closed',
} as const;

/** The ledger actions an authority check reads: an access change's, or an admin change's (server/admin). */
export interface AuthorityActions {
  decided: string;
  approved: string;
  denied: string;
  expired: string;
  requestClosed: string;
}

export type Authority =
  | { allowed: true; policy: { id: string; versionHash: string }; effect: 'allow' | 'require-approval'; decidedSeq: number }
  | { allowed: false; reason: string };

const refuse = (reason: string): Authority => ({ allowed: false, reason });

/** Who may not approve, as the decision recorded them: the subject's keys and the requester's. */
export interface RecordedExclusions {
  subjectKeys: string[];
  requesterKeys: string[];
}

/** What a person's approval records so that it can be verified from the ledger alone. */
interface RecordedApproval {
  stageIndex?: number;
  stage?: string;
  reason?: string;
  approverKeys?: string[];
  claimsDigest?: string;
  signature?: DecisionSignature;
}

const norm = (k: string) => k.trim().toLowerCase();

/** Why a person's approval on the ledger does not count, or undefined when it does. */
function approvalFault(e: LedgerEntry, changeId: string, exclusions: RecordedExclusions | undefined, keys: readonly DecisionKey[]): string | undefined {
  const d = (e.details ?? {}) as RecordedApproval;
  const who = `the approval by ${e.actor.id} at stage "${d.stage ?? d.stageIndex}" (ledger entry ${e.seq})`;
  if (!Array.isArray(d.approverKeys) || typeof d.claimsDigest !== 'string' || typeof d.stageIndex !== 'number' || typeof d.stage !== 'string') {
    return `${who} does not record what Gatehouse signed, so it cannot be verified`;
  }
  const statement = { changeId, stageIndex: d.stageIndex, stage: d.stage, verdict: 'approve' as const, reason: d.reason ?? '', approverId: e.actor.id, approverKeys: d.approverKeys, claimsDigest: d.claimsDigest };
  const signed = verifyDecision(statement, d.signature, keys);
  if (!signed.valid) return `${who} is not one Gatehouse accepted: ${signed.reason}`;
  if (!exclusions) return `the decision on record names nobody the approvers must not be, so ${who} cannot be checked against the subject and requester`;
  const mine = new Set(d.approverKeys.map(norm));
  if (exclusions.subjectKeys.some((k) => mine.has(norm(k)))) return `${who} was made by the subject of the change (or the owner of the non-human identity it is about)`;
  if (exclusions.requesterKeys.some((k) => mine.has(norm(k)))) return `${who} was made by the person who requested the change`;
  return undefined;
}

/** Whether the entries hold a person's approval, and so the decision key's public versions are needed to check them. */
export const holdsApprovals = (entries: readonly LedgerEntry[], actions: AuthorityActions = LEDGER_ACTIONS): boolean =>
  entries.some((e) => e.action === actions.approved && e.actor.kind === 'human');

export function checkAuthority(entries: readonly LedgerEntry[], change: { id: string; hash: string }, decisionKeys: readonly DecisionKey[], actions: AuthorityActions = LEDGER_ACTIONS): Authority {
  const mine = entries.filter((e) => e.correlation?.changeId === change.id);
  const decisions = mine.filter((e) => e.action === actions.decided);
  if (!decisions.length) return refuse(`the ledger holds no decision for change ${change.id}`);
  if (decisions.length > 1) return refuse(`the ledger holds ${decisions.length} decisions for change ${change.id}; one change is decided once`);
  const decided = decisions[0]!;
  const details = (decided.details ?? {}) as { changeHash?: string; effect?: string; stages?: RecordedStage[]; exclusions?: RecordedExclusions };
  if (details.changeHash !== change.hash) return refuse(`the decision on record for change ${change.id} is for different content (hash ${details.changeHash ?? 'missing'}, not ${change.hash})`);
  const policy = decided.policy;
  if (!policy) return refuse(`the decision on record for change ${change.id} names no policy version`);
  if (details.effect === 'allow') return { allowed: true, policy, effect: 'allow', decidedSeq: decided.seq };
  if (details.effect !== 'require-approval') return refuse(`the policy ${policy.id} (${policy.versionHash}) decided ${details.effect ?? 'nothing'} for change ${change.id}`);

  // From here on, only gate entries recorded after the decision and under the same policy version count.
  const gate = mine.filter((e) => e.seq > decided.seq && e.policy?.versionHash === policy.versionHash && e.policy.id === policy.id);
  const denial = gate.find((e) => e.action === actions.denied || e.action === actions.expired);
  if (denial) return refuse(`change ${change.id} was ${denial.action === actions.denied ? 'denied' : 'left to expire'} at the approval gate (ledger entry ${denial.seq})`);
  const closed = gate.filter((e) => e.action === actions.requestClosed);
  if (!closed.some((e) => (e.details as { status?: string } | undefined)?.status === 'approved')) {
    return refuse(`the ledger holds no approved outcome of the approval gate for change ${change.id}`);
  }
  // Every person's approval must be one Gatehouse signed, by someone who may approve: one that is not
  // means the gate or the ledger was reached around Gatehouse, and nothing is applied.
  for (const e of gate) {
    if (e.action !== actions.approved || (e.details as { byExpiry?: boolean } | undefined)?.byExpiry === true) continue;
    const fault = e.actor.kind === 'human' ? approvalFault(e, change.id, details.exclusions, decisionKeys) : undefined;
    if (fault) return refuse(fault);
  }
  for (const stage of details.stages ?? []) {
    const approvals = gate.filter((e) => e.action === actions.approved && (e.details as { stageIndex?: number } | undefined)?.stageIndex === stage.index);
    const byExpiry = approvals.some((e) => (e.details as { byExpiry?: boolean }).byExpiry === true);
    if (byExpiry && stage.onExpiry === 'allow') continue;
    const people = new Set(approvals.filter((e) => e.actor.kind === 'human' && !(e.details as { byExpiry?: boolean }).byExpiry).map((e) => e.actor.id));
    if (people.size < stage.quorum) {
      return refuse(`stage "${stage.name}" of change ${change.id} needs ${stage.quorum} approval(s) from distinct people; the ledger holds ${people.size}`);
    }
  }
  if (!(details.stages ?? []).length) return refuse(`the decision on record for change ${change.id} requires approval but names no stages`);
  return { allowed: true, policy, effect: 'require-approval', decidedSeq: decided.seq };
}
