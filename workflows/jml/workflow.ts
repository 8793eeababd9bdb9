// One long-lived workflow per person (`identity:<directory>:<id>`), told of each identity event by
// signal-with-start, so one person's events are handled one at a time, in order. Each event is a
// run: plan the person's access from the policy's birthright rules against what they hold, then run
// every change through the per-change path (decide, gate, apply, record); when a change fails, undo
// what the run applied, newest first, each undo recorded. A duplicate event changes nothing: the
// workflow remembers the events it handled (bounded, carried across continue-as-new), and a run is
// unique per event id in PostgreSQL besides.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  executeChild,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { failureOf, runChange, undoChange } from '../change/run-change.js';
import { leaverCredentialsWorkflow, leaverCredentialsWorkflowId } from '../leaver-credentials/workflow.js';
import type { ChangeFailure, ChangeOutcome } from '../change/change-types.js';
import type { JmlActivities } from './activities.js';
import type { AccessPlan, IdentityEventRef, NhiHandOver, PlanStep, RunKind, RunStatus, StepResult } from './jml-types.js';

/** Opening, planning and closing a run must happen: retried until the database and the ledger answer. */
const jml = proxyActivities<Pick<JmlActivities, 'startIdentityRun' | 'planIdentityAccess' | 'finishRun'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

export const identityWorkflowId = (directoryId: string, identityId: string) => `identity:${directoryId}:${identityId}`;

export const identityEventSignal = defineSignal<[IdentityEventRef]>('identityEvent');
/** An admin stops a run: pending approvals close as cancelled, and what the run applied is undone. */
export const cancelRunSignal = defineSignal<[{ runId: string; by: string; reason: string }]>('cancelRun');

export interface IdentityWorkflowState {
  pending: string[];
  current?: { runId: string; eventId: string; kind?: RunKind };
  remembered: number;
  handledThisRun: number;
}
export const identityStateQuery = defineQuery<IdentityWorkflowState>('state');

export interface IdentityWorkflowInput {
  directoryId: string;
  identityId: string;
  /** Carried across continue-as-new: events not handled yet, and the ids of those handled. */
  pending?: IdentityEventRef[];
  processed?: string[];
  /** Events handled before continuing as new (history stays small); continue-as-new also happens when Temporal suggests it. */
  maxEventsPerRun?: number;
}

const DEFAULT_MAX_EVENTS_PER_RUN = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The leaver's non-human identities (hand-over to the manager, then rotation) came after the first
 * release of this workflow: runs recorded before it must replay without the child workflow.
 */
export const LEAVER_NHI_PATCH = 'jml-leaver-nhi-handover';
/** How many handled event ids the workflow remembers; older duplicates are caught by the run's unique event id. */
export const REMEMBERED_EVENTS = 1000;

const OUTCOME_STATUS: Record<ChangeOutcome['status'], StepResult['status']> = {
  applied: 'applied',
  denied: 'denied',
  rejected: 'rejected',
  expired: 'expired',
  cancelled: 'cancelled',
  failed: 'failed',
};

function toChange(step: PlanStep, plan: AccessPlan, changeId: string, workflowId: string): AccessChangeInput {
  return {
    id: changeId,
    kind: step.kind,
    subject: { type: plan.subject.type, id: plan.subject.id, ...(plan.subject.directoryId ? { directoryId: plan.subject.directoryId } : {}) },
    target: {
      connectorId: step.connectorId,
      ...(step.accountName ? { accountName: step.accountName } : {}),
      ...(step.entitlementId ? { entitlement: { id: step.entitlementId } } : {}),
    },
    source: 'jml',
    requester: { kind: 'workflow', id: workflowId },
    justification: `${plan.kind}: ${step.because.join(', ')}`.slice(0, 4000),
    ...(step.kind === 'create-account' && step.attributes && Object.keys(step.attributes).length ? { attributes: step.attributes } : {}),
  };
}

function resultOf(step: PlanStep, outcome: ChangeOutcome): StepResult {
  return {
    changeId: outcome.changeId,
    kind: step.kind,
    connectorId: step.connectorId,
    connectorName: step.connectorName,
    ...(step.entitlementId ? { entitlementId: step.entitlementId } : {}),
    ...(step.accountName ? { accountName: step.accountName } : {}),
    status: OUTCOME_STATUS[outcome.status],
    ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
  };
}

