// The benchmark's baseline: the same shape as a joiner in the identity workflow (signal-with-start,
// open the run, plan, then decide and apply each of five changes, close the run) with activities
// that do nothing. What Gatehouse adds on top of Temporal is the difference.
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BareActivities } from './activities.js';

const act = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });

export const bareEventSignal = defineSignal<[{ id: string }]>('identityEvent');

export async function bareJoinerWorkflow(input: { steps: number }): Promise<number> {
  let event: { id: string } | undefined;
  setHandler(bareEventSignal, (e) => {
    event ??= e;
  });
  await condition(() => event !== undefined);
  await act.noop();
  await act.noop();
  for (let i = 0; i < input.steps; i++) {
    await act.noop();
    await act.noop();
  }
  await act.noop();
  return input.steps;
}
