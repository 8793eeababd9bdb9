// The rotation's activities: each step of connectors/credentials/credential-rotation.ts, run where
// secrets may be read (a worker), with connector and Vault failures mapped to Temporal's (a
// Retryable target or an unreachable Vault is retried; a refusal fails the step for the saga).
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import type { CredentialRotation } from '../../connectors/credentials/credential-rotation.js';
import type { AppliedStep, ClaimResult, RotationPlan, RotationRequest, StoredStep } from '../../connectors/credentials/rotation-types.js';
import type { RotationStep } from '../../connectors/credentials/credential-types.js';
import { decideRotation } from './rotation-decision.js';

export function createRotationActivities(deps: { rotation: CredentialRotation }) {
  const r = deps.rotation;
  return {
    rotationClaim: (input: RotationRequest & { workflowId: string; runId: string; changeId: string }): Promise<ClaimResult> => asConnectorActivity(() => r.claim(input)),
    rotationClaimFailed: (input: RotationRequest & { workflowId: string; runId: string; changeId: string }, error: { code: string; message: string }): Promise<void> =>
      asConnectorActivity(() => r.claimFailed(input, error)),

    /** The policy decision (a separate step until the approval gate decides rotations), on record before any change. */
    rotationDecide: (plan: RotationPlan): Promise<{ effect: string; reasons: string[] }> =>
      asConnectorActivity(async () => {
        const decision = decideRotation(plan);
        await r.recordDecision(plan, decision);
        return { effect: decision.effect, reasons: decision.reasons };
      }),

    rotationCreate: (plan: RotationPlan): Promise<void> => asConnectorActivity(() => r.create(plan)),
    rotationApply: (plan: RotationPlan): Promise<AppliedStep> => asConnectorActivity(() => r.apply(plan)),
    rotationStore: (plan: RotationPlan): Promise<StoredStep> => asConnectorActivity(() => r.store(plan)),
    rotationVerify: (plan: RotationPlan, stored: StoredStep): Promise<void> => asConnectorActivity(() => r.verify(plan, stored)),
    rotationRevoke: (plan: RotationPlan, applied: AppliedStep): Promise<{ revoked: boolean; note?: string }> => asConnectorActivity(() => r.revoke(plan, applied)),
    rotationComplete: (plan: RotationPlan, stored: StoredStep, applied: AppliedStep, revoked: { revoked: boolean; note?: string }): Promise<void> =>
      asConnectorActivity(() => r.complete(plan, stored, applied, revoked)),

    rotationDiscardPending: (plan: RotationPlan): Promise<void> => asConnectorActivity(() => r.discardPending(plan)),
    rotationRestoreTarget: (plan: RotationPlan): Promise<{ changed: boolean }> => asConnectorActivity(() => r.restoreTarget(plan)),
    rotationRestoreVault: (plan: RotationPlan): Promise<{ version: number }> => asConnectorActivity(() => r.restoreVault(plan)),
    rotationFail: (plan: RotationPlan, outcome: { step: RotationStep; errorCode: string; message: string; restored: { vault: boolean; target: boolean } }): Promise<void> =>
      asConnectorActivity(() => r.fail(plan, outcome)),
    rotationRefuse: (plan: RotationPlan, reasons: string[]): Promise<void> => asConnectorActivity(() => r.refuse(plan, reasons)),
    rotationRecordUndoFailure: (plan: RotationPlan, undo: string, error: { code: string; message: string }): Promise<void> => asConnectorActivity(() => r.recordUndoFailure(plan, undo, error)),
  };
}

export type RotationActivities = ReturnType<typeof createRotationActivities>;
