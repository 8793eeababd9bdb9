// One Temporal Schedule per connector (`reconcile:<connector id>`) that runs its reconciliation every
// RECONCILE_INTERVAL_MINUTES. The schedules are made to match the connectors at start and every few
// minutes, on any replica (idempotent): created for new connectors, updated when the interval
// changes, deleted when a connector is.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { reconcileConnectorWorkflow, reconcileScheduleId } from '../../workflows/reconcile/workflow.js';
import type { BackgroundService } from '../modules.js';
import { scheduleSyncService, syncSchedules, type WantedSchedule } from '../schedule-sync.js';

const PREFIX = reconcileScheduleId('');

export interface ReconcileScheduleDeps {
  orm: MikroORM;
  client: Client;
  taskQueue: string;
  everyMinutes: number;
}

export async function syncReconcileSchedules(deps: ReconcileScheduleDeps): Promise<{ synced: number; removed: number }> {
  const connectors = await deps.orm.em.fork().getConnection().execute<{ id: string; name: string }[]>('SELECT id::text AS id, name FROM connector_instance ORDER BY name');
  const wanted = new Map<string, WantedSchedule>(
    connectors.map((c) => [
      reconcileScheduleId(c.id),
      {
        spec: { intervals: [{ every: deps.everyMinutes * 60_000 }] },
        action: {
          type: 'startWorkflow',
          workflowType: reconcileConnectorWorkflow,
          taskQueue: deps.taskQueue,
          workflowId: reconcileScheduleId(c.id),
          args: [{ connectorId: c.id }] as [{ connectorId: string }],
          searchAttributes: { GatehouseKind: ['reconcile'], GatehouseSubject: [`connector:${c.id}`] },
        },
        // One pass at a time per connector; a pass missed while the cluster was away is not made up twice.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
        memo: { connector: c.name },
      },
    ]),
  );
  return syncSchedules({ client: deps.client, taskQueue: deps.taskQueue, prefix: PREFIX, wanted });
}

export function reconcileScheduleService(deps: ReconcileScheduleDeps & { log: Pick<Logger, 'warn'>; resyncEveryMs?: number }): BackgroundService & { syncNow(): Promise<void> } {
  return scheduleSyncService('reconciliation schedules', () => syncReconcileSchedules(deps), deps.log, deps.resyncEveryMs);
}
