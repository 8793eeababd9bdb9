// Where the connectors module plugs into the server: its routes, over the instance service, with
// the live probe run as a Temporal workflow so secrets are read only on a worker.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { ApiRoute } from '../shared/http/api-route.js';
import type { LedgerAppender } from '../audit/index.js';
import { dependencyUnavailable } from '../shared/errors.js';
import { createBuiltinConnectorRegistry } from '../connectors/builtin-connectors.js';
import { createConnectorInstanceService } from '../connectors/instances/connector-instance-service.js';
import { connectorRoutes } from '../connectors/instances/connector-routes.js';
import type { RunProbe } from '../connectors/instances/connector-probe.js';
import { connectorTestWorkflow } from '../workflows/connector-test/workflow.js';
import type { Runtime } from './runtime.js';

/** Starts the probe workflow for an instance and waits for its outcome. */
export function createTemporalProbe(deps: { client: Client; taskQueue: string; timeout?: Duration }): RunProbe {
  return async (instanceId) => {
    const workflowId = `connector-test:${instanceId}:${randomUUID()}`;
    try {
      const outcome = await deps.client.workflow.execute(connectorTestWorkflow, {
        taskQueue: deps.taskQueue,
        workflowId,
        args: [{ instanceId }],
        workflowExecutionTimeout: deps.timeout ?? '2 minutes',
        searchAttributes: { GatehouseKind: ['connector-test'], GatehouseSubject: [`connector:${instanceId}`] },
      });
      return { workflowId, outcome };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        throw dependencyUnavailable('Temporal', `the probe ${workflowId} did not finish: ${(err.cause as Error | undefined)?.message ?? err.message}`);
      }
      throw err;
    }
  };
}

export function connectorModule(runtime: Pick<Runtime, 'orm' | 'secrets' | 'temporal' | 'config'>, ledger: LedgerAppender): { routes: ApiRoute[] } {
  const service = createConnectorInstanceService({ orm: runtime.orm, secrets: runtime.secrets, registry: createBuiltinConnectorRegistry(), ledger });
  const probe = createTemporalProbe({ client: runtime.temporal.client, taskQueue: runtime.config.TEMPORAL_TASK_QUEUE });
  return { routes: connectorRoutes({ service, probe, ledger }) };
}
