// For a leaver (called by the joiner-mover-leaver workflows): every non-human identity they own goes
// to their manager, or is flagged orphaned when there is none. Idempotent: a retry returns the same
// hand-over from the owner-change record.
import type { CredentialService, LeaverHandOver } from '../../connectors/credentials/credential-service.js';
import type { OwnerRef } from '../../connectors/credentials/credential-types.js';

export function createLeaverCredentialActivities(deps: { credentials: Pick<CredentialService, 'handOverFromLeaver'> }) {
  return {
    async handOverLeaverCredentials(input: { leaver: OwnerRef; workflowId: string }): Promise<LeaverHandOver[]> {
      return deps.credentials.handOverFromLeaver(input.leaver, { kind: 'workflow', id: input.workflowId, display: 'leaver hand-over' });
    },
  };
}

export type LeaverCredentialActivities = ReturnType<typeof createLeaverCredentialActivities>;
