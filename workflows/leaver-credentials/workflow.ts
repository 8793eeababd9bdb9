// A leaver's non-human identities, for the joiner-mover-leaver workflow to run as a child: hand
// each credential the leaver owned to their manager (or flag it orphaned), then rotate every one
// of them, since the leaver may know the secrets. Each rotation is a child workflow of its own,
// with a business-key id, and runs the whole rotation saga.
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { LeaverCredentialActivities } from './activities.js';
import type { LeaverHandOver } from '../../connectors/credentials/credential-service.js';
import type { OwnerRef } from '../../connectors/credentials/credential-types.js';
import type { RotationOutcome } from '../../connectors/credentials/rotation-types.js';
import { credentialRotationWorkflow } from '../rotation/workflow.js';

const { handOverLeaverCredentials } = proxyActivities<LeaverCredentialActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** The id to start this workflow with, as the JML workflow does: one per leaver. */
export const leaverCredentialsWorkflowId = (leaver: OwnerRef) => `leaver-credentials:${leaver.directoryId}:${leaver.userId}`;

export interface LeaverCredentialsResult {
  handedOver: LeaverHandOver[];
  rotations: RotationOutcome[];
}

export async function leaverCredentialsWorkflow(input: { leaver: OwnerRef }): Promise<LeaverCredentialsResult> {
  const { workflowId } = workflowInfo();
  const handedOver = await handOverLeaverCredentials({ leaver: input.leaver, workflowId });
  const rotations = await Promise.all(
    handedOver.map((h) =>
      executeChild(credentialRotationWorkflow, {
        workflowId: `rotation:${h.credentialId}:leaver:${input.leaver.directoryId}:${input.leaver.userId}`,
        args: [{ credentialId: h.credentialId, reason: 'leaver', requestedBy: { kind: 'workflow', id: workflowId, display: 'leaver hand-over' } }],
      }),
    ),
  );
  return { handedOver, rotations };
}
