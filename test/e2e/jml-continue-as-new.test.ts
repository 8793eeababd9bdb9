// A person's workflow lives as long as they do, so it continues as new before its history grows:
// after maxEventsPerRun events (or when Temporal suggests it). What it must not lose goes across:
// events not handled yet, and the ids of those handled (a duplicate after the hand-over is still
// nothing). Real Temporal, real runs through the JML activities.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/access-world.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';
import { identityEventSignal, identityStateQuery, identityWorkflow, identityWorkflowId } from '../../workflows/jml/workflow.js';

describe('the identity workflow continues as new', () => {
  let w: JmlWorld;

  beforeAll(async () => {
    w = await startJmlWorld();
    await w.publish(birthrightPolicy(w));
  });

  afterAll(async () => {
    await w?.close();
  });

  it('after maxEventsPerRun events, carrying what is pending and what was handled', async () => {
    const cara = await w.join({ key: 'cara', name: 'Cara Continued' });
    await w.waitForRun(cara);
    const workflowId = identityWorkflowId(w.directoryId, cara);
    // Started again with a small bound, as a long-lived person's workflow would be after many events.
    await w.temporal.client.workflow.getHandle(workflowId).terminate('test: start again with a small bound');
    const events = [randomUUID(), randomUUID(), randomUUID()].map((id) => ({ id, kind: 'updated' as const }));
    await w.temporal.client.workflow.signalWithStart(identityWorkflow, {
      workflowId,
      taskQueue: w.temporal.taskQueue,
      args: [{ directoryId: w.directoryId, identityId: cara, maxEventsPerRun: 2 }],
      signal: identityEventSignal,
      signalArgs: [events[0]!],
    });
    const handle = w.temporal.client.workflow.getHandle(workflowId);
    await handle.signal(identityEventSignal, events[1]!);
    await handle.signal(identityEventSignal, events[2]!);
    await w.waitForRun(cara, 4);

    await waitUntil('the continued-as-new run in visibility', async () => {
      const statuses: string[] = [];
      for await (const r of w.temporal.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) statuses.push(r.status.name);
      return statuses.includes('CONTINUED_AS_NEW') ? statuses : undefined;
    });
    const state = await w.temporal.client.workflow.getHandle(workflowId).query(identityStateQuery);
    expect(state).toMatchObject({ pending: [], handledThisRun: 1 });
    // The two handled before continuing as new are still remembered, with the one handled since.
    expect(state.remembered).toBe(3);

    // A duplicate of an event handled in the earlier run is nothing; a new event is a new run.
    await handle.signal(identityEventSignal, events[0]!);
    const fresh = { id: randomUUID(), kind: 'updated' as const };
    await handle.signal(identityEventSignal, fresh);
    const fifth = await w.waitForRun(cara, 5);
    expect(fifth.eventId).toBe(fresh.id);
    expect((await w.runsOf(cara)).map((r) => r.eventId)).toEqual([expect.any(String), ...events.map((e) => e.id), fresh.id]);
  });
});
