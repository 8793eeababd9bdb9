// The approval gate: one workflow per access change that policy says needs approval
// (workflow id `approval:<change id>`). People decide through a Workflow Update whose validator
// refuses ineligible approvers before anything enters history; each stage waits on a timer, then
// escalates, then expires. A restart of any process loses nothing: the wait is Temporal's.
import {
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AccessChange } from '../../policies/access-change.js';
import type { DecisionStage } from '../../policies/decide.js';
import { checkEligibility, type ApproverClaims, type GateParticipants } from '../../policies/approval-eligibility.js';
import type { ApprovalActivities, GateEvent } from './activities.js';

export interface ApprovalInput {
  change: AccessChange;
  policy: { name: string; versionHash: string };
  reasons: string[];
  stages: DecisionStage[];
  participants: GateParticipants;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface ApprovalDecisionRecord {
  stage: string;
  userId: string;
  displayName?: string;
  verdict: 'approve' | 'deny';
  reason: string;
  as: string;
}

export interface ApprovalOutcome {
  status: Exclude<ApprovalStatus, 'pending'>;
  decisions: ApprovalDecisionRecord[];
  /** Stages that passed by expiry because their policy allowed it. */
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
}

export interface DecideArgs {
  approver: ApproverClaims;
  verdict: 'approve' | 'deny';
  reason: string;
}

/** Approve or deny the current stage. Refused (before history) for anyone not eligible. */
export const decideUpdate = defineUpdate<ApprovalState, [DecideArgs]>('decide');
/** The requester withdraws the request. */
export const cancelSignal = defineSignal<[{ by: string; reason: string }]>('cancel');
export const stateQuery = defineQuery<ApprovalState>('state');

const { recordGateEvent } = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30 seconds',
  // The ledger and the request record must be written before the gate moves on; keep trying.
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

export async function approvalWorkflow(input: ApprovalInput): Promise<ApprovalOutcome> {
  const requestId = input.change.id;
  const { workflowId, runId } = workflowInfo();
  let seq = 0;
  let pendingRecords = 0;
  const record = async (event: Omit<GateEvent, 'requestId' | 'seq' | 'workflowId' | 'runId' | 'policy'>) => {
    // The sequence number is taken synchronously, so records keep the order of the events.
    const e: GateEvent = { ...event, requestId, seq: ++seq, workflowId, runId, policy: input.policy };
    pendingRecords++;
    try {
      await recordGateEvent(e);
    } finally {
      pendingRecords--;
    }
  };

  const state: ApprovalState = {
    status: 'pending',
    stageIndex: 0,
    stageName: input.stages[0]?.name,
    escalated: false,
    approvalsInStage: 0,
    quorum: input.stages[0]?.quorum,
    decidedBy: [],
    decisions: [],
  };
  const passedByExpiry: string[] = [];
  let closingReason = '';

  const currentApprovers = () => {
    const stage = input.stages[state.stageIndex];
    if (!stage) return [];
    return state.escalated && stage.escalateTo ? [...stage.approvers, ...stage.escalateTo] : stage.approvers;
  };

  setHandler(stateQuery, () => state);

  setHandler(
    decideUpdate,
    async ({ approver, verdict, reason }) => {
      const stage = input.stages[state.stageIndex]!;
      const eligibility = checkEligibility({ stageName: stage.name, approvers: currentApprovers(), participants: input.participants, decidedBy: state.decidedBy, approver });
      // The validator already checked this; the stage cannot have changed in between.
      const as = eligibility.eligible ? eligibility.as : 'unknown';
      const decision: ApprovalDecisionRecord = { stage: stage.name, userId: approver.userId, ...(approver.displayName ? { displayName: approver.displayName } : {}), verdict, reason, as };
      state.decidedBy.push(approver.userId);
      state.decisions.push(decision);
      if (verdict === 'deny') {
        state.status = 'denied';
        closingReason = `denied by ${approver.displayName ?? approver.userId} at stage "${stage.name}": ${reason}`;
      } else {
        state.approvalsInStage++;
      }
      await record({ kind: verdict === 'approve' ? 'approved' : 'denied', stage: stage.name, actorId: approver.userId, reason, detail: { as } });
      return state;
    },
    {
      validator: ({ approver, verdict, reason }) => {
        if (state.status !== 'pending') throw new Error(`this request is already ${state.status}`);
        if (verdict !== 'approve' && verdict !== 'deny') throw new Error('verdict must be approve or deny');
        if (typeof reason !== 'string' || !reason.trim()) throw new Error('a reason is required');
        const stage = input.stages[state.stageIndex];
        if (!stage) throw new Error('this request has no open stage');
        const eligibility = checkEligibility({ stageName: stage.name, approvers: currentApprovers(), participants: input.participants, decidedBy: state.decidedBy, approver });
        if (!eligibility.eligible) throw new Error(eligibility.reason);
      },
    },
  );

  setHandler(cancelSignal, ({ by, reason }) => {
    if (state.status !== 'pending') return;
    state.status = 'cancelled';
    closingReason = `withdrawn by ${by}: ${reason}`;
    void record({ kind: 'cancelled', stage: state.stageName, actorId: by, reason });
  });

  await record({
    kind: 'opened',
    stage: state.stageName,
    reason: input.reasons.join('; '),
    detail: { change: input.change, stages: input.stages, participants: input.participants, reasons: input.reasons },
  });

  for (; state.stageIndex < input.stages.length && state.status === 'pending'; state.stageIndex++) {
    const stage = input.stages[state.stageIndex]!;
    state.stageName = stage.name;
    state.quorum = stage.quorum;
    state.approvalsInStage = 0;
    state.escalated = false;
    if (state.stageIndex > 0) await record({ kind: 'stage-started', stage: stage.name });

    const stageDone = () => state.status !== 'pending' || state.approvalsInStage >= stage.quorum;
    let done = await condition(stageDone, stage.deadlineMs);
    if (!done && stage.escalateTo) {
      state.escalated = true;
      await record({ kind: 'escalated', stage: stage.name, detail: { to: stage.escalateTo } });
      done = await condition(stageDone, stage.escalationDeadlineMs ?? stage.deadlineMs);
    }
    if (!done) {
      if (stage.onExpiry === 'allow') {
        passedByExpiry.push(stage.name);
        await record({ kind: 'passed-by-expiry', stage: stage.name, reason: 'the stage deadline passed and its policy allows the change on expiry' });
      } else {
        state.status = 'expired';
        closingReason = `stage "${stage.name}" expired without ${stage.quorum} approval(s)`;
        await record({ kind: 'expired', stage: stage.name, reason: closingReason });
      }
    }
  }

  if (state.status === 'pending') {
    state.status = 'approved';
    closingReason = `every stage approved (${input.stages.map((s) => s.name).join(', ')})`;
  }
  // Every decision is on record before anyone acts on the outcome (promise 1).
  await condition(() => pendingRecords === 0 && allHandlersFinished());
  await record({ kind: 'closed', stage: state.stageName, reason: closingReason, detail: { status: state.status } });
  return { status: state.status as ApprovalOutcome['status'], decisions: state.decisions, passedByExpiry, reason: closingReason };
}
