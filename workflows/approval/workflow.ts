// The approval gate: one workflow per access change that policy says needs approval (workflow id
// `approval:<change id>`). People decide through a Workflow Update whose validator refuses anyone
// ineligible before anything enters history; stages pass in order; each stage waits on a timer, then
// escalates, then expires. The wait is Temporal's, so a restart of any process loses nothing.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AccessChange } from '../../policies/access-change.js';
import type { DecisionStage, SodConflict } from '../../policies/decide.js';
import { checkEligibility, type ApproverClaims, type GateParticipants } from '../../policies/approval-eligibility.js';
import { decisionStatement, verifyDecision, verifyWithdrawal, type DecisionKey, type DecisionSignature } from '../../policies/decision-signature.js';
import type { ApprovalActivities, GateEvent } from './activities.js';

/** The gate's workflow id for a change: one gate per change, ever. */
export const approvalWorkflowId = (changeId: string) => `approval:${changeId}`;

export interface ApprovalInput {
  /** What waits at the gate: an access change, or an admin change (then `gate` says so). */
  change: Pick<AccessChange, 'id'>;
  /** Where the gate's events are recorded: with the access change (the default), or with an admin change. */
  gate?: 'admin-change';
  policy: { name: string; versionHash: string };
  reasons: string[];
  sodConflicts: SodConflict[];
  stages: DecisionStage[];
  participants: GateParticipants;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface ApprovalDecisionRecord {
  stageIndex: number;
  stage: string;
  userId: string;
  displayName?: string;
  verdict: 'approve' | 'deny';
  reason: string;
  /** How the approver was eligible, e.g. "role security-approver". */
  as: string;
}

export interface ApprovalOutcome {
  status: Exclude<ApprovalStatus, 'pending'>;
  decisions: ApprovalDecisionRecord[];
  /** Stages that passed at their deadline because their policy allows the change on expiry. */
  passedByExpiry: string[];
  reason: string;
}

export interface ApprovalState {
  status: ApprovalStatus;
  stageIndex: number;
  stageName: string | undefined;
  escalated: boolean;
  approvalsInStage: number;
  quorum: number | undefined;
  decidedBy: string[];
  decisions: ApprovalDecisionRecord[];
  /** The versions of the decision key this gate verifies with (the server signs with one of them). */
  decisionKeyVersions: number[];
}

export interface DecideArgs {
  approver: ApproverClaims;
  verdict: 'approve' | 'deny';
  reason: string;
  /** Gatehouse's signature over the decision's statement for the gate's current stage. */
  signature?: DecisionSignature;
}

/** Approve or deny the current stage. Refused, before anything enters history, for anyone not eligible. */
export const decideUpdate = defineUpdate<ApprovalState, [DecideArgs]>('decide');
/**
 * The requester (or an admin) withdraws the request. A signal cannot be refused, so one without the
 * server's signature over exactly this request, person and reason changes nothing.
 */
export const cancelSignal = defineSignal<[{ by: string; reason: string; signature?: DecisionSignature }]>('cancel');
export const stateQuery = defineQuery<ApprovalState>('state');

const { recordGateEvent, decisionKeys } = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30 seconds',
  // The ledger and the request record must be written before the gate moves on: keep trying.
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

export const MAX_REASON_LENGTH = 2000;

export async function approvalWorkflow(input: ApprovalInput): Promise<ApprovalOutcome> {
  const requestId = input.change.id;
  const { workflowId, runId } = workflowInfo();
  const state: ApprovalState = {
    status: 'pending',
    stageIndex: 0,
    stageName: input.stages[0]?.name,
    escalated: false,
    approvalsInStage: 0,
    quorum: input.stages[0]?.quorum,
    decidedBy: [],
    decisions: [],
    decisionKeyVersions: [],
  };
  let keys: DecisionKey[] = [];
  /** A gate opened by a version that did not sign decisions (replayed from its history): it cannot verify any. */
  let unsigned = false;
  const passedByExpiry: string[] = [];
  let closingReason = '';
  let cancelledFromOutside = false;
  /**
   * Whether the first stage is open. Until it is, decisions are refused: one accepted earlier was
   * counted and then reset when the stage opened, so the approval was lost and the stage waited on.
   */
  let accepting = false;

  // Gate events are recorded one after another, in the order they happened, each exactly once
  // (the activity is idempotent by request id and sequence number).
  let seq = 0;
  let tail: Promise<unknown> = Promise.resolve();
  const record = (event: Omit<GateEvent, 'requestId' | 'seq' | 'workflowId' | 'runId' | 'policy'>): Promise<unknown> => {
    const e: GateEvent = { ...event, requestId, seq: ++seq, workflowId, runId, policy: input.policy, ...(input.gate ? { gate: input.gate } : {}) };
    // Not cancellable: an event that happened is recorded even when the gate is being cancelled.
    const written = tail.then(() => CancellationScope.nonCancellable(() => recordGateEvent(e)));
    tail = written.catch(() => undefined);
    return written;
  };

  const stage = () => input.stages[state.stageIndex];
  const currentApprovers = () => {
    const s = stage();
    if (!s) return [];
    return state.escalated && s.escalateTo ? [...s.approvers, ...s.escalateTo] : s.approvers;
  };
  const eligibilityOf = (approver: ApproverClaims) =>
    checkEligibility({ stageName: stage()?.name ?? '', approvers: currentApprovers(), participants: input.participants, decidedBy: state.decidedBy, approver });

  setHandler(stateQuery, () => state);

  setHandler(
    decideUpdate,
    async ({ approver, verdict, reason, signature }) => {
      const s = stage()!;
      const statement = decisionStatement({ changeId: requestId, stageIndex: state.stageIndex, stage: s.name, verdict, reason, approver });
      const eligibility = eligibilityOf(approver);
      // The validator ran in this same activation, so the stage cannot have moved since.
      const as = eligibility.eligible ? eligibility.as : 'unknown';
      const decision: ApprovalDecisionRecord = {
        stageIndex: state.stageIndex,
        stage: s.name,
        userId: approver.userId,
        ...(approver.displayName ? { displayName: approver.displayName } : {}),
        verdict,
        reason: reason.trim(),
        as,
      };
      state.decidedBy.push(approver.userId);
      state.decisions.push(decision);
      if (verdict === 'deny') {
        state.status = 'denied';
        closingReason = `denied by ${approver.displayName ?? approver.userId} at stage "${s.name}": ${decision.reason}`;
      } else {
        state.approvalsInStage++;
      }
      await record({
        kind: verdict === 'approve' ? 'approved' : 'denied',
        stageIndex: decision.stageIndex,
        stage: s.name,
        actorId: approver.userId,
        ...(approver.displayName ? { actorName: approver.displayName } : {}),
        reason: decision.reason,
        // What the apply step needs to verify the signature again from the ledger, and to re-check
        // that the approver is neither the requester nor the subject.
        detail: { as, approverKeys: statement.approverKeys, claimsDigest: statement.claimsDigest, signature },
      });
      return state;
    },
    {
      validator: ({ approver, verdict, reason, signature }) => {
        if (state.status !== 'pending') throw new Error(`this request is already ${state.status}`);
        if (verdict !== 'approve' && verdict !== 'deny') throw new Error('verdict must be approve or deny');
        if (typeof reason !== 'string' || !reason.trim()) throw new Error('a reason is required');
        if (reason.length > MAX_REASON_LENGTH) throw new Error(`the reason must be at most ${MAX_REASON_LENGTH} characters`);
        const s = stage();
        if (!s) throw new Error('this request has no open stage');
        if (state.approvalsInStage >= s.quorum) throw new Error(`stage "${s.name}" already has its approvals; the next stage opens in a moment`);
        const eligibility = eligibilityOf(approver);
        if (!eligibility.eligible) throw new Error(eligibility.reason);
        if (unsigned) throw new Error('this request was opened by an earlier version of Gatehouse, which did not sign decisions: withdraw it and ask again');
        if (!keys.length || !accepting) throw new Error('the gate is still opening; try again in a moment');
        const signed = verifyDecision(decisionStatement({ changeId: requestId, stageIndex: state.stageIndex, stage: s.name, verdict, reason, approver }), signature, keys);
        if (!signed.valid) throw new Error(signed.reason);
      },
    },
  );

  setHandler(cancelSignal, ({ by, reason, signature }) => {
    if (state.status !== 'pending') return;
    // A gate from before signatures cannot check one; every other gate takes only Gatehouse's word.
    if (!unsigned && !verifyWithdrawal({ changeId: requestId, by: String(by), reason: String(reason) }, signature, keys).valid) return;
    state.status = 'cancelled';
    closingReason = `withdrawn by ${by}: ${reason}`;
    void record({ kind: 'cancelled', stageIndex: state.stageIndex, stage: state.stageName, actorId: by, reason });
  });

  try {
    // Decisions are verified with the key versions that exist now; the server signs with one of them.
    if (patched('decision-signatures')) {
      keys = await decisionKeys();
      state.decisionKeyVersions = keys.map((k) => k.version);
    } else unsigned = true;
    await record({
      kind: 'opened',
      stageIndex: 0,
      stage: state.stageName,
      reason: input.reasons.join('; '),
      detail: { stages: input.stages, participants: input.participants, reasons: input.reasons, sodConflicts: input.sodConflicts },
    });

    while (state.stageIndex < input.stages.length && state.status === 'pending') {
      const s = input.stages[state.stageIndex]!;
      state.stageName = s.name;
      state.quorum = s.quorum;
      state.approvalsInStage = 0;
      state.escalated = false;
      accepting = true;
      if (state.stageIndex > 0) await record({ kind: 'stage-started', stageIndex: state.stageIndex, stage: s.name });

      const stageDone = () => state.status !== 'pending' || state.approvalsInStage >= s.quorum;
      let done = await condition(stageDone, s.deadlineMs);
      if (!done && s.escalateTo) {
        state.escalated = true;
        await record({ kind: 'escalated', stageIndex: state.stageIndex, stage: s.name, detail: { to: s.escalateTo } });
        done = await condition(stageDone, s.escalationDeadlineMs ?? s.deadlineMs);
      }
      if (!done) {
        if (s.onExpiry === 'allow') {
          passedByExpiry.push(s.name);
          await record({ kind: 'passed-by-expiry', stageIndex: state.stageIndex, stage: s.name, reason: 'the stage deadline passed and its policy allows the change on expiry' });
        } else {
          state.status = 'expired';
          closingReason = `stage "${s.name}" expired without ${s.quorum} approval(s)`;
          await record({ kind: 'expired', stageIndex: state.stageIndex, stage: s.name, reason: closingReason });
          break;
        }
      }
      if (state.status !== 'pending') break;
      state.stageIndex++;
    }
    if (state.status === 'pending') {
      state.status = 'approved';
      closingReason = `every stage approved (${input.stages.map((st) => st.name).join(', ')})`;
    }
  } catch (err) {
    // Cancelled from outside (the workflow that waits on this gate stopped): close it on record.
    if (!isCancellation(err)) throw err;
    if (state.status === 'pending' || state.status === 'approved') {
      state.status = 'cancelled';
      closingReason = 'the workflow waiting for this approval was cancelled';
      cancelledFromOutside = true;
    }
  }

  return CancellationScope.nonCancellable(async () => {
    // A withdrawal by signal is recorded by its handler; a cancellation from outside is recorded here.
    if (cancelledFromOutside) await record({ kind: 'cancelled', stageIndex: state.stageIndex, stage: state.stageName, reason: closingReason });
    // Every decision is on record before anyone acts on the outcome (promise 1).
    await condition(allHandlersFinished);
    await tail;
    await record({ kind: 'closed', stageIndex: state.stageIndex, stage: state.stageName, reason: closingReason, detail: { status: state.status } });
    return { status: state.status as ApprovalOutcome['status'], decisions: state.decisions, passedByExpiry, reason: closingReason };
  });
}
