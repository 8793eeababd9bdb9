// Probes one connector instance (the API's "test connection"): a workflow so that the secrets are
// read only inside the activity, on a worker, as for every other connector call.
import { proxyActivities } from '@temporalio/workflow';
import type { ConnectorTestActivities } from './activities.js';
import type { ProbeOutcome } from '../../connectors/instances/connector-probe.js';

const { probeConnector } = proxyActivities<ConnectorTestActivities>({
  startToCloseTimeout: '1 minute',
  // Transient failures (Retryable, Vault unavailable) are retried a little; refusals come back as the outcome.
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
});

export async function connectorTestWorkflow(input: { instanceId: string }): Promise<ProbeOutcome> {
  return probeConnector(input);
}
