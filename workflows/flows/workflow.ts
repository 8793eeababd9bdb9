// One run of a sync flow (workflow id `flow:<name>`, so one run per flow at a time): page after page
// until the source has nothing more, then the run is closed with its counts on the ledger. A long
// backfill continues as new after PAGES_PER_HISTORY pages; the cursor lives in PostgreSQL, so the
// new history carries on exactly where the old one stopped. A page that keeps failing fails the run
// with the reason (refusals at once, transient failures after the flow's retries).
import { ApplicationFailure, condition, continueAsNew, defineSignal, proxyActivities, setHandler, uuid4 } from '@temporalio/workflow';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { runChange } from '../change/run-change.js';
import type { ChangeOutcome } from '../change/change-types.js';
import type { FlowActivities, FlowRunRef } from './activities.js';


const PAGES_PER_HISTORY = 5000;
/** How often a run waiting for its plan's approval looks at the plan again. */
const PLAN_RECHECK_MS = 5 * 60_000;

export interface FlowRunInput extends FlowRunRef {
  /** Attempts per page (the flow's errors.retries, plus the first). */
  attempts: number;
  /** The run works out its plan first, and may wait for its approval (the flow has plan rules). */
  planned?: boolean;
  /** Once planned: the hash of the cursor its plan ends at; the run writes up to there. */
  until?: string;
  /** Pages this run wrote in earlier histories. */
  pagesBefore?: number;
}

/** How a Temporal Schedule starts a flow: by name; the run is opened against the version in force then. */
export interface ScheduledFlowRun {
  flowName: string;
  scheduled: true;
}

/** Someone decided the run's plan (the decision itself is in PostgreSQL, on the ledger): look again. */
export const flowPlanDecided = defineSignal('flowPlanDecided');

const planning = proxyActivities<Pick<FlowActivities, 'planFlowRun'>>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', backoffCoefficient: 2, maximumAttempts: 5 },
});

const close = proxyActivities<Pick<FlowActivities, 'finishFlowRun' | 'openScheduledFlowRun' | 'expireFlowPlan'>>({
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
  const fail = async (message: string) => {
    await close.finishFlowRun({ ...ref, status: 'failed', error: message });
    return ApplicationFailure.nonRetryable(`flow ${input.flowName}: the run failed: ${message}`, 'FlowRunFailed');
  };
  let until = input.until;
  if (input.planned && !until) {
    // The plan first; where it needs a person, wait for their decision (told by signal), then plan
    // again: an approved plan goes ahead only if the live diff still matches it.
    let decided = false;
    setHandler(flowPlanDecided, () => void (decided = true));
    for (;;) {
      let step: Awaited<ReturnType<typeof planning.planFlowRun>>;
      try {
        step = await planning.planFlowRun(ref);
      } catch (err) {
        const cause = err instanceof ApplicationFailure ? err : ((err as { cause?: unknown }).cause ?? err);
        throw await fail(`its plan could not be worked out: ${(cause as Error).message ?? String(cause)}`);
      }
      if (step.status === 'approved') {
        until = step.until;
        break;
      }
      if (step.status === 'closed') throw await fail(step.reason);
      decided = false;
      // Told by signal; and every few minutes the run looks again anyway (a lost signal, a source
      // that changed while the plan waited: a new plan is proposed).
      const wait = Math.min(step.deadlineMs, PLAN_RECHECK_MS);
      if (!(await condition(() => decided, wait)) && step.deadlineMs <= PLAN_RECHECK_MS) {
        await close.expireFlowPlan({ ...ref, digest: step.digest });
        throw await fail('its plan was not decided before its deadline');
      }
    }
  }
  let pages = 0;
  let complete = false;
  try {
    while (!complete && pages < PAGES_PER_HISTORY) {
      const done = await runFlowPages({ ...ref, ...(until ? { until } : {}) });
      complete = done.complete;
      pages += done.pages;
    }
  } catch (err) {
    const cause = err instanceof ApplicationFailure ? err : ((err as { cause?: unknown }).cause ?? err);
    throw await fail((cause as Error).message ?? String(cause));
  }
  if (!complete) return continueAsNew<typeof flowRunWorkflow>({ ...input, ...(until ? { until } : {}), pagesBefore: (input.pagesBefore ?? 0) + pages });
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
