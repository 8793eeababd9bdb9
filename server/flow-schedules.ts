// One Temporal Schedule per flow whose version in force has a schedule trigger (`flow-schedule:<name>`),
// made to match the published flows at start, after every publication and every few minutes, on any
// replica (idempotent): created for a newly scheduled flow, updated when its cron or time zone
// changes, deleted when its version in force is manual again. A tick starts a run that opens itself
// against the version in force then, and is skipped while another run of the flow is going.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { FlowDocument } from '../workflows/flows/flow-document.js';
import { flowRunWorkflow, type ScheduledFlowRun } from '../workflows/flows/workflow.js';
import type { BackgroundService } from './modules.js';
import { scheduleSyncService, syncSchedules, type WantedSchedule } from './schedule-sync.js';

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
  const wanted = new Map<string, WantedSchedule>();
  for (const f of flows) {
    if (f.trigger.type !== 'schedule') continue;
    wanted.set(flowScheduleId(f.flow_name), {
      spec: { cronExpressions: [f.trigger.cron], timezone: f.trigger.timezone },
      action: { type: 'startWorkflow', workflowType: flowRunWorkflow, taskQueue: deps.taskQueue, workflowId: `flow:${f.flow_name}`, args: [{ flowName: f.flow_name, scheduled: true }] as [ScheduledFlowRun] },
      // One run at a time; ticks missed while the cluster was away are not made up, the next reads everything new anyway.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      memo: { flow: f.flow_name },
    });
  }
  const { synced, removed } = await syncSchedules({ client: deps.client, taskQueue: deps.taskQueue, prefix: PREFIX, wanted });
  return { scheduled: synced, removed };
}

export function flowScheduleService(deps: FlowScheduleDeps & { log: Pick<Logger, 'warn'>; resyncEveryMs?: number }): BackgroundService & { syncNow(): Promise<void> } {
  return scheduleSyncService('flow schedules', () => syncFlowSchedules(deps), deps.log, deps.resyncEveryMs);
}
