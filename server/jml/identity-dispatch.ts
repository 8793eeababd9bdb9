// Hands identity events from the SCIM outbox to the joiner-mover-leaver workflows: signal-with-start
// of the person's workflow (`identity:<directory>:<id>`), so it starts on a person's first event and
// is told of every later one, in order. Group events need no workflow: SCIM writes an event for
// every user a membership change touches (groupsAdded, groupsRemoved), and that one is delivered.
// Resolves once Temporal has the signal, so the dispatcher marks the event delivered only then; a
// duplicate delivery carries the same event id.
import type { Client } from '@temporalio/client';
import type { IdentityEvent } from '../../scim/identity-event.js';
import type { IdentityEventRef } from '../../workflows/jml/jml-types.js';
import { identityEventSignal, identityWorkflow, identityWorkflowId } from '../../workflows/jml/workflow.js';

export function createIdentityDispatch(deps: { client: Client; taskQueue: string }): (event: IdentityEvent) => Promise<void> {
  const signal = async (directoryId: string, identityId: string, ref: IdentityEventRef) => {
    const workflowId = identityWorkflowId(directoryId, identityId);
    await deps.client.workflow.signalWithStart(identityWorkflow, {
      workflowId,
      taskQueue: deps.taskQueue,
      args: [{ directoryId, identityId }],
      signal: identityEventSignal,
      signalArgs: [ref],
      searchAttributes: { GatehouseKind: ['jml'], GatehouseSubject: [workflowId] },
    });
  };
  return async (event) => {
    if (event.resourceType !== 'User') return;
    await signal(event.directoryId, event.resourceId, { id: event.id, kind: event.kind, seq: event.seq });
  };
}
