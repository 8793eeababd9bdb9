// The connector probe as an activity: the instance's secrets are read from Vault here, in the
// worker, and only the outcome (the target's self-description or a named error) goes back to the
// workflow, so nothing secret enters Temporal's history.
import { requireCapability } from '../../connectors/spi/connector.js';
import { ConnectorError } from '../../connectors/spi/errors.js';
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import type { ConnectorFactory } from '../../connectors/instances/connector-factory.js';
import type { ProbeOutcome } from '../../connectors/instances/connector-probe.js';

export function createConnectorTestActivities(deps: { factory: ConnectorFactory }) {
  return {
    async probeConnector(input: { instanceId: string }): Promise<ProbeOutcome> {
      return asConnectorActivity(async () => {
        try {
          const probe = await deps.factory.withConnector(input.instanceId, (connector, instance) => requireCapability(connector, 'test', instance.name).test());
          return { ok: true, probe };
        } catch (err) {
          // A definite answer from the target is the probe's result; a transient one is retried.
          if (err instanceof ConnectorError && !err.retryable) return { ok: false, error: { code: err.code, message: err.message } };
          throw err;
        }
      });
    },
  };
}

export type ConnectorTestActivities = ReturnType<typeof createConnectorTestActivities>;