export async function identityWorkflow(input: IdentityWorkflowInput): Promise<void> {
  const { directoryId, identityId } = input;
  const workflowId = workflowInfo().workflowId;
  const maxEvents = input.maxEventsPerRun ?? DEFAULT_MAX_EVENTS_PER_RUN;
  const pending: IdentityEventRef[] = [...(input.pending ?? [])];
  const processed: string[] = [...(input.processed ?? [])];
  const seen = new Set(processed);
  let current: { runId: string; eventId: string; kind?: RunKind; scope?: CancellationScope; cancelledBy?: { by: string; reason: string }; superseded?: boolean } | undefined;
  let handled = 0;

  setHandler(identityEventSignal, (event) => {
    if (seen.has(event.id) || current?.eventId === event.id || pending.some((p) => p.id === event.id)) return;
    pending.push(event);
    // The newest state wins: a run still working on an older one stops (what it applied stays, and
    // the next plan starts from it). A leaver's removals always run to their end.
    if (current?.scope && current.kind !== 'leaver' && !current.cancelledBy) {
      current.superseded = true;
      current.scope.cancel();
    }
  });
  setHandler(cancelRunSignal, ({ runId, by, reason }) => {
    if (current?.runId !== runId || !current.scope || current.superseded) return;
    current.cancelledBy = { by, reason };
    current.scope.cancel();
  });
  setHandler(identityStateQuery, () => ({
    pending: pending.map((e) => e.id),
    ...(current ? { current: { runId: current.runId, eventId: current.eventId, ...(current.kind ? { kind: current.kind } : {}) } } : {}),
    remembered: processed.length,
    handledThisRun: handled,
  }));

  const remember = (id: string) => {
    seen.add(id);
    processed.push(id);
    while (processed.length > REMEMBERED_EVENTS) seen.delete(processed.shift()!);
  };

  /** Handles one event as one run; true when the directory no longer has the person. */
  async function handle(event: IdentityEventRef): Promise<boolean> {
    const started = await jml.startIdentityRun({ runId: uuid4(), directoryId, identityId, event });
    // Handled before (a duplicate delivery after this workflow forgot it): nothing to do again.
    if (started.existing && started.status !== 'running') return false;
    const runId = started.runId;
    const scope = new CancellationScope();
    current = { runId, eventId: event.id, scope };
    const steps: StepResult[] = [];
    const applied: string[] = [];
    let plan: AccessPlan | undefined;
    let failure: ChangeFailure | undefined;
    let stopped: 'cancelled' | 'superseded' | undefined;
    try {
      await scope.run(async () => {
        plan = await jml.planIdentityAccess({ runId, directoryId, identityId });
        current!.kind = plan.kind;
        for (const step of plan.steps) {
          // A gate closed by the cancellation answers `cancelled` rather than throwing: stop there.
          if (scope.consideredCancelled) break;
          const outcome = await runChange(toChange(step, plan, uuid4(), workflowId));
          steps.push(resultOf(step, outcome));
          if (outcome.status === 'applied') applied.push(outcome.changeId);
          if (outcome.status === 'failed') {
            failure ??= outcome.error;
            // A leaver loses everything that can be taken: one failed removal does not stop the others.
            if (plan.kind !== 'leaver') break;
          }
        }
      });
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
    if (current.cancelledBy) stopped = 'cancelled';
    else if (current.superseded) stopped = 'superseded';

    const kind: RunKind = plan?.kind ?? 'no-change';
    let status: RunStatus;
    const undoAll = async (reason: string): Promise<boolean> => {
      let complete = true;
      for (const changeId of [...applied].reverse()) {
        const undone = await undoChange(changeId, reason);
        const step = steps.find((s) => s.changeId === changeId)!;
        step.compensation = undone.status;
        if (undone.status === 'failed' || undone.status === 'impossible') complete = false;
      }
      return complete;
    };
    if (stopped === 'superseded') status = 'superseded';
    else if (stopped === 'cancelled') {
      // Removals are never given back: undoing a leaver's revoke would return access to someone who left.
      if (kind !== 'leaver') await undoAll(`run ${runId} cancelled by ${current.cancelledBy!.by}: ${current.cancelledBy!.reason}`);
      status = 'cancelled';
    } else if (failure) {
      status = kind === 'leaver' ? 'failed' : (await undoAll(`run ${runId} failed: ${failure.type}: ${failure.message}`.slice(0, 1000))) ? 'compensated' : 'failed';
    } else status = steps.every((s) => s.status === 'applied') ? 'completed' : 'partial';

    // The leaver may know the secrets of what they owned: every non-human identity goes to their
    // manager (or is flagged orphaned), then has its credentials rotated, each rotation a saga of its own.
    let nhi: NhiHandOver | undefined;
    if (kind === 'leaver' && !stopped && patched(LEAVER_NHI_PATCH)) {
      try {
        const managerId = plan?.subject.attributes.managerId;
        const input = {
          directoryId,
          identityId,
          // The directory's manager as the plan resolved it (a SCIM id); none known: the credentials are flagged orphaned.
          managerId: managerId && UUID.test(managerId) ? managerId : null,
          actor: { kind: 'workflow' as const, id: workflowId, display: 'leaver hand-over' },
        };
        const result = await executeChild(leaverCredentialsWorkflow, { workflowId: leaverCredentialsWorkflowId(input), args: [input] });
        nhi = {
          handedOver: result.handedOver.map((h) => ({ credentialId: h.credentialId, name: h.name, outcome: h.outcome })),
          rotations: result.rotations.map((r) => ({ credentialId: r.credentialId, status: r.status })),
        };
        if (result.rotations.some((r) => r.status === 'failed' || r.status === 'refused')) status = 'failed';
      } catch (err) {
        nhi = { handedOver: [], rotations: [], error: failureOf(err) };
        status = 'failed';
      }
    }

    await jml.finishRun({
      runId,
      directoryId,
      subjectId: identityId,
      kind,
      status,
      steps,
      ...(failure ? { error: failure } : stopped === 'cancelled' ? { error: { type: 'Cancelled', message: `cancelled by ${current.cancelledBy!.by}: ${current.cancelledBy!.reason}` } } : nhi?.error ? { error: nhi.error } : {}),
      ...(nhi ? { nhi } : {}),
    });
    current = undefined;
    return plan?.inDirectory === false && !stopped;
  }

  for (;;) {
    await condition(() => pending.length > 0);
    const event = pending.shift()!;
    const gone = await handle(event);
    remember(event.id);
    handled++;
    // A person deleted from the directory has nothing left to follow; a later event starts a new workflow.
    if (gone && !pending.length) {
      await condition(allHandlersFinished);
      if (!pending.length) return;
    }
    if (handled >= maxEvents || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof identityWorkflow>({ directoryId, identityId, pending, processed, maxEventsPerRun: maxEvents });
    }
  }
}
