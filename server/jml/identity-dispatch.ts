// Hands identity events from the SCIM outbox to the joiner-mover-leaver workflows: signal-with-start
// of the person's workflow (`identity:<directory>:<id>`), so it starts on a person's first event and
// is told of every later one, in order. A group's membership change is told to each member it added
// or removed (their birthright may depend on the group). Resolves once Temporal has the signal, so
// the dispatcher marks the event delivered only then; a duplicate delivery carries the same event id.
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
    if (event.resourceType === 'User') {
      await signal(event.directoryId, event.resourceId, { id: event.id, kind: event.kind, seq: event.seq });
      return;
    }
    const members = [...new Set([...(event.membersAdded ?? []), ...(event.membersRemoved ?? [])])];
    await Promise.all(members.map((m) => signal(event.directoryId, m, { id: `${event.id}:${m}`, kind: 'group-membership', seq: event.seq })));
  };
}
