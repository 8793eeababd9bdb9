// Sending a person's decision to an approval gate, for access changes and admin changes alike: the
// gate must still be at the stage the caller saw, and the decision goes with Gatehouse's signature
// over exactly that stage, verdict, reason and person (the gate refuses any other).
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { ApproverClaims, GateParticipants } from '../../policies/approval-eligibility.js';
import type { DecisionStage } from '../../policies/decide.js';
import { decisionStatement } from '../../policies/decision-signature.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';
import { GatehouseError, conflict } from '../../shared/errors.js';
import { approvalWorkflowId, decideUpdate, stateQuery, type ApprovalDecisionRecord, type ApprovalState } from '../../workflows/approval/workflow.js';

/** What a request's record (access_request or admin_change) holds about its gate, column for column. */
export interface GateRecord {
  id: string;
  status: string;
  policy_name: string;
  policy_version_hash: string;
  reasons: string[];
  stages: DecisionStage[];
  participants: GateParticipants;
  current_stage_index: number;
  stage_started_at: Date | string;
  escalated: boolean;
  decisions: (ApprovalDecisionRecord & { at?: string })[];
  created_at: Date | string;
}

/** The stage open now, its approvers (with its escalation targets once escalated), its deadline, and how it stands. */
export function openStage(row: GateRecord) {
  const stage = row.stages[row.current_stage_index];
  if (row.status !== 'pending' || !stage) return undefined;
  const approvers = row.escalated && stage.escalateTo ? [...stage.approvers, ...stage.escalateTo] : stage.approvers;
  const started = new Date(row.stage_started_at).getTime();
  const deadlineAt = new Date(started + stage.deadlineMs + (row.escalated ? (stage.escalationDeadlineMs ?? stage.deadlineMs) : 0)).toISOString();
  const view = {
    index: row.current_stage_index,
    name: stage.name,
    quorum: stage.quorum,
    approvals: row.decisions.filter((d) => d.stageIndex === row.current_stage_index && d.verdict === 'approve').length,
    escalated: row.escalated,
    deadlineAt,
    of: row.stages.length,
  };
  return { stage, approvers, deadlineAt, view };
}

export interface GateDecision {
  /** The change's id (access or admin): the gate is `approval:<id>`. */
  id: string;
  /** What the caller decided on, as the server's record shows it. */
  stageIndex: number;
  stageName: string;
  approver: ApproverClaims;
  verdict: 'approve' | 'deny';
  reason: string;
  /** Names the request in messages: "approval request", "admin change". */
  what: string;
}

export async function sendGateDecision(deps: { temporal: Client; decisions: Pick<DecisionSigner, 'sign'> }, input: GateDecision): Promise<ApprovalState> {
  const { id, what } = input;
  const gate = deps.temporal.workflow.getHandle(approvalWorkflowId(id));
  let state: ApprovalState;
  try {
    state = await gate.query(stateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw conflict(`${what} ${id} is closed`);
    throw err;
  }
  if (state.status !== 'pending') throw conflict(`${what} ${id} is already ${state.status}`);
  if (state.stageIndex !== input.stageIndex) throw conflict(`${what} ${id} moved on to stage "${state.stageName ?? state.stageIndex}"; reload it and decide again`);
  if (!state.decisionKeyVersions.length) throw conflict(`${what} ${id} is still opening; try again in a moment`);
  // Signed with the newest key version the gate knows, so a key rotated since it opened does not strand it.
  const statement = decisionStatement({ changeId: id, stageIndex: input.stageIndex, stage: input.stageName, verdict: input.verdict, reason: input.reason, approver: input.approver });
  const signature = await deps.decisions.sign(statement, Math.max(...state.decisionKeyVersions));
  try {
    return await gate.executeUpdate(decideUpdate, {
      args: [{ approver: input.approver, verdict: input.verdict, reason: input.reason, signature }],
      // A retried HTTP call finds the decision already made instead of deciding twice.
      updateId: `decision:${input.approver.userId}:${input.stageIndex}`,
    });
  } catch (err) {
    // The gate refused (its validator): the request moved on since it was read, or the caller is no longer eligible.
    if (err instanceof WorkflowUpdateFailedError) {
      const reason = (err.cause as Error | undefined)?.message ?? err.message;
      throw new GatehouseError('conflict', `the approval gate refused the decision: ${reason}`);
    }
    if (err instanceof WorkflowNotFoundError) throw conflict(`${what} ${id} is closed`);
    throw err;
  }
}
