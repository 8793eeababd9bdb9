// A person's request for access (for themselves, or for a non-human identity they own): one change,
// run through the same path as every other source (decide, gate, apply). Workflow id
// `access-request:<change id>`, so asking twice for the same change starts nothing new.
import type { AccessChangeInput } from '../../policies/access-change.js';
import { runChange } from '../change/run-change.js';
import type { ChangeOutcome } from '../change/change-types.js';

export const accessRequestWorkflowId = (changeId: string) => `access-request:${changeId}`;

export async function accessRequestWorkflow(input: { change: AccessChangeInput }): Promise<ChangeOutcome> {
  return runChange(input.change);
}
