// Credential rotation as a saga: claim, decide, create the new credential, apply it to the target,
// store it in Vault with check-and-set, verify it, revoke the old. Each undo is registered before
// its step runs (undos are idempotent, and a step cut short may have changed something), and run
// in reverse when a step fails, so the target and Vault end up agreeing either way. A failed undo
// is recorded and never hides the original error. Steps on Vault retry until Vault answers: an
// outage makes the rotation wait, never leave the two disagreeing. Nothing secret passes through
// here: the new value goes from activity to activity through Vault.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  executeChild,
  isCancellation,
  proxyActivities,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { approvalWorkflow, approvalWorkflowId, type ApprovalOutcome } from '../approval/workflow.js';
import type { RotationActivities } from './activities.js';
import type { RotationOutcome, RotationPlan, RotationRequest } from '../../connectors/credentials/rotation-types.js';
import type { RotationStep } from '../../connectors/credentials/credential-types.js';

/** Vault and the database: retried until they answer (an outage is waited out). */
const patient = proxyActivities<RotationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** The target: a Retryable answer is retried for a while; a refusal fails the step at once. */
const onTarget = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Putting the target back: as patient as Vault, because giving up would leave the two disagreeing. */
const restoring = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export const ROTATION_WORKFLOW_KIND = 'rotation';

/** The failure's named error and message, as the activity raised it. */
function describe(err: unknown): { errorCode: string; message: string } {
  let cause: unknown = err;
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { errorCode: cause.type ?? 'ApplicationFailure', message: cause.message };
  return { errorCode: 'unexpected', message: cause instanceof Error ? cause.message : String(cause) };
}

export async function credentialRotationWorkflow(request: RotationRequest): Promise<RotationOutcome> {
  const { workflowId, runId } = workflowInfo();
  const claimInput = { ...request, workflowId, runId, changeId: uuid4() };
  let claim;
  try {
    claim = await patient.rotationClaim(claimInput);
  } catch (err) {
    // Refused before anything changed (the connector cannot log in, the account is not there).
    const failed = describe(err);
    await patient.rotationClaimFailed(claimInput, { code: failed.errorCode, message: failed.message });
    return { status: 'failed', credentialId: request.credentialId, step: 'claim', ...failed, restored: { vault: true, target: true } };
  }
  if (!claim.claimed) return { status: 'skipped', credentialId: request.credentialId, why: claim.why };
  const plan: RotationPlan = claim.plan;

  const decision = await patient.rotationDecide(plan);
  const refuse = async (reasons: string[]): Promise<RotationOutcome> => {
    await patient.rotationRefuse(plan, reasons);
    return { status: 'refused', credentialId: plan.credentialId, reasons };
  };
  if (decision.effect === 'require-approval' && decision.gate) {
    // The approval gate, as on the per-change path: nothing reaches Vault or the target before it approves.
    let approval: ApprovalOutcome;
    try {
      approval = await executeChild(approvalWorkflow, {
        workflowId: approvalWorkflowId(plan.changeId),
        args: [decision.gate],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        // If this rotation goes away, its gate closes as cancelled, on record.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        searchAttributes: { GatehouseKind: ['approval'], GatehouseSubject: [`change:${plan.changeId}`] },
      });
    } catch (err) {
      if (isCancellation(err)) {
        await CancellationScope.nonCancellable(() => patient.rotationRefuse(plan, ['the rotation was cancelled while it waited for approval']));
        throw err;
      }
      const failed = describe(err);
      return refuse([...decision.reasons, `the approval gate failed (${failed.errorCode}): ${failed.message}`]);
    }
    if (approval.status !== 'approved') return refuse([...decision.reasons, `approval ${approval.status}: ${approval.reason}`]);
    try {
      await patient.rotationApproved(plan);
    } catch (err) {
      const failed = describe(err);
      return refuse([...decision.reasons, `the approvals on record do not allow it (${failed.errorCode}): ${failed.message}`]);
    }
  } else if (decision.effect !== 'allow') {
    return refuse(decision.reasons);
  }

  const undos: { name: 'discard-pending' | 'restore-target' | 'restore-vault'; run: () => Promise<unknown> }[] = [];
  let step: RotationStep = 'create';
  try {
    undos.push({ name: 'discard-pending', run: () => patient.rotationDiscardPending(plan) });
    await patient.rotationCreate(plan);

    step = 'apply';
    undos.push({ name: 'restore-target', run: () => restoring.rotationRestoreTarget(plan) });
    const applied = await onTarget.rotationApply(plan);

    step = 'store';
    undos.push({ name: 'restore-vault', run: () => patient.rotationRestoreVault(plan) });
    const stored = await patient.rotationStore(plan);

    step = 'verify';
    await onTarget.rotationVerify(plan, stored);

    step = 'revoke';
    const revoked = await onTarget.rotationRevoke(plan, applied);

    await patient.rotationComplete(plan, stored, applied, revoked);
    return { status: 'succeeded', credentialId: plan.credentialId, version: stored.version, oldCredentialRevoked: revoked.revoked };
  } catch (err) {
    const failed = describe(err);
    const restored = { vault: true, target: true };
    for (const undo of undos.reverse()) {
      try {
        await undo.run();
      } catch (undoErr) {
        if (undo.name === 'restore-vault') restored.vault = false;
        if (undo.name === 'restore-target') restored.target = false;
        const d = describe(undoErr);
        await patient.rotationRecordUndoFailure(plan, undo.name, { code: d.errorCode, message: d.message });
      }
    }
    await patient.rotationFail(plan, { step, ...failed, restored });
    return { status: 'failed', credentialId: plan.credentialId, step, ...failed, restored };
  }
}
