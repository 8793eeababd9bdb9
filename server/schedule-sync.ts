// Making a family of Temporal Schedules (one prefix, this deployment's task queue) match what should
// exist: created where missing, updated in place where present, deleted where no longer wanted.
// Idempotent, so any replica may run it at any time. Schedules of other deployments sharing the
// namespace (another task queue in their memo) are left alone.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { BackgroundService } from './modules.js';

export interface WantedSchedule {
  spec: ScheduleOptions['spec'];
  action: ScheduleOptions['action'];
  policies?: ScheduleOptions['policies'];
  memo?: Record<string, unknown>;
}

export async function syncSchedules(deps: { client: Client; taskQueue: string; prefix: string; wanted: Map<string, WantedSchedule> }): Promise<{ synced: number; removed: number }> {
  let removed = 0;
  for await (const s of deps.client.schedule.list()) {
    if (!s.scheduleId.startsWith(deps.prefix) || deps.wanted.has(s.scheduleId) || s.memo?.taskQueue !== deps.taskQueue) continue;
    await deps.client.schedule
      .getHandle(s.scheduleId)
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
    removed++;
  }
  for (const [scheduleId, w] of deps.wanted) {
    try {
      await deps.client.schedule.create({ scheduleId, spec: w.spec, action: w.action, ...(w.policies ? { policies: w.policies } : {}), memo: { ...w.memo, taskQueue: deps.taskQueue } });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await deps.client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec: w.spec, action: w.action }));
    }
  }
  return { synced: deps.wanted.size, removed };
}

/**
 * A background service that runs `sync` at start, every `everyMs`, and when asked (`syncNow`); a
 * request during a sync runs it again right after, so nothing asked for is left behind. A failure is
 * logged and tried again at the next turn.
 */
export function scheduleSyncService(name: string, sync: () => Promise<unknown>, log: { warn(obj: object, msg: string): void }, everyMs = 5 * 60_000): BackgroundService & { syncNow(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const syncNow = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = sync()
      .then(() => undefined)
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, `syncing the ${name} failed; trying again later`))
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
    name,
    syncNow,
    async start() {
      void syncNow();
      timer = setInterval(() => void syncNow(), everyMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
