// A leaver's non-human identities, for the joiner-mover-leaver workflow to run as a child: hand
// each credential the leaver owned to their manager (or flag it orphaned), then rotate every one
// of them, since the leaver may know the secrets. Each rotation is a child workflow of its own,
// with a business-key id, and runs the whole rotation saga (a failed one is reported, not thrown).
import { executeChild, proxyActivities } from '@temporalio/workflow';
import type { LeaverCredentialActivities } from './activities.js';
import type { LeaverHandOver } from '../../connectors/credentials/credential-service.js';
import type { LeaverCredentialsInput } from '../../connectors/credentials/credential-types.js';
import type { RotationOutcome } from '../../connectors/credentials/rotation-types.js';
import { credentialRotationWorkflow } from '../rotation/workflow.js';

export type { LeaverCredentialsInput } from '../../connectors/credentials/credential-types.js';

const { handOverLeaverCredentials } = proxyActivities<LeaverCredentialActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** The id to start this workflow with (or to run it as a child under): one per leaver. */
export const leaverCredentialsWorkflowId = (input: Pick<LeaverCredentialsInput, 'directoryId' | 'identityId'>) => `leaver-credentials:${input.directoryId}:${input.identityId}`;

export interface LeaverCredentialsResult {
  /** Every credential the leaver owned, and who owns it now. */
  handedOver: LeaverHandOver[];
  /** One rotation per credential handed over, in the same order. */
  rotations: RotationOutcome[];
}

export async function leaverCredentialsWorkflow(input: LeaverCredentialsInput): Promise<LeaverCredentialsResult> {
  const handedOver = await handOverLeaverCredentials(input);
  const rotations = await Promise.all(
    handedOver.map((h) =>
      executeChild(credentialRotationWorkflow, {
        workflowId: `rotation:${h.credentialId}:leaver:${input.directoryId}:${input.identityId}`,
        args: [{ credentialId: h.credentialId, reason: 'leaver', requestedBy: input.actor, justification: `${input.identityId} left directory ${input.directoryId}` }],
      }),
    ),
  );
  return { handedOver, rotations };
}
