// For a leaver (called by the joiner-mover-leaver workflows): every non-human identity they own goes
// to their manager, or is flagged orphaned when there is none. Idempotent: a retry returns the same
// hand-over from the owner-change record. Bad input is refused for good (never retried).
import { ApplicationFailure } from '@temporalio/common';
import type { CredentialService, LeaverHandOver } from '../../connectors/credentials/credential-service.js';
import { leaverCredentialsInput, type LeaverCredentialsInput } from '../../connectors/credentials/credential-types.js';

export function createLeaverCredentialActivities(deps: { credentials: Pick<CredentialService, 'handOverFromLeaver'> }) {
  return {
    async handOverLeaverCredentials(raw: LeaverCredentialsInput): Promise<LeaverHandOver[]> {
      const parsed = leaverCredentialsInput.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw ApplicationFailure.nonRetryable(`${issue.path.join('.') || 'input'}: ${issue.message}`, 'GatehouseRefused');
      }
      const input = parsed.data;
      return deps.credentials.handOverFromLeaver(
        { directoryId: input.directoryId, userId: input.identityId },
        input.managerId ? { directoryId: input.directoryId, userId: input.managerId } : null,
        input.actor,
      );
    },
  };
}

export type LeaverCredentialActivities = ReturnType<typeof createLeaverCredentialActivities>;
