// The self-check: one activity reads a secret from Vault and writes a row through MikroORM. The
// workflow sees only the outcome, never the secret, so nothing secret enters Temporal's history.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { SelfCheckActivities, SelfCheckResult } from './activities.js';

const { checkVaultAndDatabase } = proxyActivities<SelfCheckActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

export async function selfCheckWorkflow(): Promise<SelfCheckResult> {
  const { workflowId, runId } = workflowInfo();
  return checkVaultAndDatabase({ workflowId, runId });
}
