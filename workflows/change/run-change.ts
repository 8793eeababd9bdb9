// The per-change path for workflow code: decide (recorded), wait at the approval gate when policy
// says so (a child workflow, `approval:<change id>`), apply through the connector (recorded), and
// return how it ended. Deterministic: workflow code only, activities by type. The access-request
// workflow and the joiner-mover-leaver workflows run every change through here.
import { ActivityFailure, ApplicationFailure, CancellationScope, ChildWorkflowFailure, ParentClosePolicy, WorkflowIdReusePolicy, executeChild, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { approvalWorkflow, approvalWorkflowId, type ApprovalOutcome } from '../approval/workflow.js';
import type { ChangeActivities } from './activities.js';
import type { ChangeFailure, ChangeOutcome, CompensationResult, DecidedChange } from './change-types.js';

/** Recording must happen, so these retry until the database and the ledger answer. */
const record = proxyActivities<Pick<ChangeActivities, 'decideChange' | 'recordChangeFailed'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

/**
 * Reaching a target is retried a bounded number of times for transient failures (Retryable,
 * Vault unavailable); every named refusal fails at once. The connector journal makes each retry
 * safe: a change that went through is answered from the journal, never applied twice.
 */
const target = proxyActivities<Pick<ChangeActivities, 'applyChange' | 'compensateChange'>>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', backoffCoefficient: 2, maximumAttempts: 6 },
});

/** The failure's type and message, from what Temporal delivered (an activity's or a child's failure). */
export function failureOf(err: unknown): ChangeFailure {
  let cause: unknown = err;
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  return { type: (cause as Error)?.name ?? 'Error', message: (cause as Error)?.message ?? String(cause) };
}

const GATE_STATUS: Record<Exclude<ApprovalOutcome['status'], 'approved'>, 'rejected' | 'expired' | 'cancelled'> = {
  denied: 'rejected',
  expired: 'expired',
  cancelled: 'cancelled',
};

/** Runs one change to its end. Never throws for a refusal or a failure of the change itself: the outcome says. */
export async function runChange(input: AccessChangeInput): Promise<ChangeOutcome> {
  const changeId = input.id;
  let decided: DecidedChange;
  try {
    decided = await record.decideChange({ change: input });
  } catch (err) {
    const error = failureOf(err);
    await record.recordChangeFailed({ changeId, phase: 'decide', error, change: input });
    return { status: 'failed', changeId, phase: 'decide', error };
  }

  const { decision } = decided;
  if (decision.effect === 'deny') return { status: 'denied', changeId, decided };

  let approval: ApprovalOutcome | undefined;
  if (decision.effect === 'require-approval') {
    try {
      approval = await executeChild(approvalWorkflow, {
        workflowId: approvalWorkflowId(changeId),
        args: [{ change: decided.change, policy: decision.policy, reasons: decision.reasons, sodConflicts: decision.sodConflicts, stages: decision.stages, participants: decided.participants! }],
        // One gate per change, ever; if the waiting workflow goes away, the gate closes as cancelled, on record.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        searchAttributes: { GatehouseKind: ['approval'], GatehouseSubject: [`change:${changeId}`] },
      });
    } catch (err) {
      // The workflow running this change was cancelled: the gate closes as cancelled, on record.
      if (isCancellation(err)) throw err;
      const error = failureOf(err);
      await record.recordChangeFailed({ changeId, phase: 'approval', error });
      return { status: 'failed', changeId, phase: 'approval', error, decided };
    }
    if (approval.status !== 'approved') return { status: GATE_STATUS[approval.status], changeId, decided, approval };
  }

  try {
    // Once started, an apply runs to its end even if the workflow is cancelled meanwhile, so the
    // record always says whether the target changed.
    const applied = await CancellationScope.nonCancellable(() => target.applyChange({ change: decided.change }));
    return { status: 'applied', changeId, decided, ...(approval ? { approval } : {}), applied };
  } catch (err) {
    const error = failureOf(err);
    await CancellationScope.nonCancellable(() => record.recordChangeFailed({ changeId, phase: 'apply', error }));
    return { status: 'failed', changeId, phase: 'apply', error, decided };
  }
}

/**
 * Undoes an applied change (for a saga: register it right after the change applied, run undos in
 * reverse). Idempotent. A failed undo is recorded and returned, never thrown, so it cannot hide the
 * failure that made the saga compensate.
 */
export async function undoChange(changeId: string, reason: string): Promise<CompensationResult | { status: 'failed'; changeId: string; error: ChangeFailure }> {
  try {
    // A saga's undo runs even when the saga is being cancelled.
    return await CancellationScope.nonCancellable(() => target.compensateChange({ changeId, reason }));
  } catch (err) {
    const error = failureOf(err);
    await CancellationScope.nonCancellable(() => record.recordChangeFailed({ changeId, phase: 'compensate', error }));
    return { status: 'failed', changeId, error };
  }
}
