// Rotations through Temporal: starting one (on request, for a leaver), and one Temporal Schedule per
// credential with a max-age policy. A schedule checks often enough (a tenth of the max age, between
// an hour and a week) that the rotation it starts, which acts only once the credential is due
// (nine tenths of its max age), keeps every credential younger than its max age. A reconciler
// makes the schedules match the credentials at start and every few minutes, on any replica.
import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { RotationScheduler, RotationStarter } from '../connectors/credentials/credential-service.js';
import { Credential } from '../connectors/credentials/credential.entity.js';
import type { RotationRequest } from '../connectors/credentials/rotation-types.js';
import { credentialRotationWorkflow } from '../workflows/rotation/workflow.js';
import type { Logger } from './logger.js';
import type { BackgroundService } from './modules.js';

export const SCHEDULE_PREFIX = 'rotation-schedule:';
export const scheduleIdOf = (credentialId: string) => `${SCHEDULE_PREFIX}${credentialId}`;

/** How often a credential's schedule checks whether it is due, in minutes. */
export function checkEveryMinutes(maxAgeDays: number): number {
  return Math.round(Math.min(7 * 24 * 60, Math.max(60, (maxAgeDays * 24 * 60) / 10)));
}

export interface TemporalRotationDeps {
  client: Client;
  taskQueue: string;
}

export function createTemporalRotations(deps: TemporalRotationDeps): RotationStarter & RotationScheduler {
  const attributes = (credentialId: string) => ({ GatehouseKind: ['rotation'], GatehouseSubject: [`credential:${credentialId}`] });
  const action = (credential: { id: string; name: string }) => ({
    type: 'startWorkflow' as const,
    workflowType: credentialRotationWorkflow,
    taskQueue: deps.taskQueue,
    workflowId: `rotation:${credential.id}:scheduled`,
    args: [{ credentialId: credential.id, reason: 'schedule', requestedBy: { kind: 'system', id: 'rotation-schedule', display: `max-age schedule of ${credential.name}` } } satisfies RotationRequest] as [RotationRequest],
    searchAttributes: attributes(credential.id),
  });
  const spec = (maxAgeDays: number) => ({ intervals: [{ every: checkEveryMinutes(maxAgeDays) * 60_000 }] });

  return {
    async start(request, workflowId) {
      try {
        await deps.client.workflow.start(credentialRotationWorkflow, {
          taskQueue: deps.taskQueue,
          workflowId,
          args: [request],
          searchAttributes: attributes(request.credentialId),
        });
        return { workflowId, started: true };
      } catch (err) {
        // One rotation per id at a time: a second request joins the one that runs.
        if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
        throw err;
      }
    },

    async sync(credential) {
      const scheduleId = scheduleIdOf(credential.id);
      if (credential.maxAgeDays === null) {
        await deps.client.schedule
          .getHandle(scheduleId)
          .delete()
          .catch((err: unknown) => {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
          });
        return;
      }
      const maxAgeDays = credential.maxAgeDays;
      try {
        await deps.client.schedule.create({
          scheduleId,
          spec: spec(maxAgeDays),
          action: action(credential),
          policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
          memo: { credential: credential.name, maxAgeDays, taskQueue: deps.taskQueue },
        });
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        await deps.client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec: spec(maxAgeDays), action: action(credential) }));
      }
    },

    async remove(credentialId) {
      await deps.client.schedule
        .getHandle(scheduleIdOf(credentialId))
        .delete()
        .catch((err: unknown) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
    },
  };
}

/** Whether a workflow run still runs: the rotation lease of one that ended (terminated, say) may be taken over. */
export function workflowIsRunning(client: Client): (workflowId: string, runId?: string) => Promise<boolean> {
  return async (workflowId, runId) => {
    try {
      return (await client.workflow.getHandle(workflowId, runId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
}

/** Makes the rotation schedules match the credentials: creates, updates and deletes. */
export async function reconcileRotationSchedules(deps: { orm: MikroORM; client: Client; schedules: RotationScheduler; taskQueue: string }): Promise<{ synced: number; removed: number }> {
  const rows = await deps.orm.em.fork().find(Credential, {}, { fields: ['id', 'name', 'maxAgeDays'] });
  const wanted = new Map(rows.filter((r) => r.maxAgeDays).map((r) => [scheduleIdOf(r.id), r]));
  let removed = 0;
  for await (const schedule of deps.client.schedule.list()) {
    // Only this deployment's schedules (its task queue): others may share the Temporal namespace.
    if (!schedule.scheduleId.startsWith(SCHEDULE_PREFIX) || wanted.has(schedule.scheduleId) || schedule.memo?.taskQueue !== deps.taskQueue) continue;
    await deps.schedules.remove(schedule.scheduleId.slice(SCHEDULE_PREFIX.length));
    removed++;
  }
  for (const r of wanted.values()) await deps.schedules.sync({ id: r.id, name: r.name, maxAgeDays: r.maxAgeDays ?? null });
  return { synced: wanted.size, removed };
}

/** Runs the reconciler at start and then every `everyMs`, on every replica (it is idempotent). */
export function rotationScheduleReconciler(deps: { orm: MikroORM; client: Client; schedules: RotationScheduler; taskQueue: string; log: Logger; everyMs?: number }): BackgroundService {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= reconcileRotationSchedules(deps)
      .then(() => undefined)
      .catch((err: unknown) => deps.log.warn({ err: (err as Error).message }, 'reconciling rotation schedules failed; trying again later'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  return {
    name: 'rotation schedules',
    async start() {
      void run();
      timer = setInterval(() => void run(), deps.everyMs ?? 10 * 60_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
