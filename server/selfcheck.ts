// Starts the self-check workflow on a running Gatehouse and waits for its result.
import { Client, Connection } from '@temporalio/client';
import type { Config } from './config.js';
import { temporalConnectOptions } from './temporal-tls.js';
import { selfCheckWorkflow } from '../workflows/selfcheck/workflow.js';
import type { SelfCheckResult } from '../workflows/selfcheck/activities.js';

export async function runSelfCheck(config: Config, options: { timeoutMs?: number } = {}): Promise<SelfCheckResult & { workflowId: string }> {
  const address = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
  const connection = await Connection.connect({ ...(config.TEMPORAL_ADDRESS ? temporalConnectOptions(config, address) : { address }), connectTimeout: 5000 });
  try {
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    const workflowId = `selfcheck:${new Date().toISOString()}`;
    const handle = await client.workflow.start(selfCheckWorkflow, {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowId,
      workflowExecutionTimeout: `${Math.round((options.timeoutMs ?? 60_000) / 1000)} seconds`,
      searchAttributes: { GatehouseKind: ['selfcheck'] },
    });
    return { workflowId, ...(await handle.result()) };
  } finally {
    await connection.close();
  }
}
