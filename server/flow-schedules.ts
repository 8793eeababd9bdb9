// One Temporal Schedule per flow whose version in force has a schedule trigger (`flow-schedule:<name>`),
// made to match the published flows at start, after every publication and every few minutes, on any
// replica (idempotent): created for a newly scheduled flow, updated when its cron or time zone
// changes, deleted when its version in force is manual again. A tick starts a run that opens itself
// against the version in force then, and is skipped while another run of the flow is going.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { FlowDocument } from '../workflows/flows/flow-document.js';
import { flowRunWorkflow, type ScheduledFlowRun } from '../workflows/flows/workflow.js';
import type { BackgroundService } from './modules.js';

const PREFIX = 'flow-schedule:';
export const flowScheduleId = (flowName: string) => `${PREFIX}${flowName}`;

export interface FlowScheduleDeps {
  orm: MikroORM;
  client: Client;
  taskQueue: string;
}

export async function syncFlowSchedules(deps: FlowScheduleDeps): Promise<{ scheduled: number; removed: number }> {
  const flows = await deps.orm.em.fork().getConnection().execute<{ flow_name: string; trigger: FlowDocument['trigger'] }[]>(
    `SELECT DISTINCT ON (p.flow_name) p.flow_name, v.document -> 'trigger' AS trigger
       FROM flow_publication p JOIN flow_version v USING (version_hash) ORDER BY p.flow_name, p.seq DESC`,
  );
  const wanted = new Map(
    flows.flatMap((f) => (f.trigger.type === 'schedule' ? [[flowScheduleId(f.flow_name), { name: f.flow_name, cron: f.trigger.cron, timezone: f.trigger.timezone }] as const] : [])),
  );
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
  for (const [scheduleId, f] of wanted) {
    const action = {
      type: 'startWorkflow' as const,
      workflowType: flowRunWorkflow,
      taskQueue: deps.taskQueue,
      workflowId: `flow:${f.name}`,
      args: [{ flowName: f.name, scheduled: true }] as [ScheduledFlowRun],
    };
    const spec = { cronExpressions: [f.cron], timezone: f.timezone };
    try {
      // One run at a time; ticks missed while the cluster was away are not made up, the next reads everything new anyway.
      await deps.client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' }, memo: { flow: f.name, taskQueue: deps.taskQueue } });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await deps.client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    }
  }
  return { scheduled: wanted.size, removed };
}

export function flowScheduleService(deps: FlowScheduleDeps & { log: Pick<Logger, 'warn'>; resyncEveryMs?: number }): BackgroundService & { syncNow(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const syncNow = (): Promise<void> => {
    // A publication during a sync is synced right after it, so its schedule is never left behind.
    if (running) {
      again = true;
      return running;
    }
    running = syncFlowSchedules(deps)
      .then(() => undefined)
      .catch((err: unknown) => deps.log.warn({ err: (err as Error).message }, 'syncing the flow schedules failed; trying again later'))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          void syncNow();
        }
      });
    return running;
  };
  return {
    name: 'flow schedules',
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
