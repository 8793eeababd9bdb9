// Inventory scans through Temporal: one now (on request; a second request joins the running one),
// and a Temporal Schedule that runs one every INVENTORY_SCAN_INTERVAL_HOURS.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Actor } from '../audit/index.js';
import { INVENTORY_SCAN_WORKFLOW_ID, inventoryScanWorkflow } from '../workflows/inventory-scan/workflow.js';

export const INVENTORY_SCAN_SCHEDULE_ID = 'inventory-scan-schedule';

export function createInventoryScans(deps: { client: Client; taskQueue: string }) {
  const searchAttributes = { GatehouseKind: ['inventory-scan'], GatehouseSubject: ['inventory'] };
  return {
    async start(actor: Actor): Promise<{ workflowId: string; started: boolean }> {
      try {
        await deps.client.workflow.start(inventoryScanWorkflow, { taskQueue: deps.taskQueue, workflowId: INVENTORY_SCAN_WORKFLOW_ID, args: [{ requestedBy: actor }], searchAttributes });
        return { workflowId: INVENTORY_SCAN_WORKFLOW_ID, started: true };
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId: INVENTORY_SCAN_WORKFLOW_ID, started: false };
        throw err;
      }
    },

    /** Creates the schedule, or brings its interval up to date. Idempotent, on any replica. */
    async ensureSchedule(everyHours: number): Promise<void> {
      const spec = { intervals: [{ every: everyHours * 3_600_000 }] };
      const action = { type: 'startWorkflow' as const, workflowType: inventoryScanWorkflow, taskQueue: deps.taskQueue, workflowId: INVENTORY_SCAN_WORKFLOW_ID, args: [{}] as [object], searchAttributes };
      try {
        await deps.client.schedule.create({ scheduleId: INVENTORY_SCAN_SCHEDULE_ID, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' } });
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        await deps.client.schedule.getHandle(INVENTORY_SCAN_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action }));
      }
    },
  };
}
