// One run of a sync flow (workflow id `flow:<name>`, so one run per flow at a time): page after page
// until the source has nothing more, then the run is closed with its counts on the ledger. A long
// backfill continues as new after PAGES_PER_HISTORY pages; the cursor lives in PostgreSQL, so the
// new history carries on exactly where the old one stopped. A page that keeps failing fails the run
// with the reason (refusals at once, transient failures after the flow's retries).
import { ApplicationFailure, continueAsNew, proxyActivities, uuid4 } from '@temporalio/workflow';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { runChange } from '../change/run-change.js';
import type { ChangeOutcome } from '../change/change-types.js';
import type { FlowActivities, FlowRunRef } from './activities.js';


const PAGES_PER_HISTORY = 5000;

export interface FlowRunInput extends FlowRunRef {
  /** Attempts per page (the flow's errors.retries, plus the first). */
  attempts: number;
  /** Pages this run wrote in earlier histories. */
  pagesBefore?: number;
}

/** How a Temporal Schedule starts a flow: by name; the run is opened against the version in force then. */
export interface ScheduledFlowRun {
  flowName: string;
  scheduled: true;
}

const close = proxyActivities<Pick<FlowActivities, 'finishFlowRun' | 'openScheduledFlowRun'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

export async function flowRunWorkflow(start: FlowRunInput | ScheduledFlowRun): Promise<{ pages: number; skipped?: string }> {
  let input: FlowRunInput;
  if ('scheduled' in start) {
    const opened = await close.openScheduledFlowRun({ runId: uuid4(), flowName: start.flowName });
    // Another run still going, or the flow withdrawn: this tick does nothing (the schedule comes again).
    if ('skipped' in opened) return { pages: 0, skipped: opened.skipped };
    input = opened.run;
  } else {
    input = start;
  }
  const { runFlowPages } = proxyActivities<Pick<FlowActivities, 'runFlowPages'>>({
    startToCloseTimeout: '10 minutes',
    // Beaten after every page: a worker killed mid-activity is noticed in seconds, not at the timeout.
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', backoffCoefficient: 2, maximumAttempts: input.attempts },
  });
  const ref: FlowRunRef = { runId: input.runId, flowName: input.flowName, versionHash: input.versionHash };
  let pages = 0;
  let complete = false;
  try {
    while (!complete && pages < PAGES_PER_HISTORY) {
      const done = await runFlowPages(ref);
      complete = done.complete;
      pages += done.pages;
    }
  } catch (err) {
    const cause = err instanceof ApplicationFailure ? err : ((err as { cause?: unknown }).cause ?? err);
    const message = (cause as Error).message ?? String(cause);
    await close.finishFlowRun({ ...ref, status: 'failed', error: message });
    throw ApplicationFailure.nonRetryable(`flow ${input.flowName}: the run failed: ${message}`, 'FlowRunFailed');
  }
  if (!complete) return continueAsNew<typeof flowRunWorkflow>({ ...input, pagesBefore: (input.pagesBefore ?? 0) + pages });
  await close.finishFlowRun({ ...ref, status: 'succeeded' });
  return { pages: (input.pagesBefore ?? 0) + pages };
}

const replay = proxyActivities<Pick<FlowActivities, 'replayDeadLetter'>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Replays one dead letter (workflow id `flow-replay:<id>`), on a worker, where connectors and keys are. */
export async function flowReplayWorkflow(input: Parameters<FlowActivities['replayDeadLetter']>[0]) {
  return replay.replayDeadLetter(input);
}

const preview = proxyActivities<Pick<FlowActivities, 'previewFlow'>>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Previews a flow's next run (nothing is written), on a worker, where connectors and keys are. */
export async function flowPreviewWorkflow(input: Parameters<FlowActivities['previewFlow']>[0]) {
  return preview.previewFlow(input);
}

/** The workflow id of an access change a flow proposed: one per change, ever. */
export const flowChangeWorkflowId = (changeId: string) => `flow-change:${changeId}`;

/**
 * One access change a flow run proposed (a record written to a class that grants access): decided,
 * approved where policy says, applied, each on the ledger, like any change. Started by the run's page
 * activity, so a change waiting for approval holds up neither its page nor the run.
 */
export async function flowChangeWorkflow(change: AccessChangeInput): Promise<ChangeOutcome['status']> {
  return (await runChange(change)).status;
}
