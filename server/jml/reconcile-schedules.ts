// One Temporal Schedule per connector (`reconcile:<connector id>`) that runs its reconciliation every
// RECONCILE_INTERVAL_MINUTES. The schedules are made to match the connectors at start and every few
// minutes, on any replica (idempotent): created for new connectors, updated when the interval
// changes, deleted when a connector is.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { reconcileConnectorWorkflow, reconcileScheduleId } from '../../workflows/reconcile/workflow.js';
import type { BackgroundService } from '../modules.js';

const PREFIX = reconcileScheduleId('');

export interface ReconcileScheduleDeps {
  orm: MikroORM;
  client: Client;
  taskQueue: string;
  everyMinutes: number;
}

export async function syncReconcileSchedules(deps: ReconcileScheduleDeps): Promise<{ synced: number; removed: number }> {
  const connectors = await deps.orm.em.fork().getConnection().execute<{ id: string; name: string }[]>('SELECT id::text AS id, name FROM connector_instance ORDER BY name');
  const wanted = new Map(connectors.map((c) => [reconcileScheduleId(c.id), c]));
  let removed = 0;
  for await (const s of deps.client.schedule.list()) {
    // Only this deployment's schedules (its task queue): others may share the Temporal namespace.
    if (!s.scheduleId.startsWith(PREFIX) || wanted.has(s.scheduleId) || s.memo?.taskQueue !== deps.taskQueue) continue;
    await deps.client.schedule
      .getHandle(s.scheduleId)
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
    removed++;
  }
  for (const [scheduleId, c] of wanted) {
    const action = {
      type: 'startWorkflow' as const,
      workflowType: reconcileConnectorWorkflow,
      taskQueue: deps.taskQueue,
      workflowId: scheduleId,
      args: [{ connectorId: c.id }] as [{ connectorId: string }],
      searchAttributes: { GatehouseKind: ['reconcile'], GatehouseSubject: [`connector:${c.id}`] },
    };
    const spec = { intervals: [{ every: deps.everyMinutes * 60_000 }] };
    try {
      // One pass at a time per connector; a pass missed while the cluster was away is not made up twice.
      await deps.client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' }, memo: { connector: c.name, taskQueue: deps.taskQueue } });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await deps.client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    }
  }
  return { synced: wanted.size, removed };
}

export function reconcileScheduleService(deps: ReconcileScheduleDeps & { log: Pick<Logger, 'warn'>; resyncEveryMs?: number }): BackgroundService & { syncNow(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const syncNow = () => {
    running ??= syncReconcileSchedules(deps)
      .then(() => undefined)
      .catch((err: unknown) => deps.log.warn({ err: (err as Error).message }, 'syncing the reconciliation schedules failed; trying again later'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  return {
    name: 'reconciliation schedules',
    syncNow,
    async start() {
      void syncNow();
      timer = setInterval(() => void syncNow(), deps.resyncEveryMs ?? 5 * 60_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
