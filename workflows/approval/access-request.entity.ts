// The approval gate's record of each request, kept by its workflow's activities so the inbox and
// the requests API can list and filter without asking Temporal. Temporal stays the authority on
// what may happen next; this is what has happened.
import { defineEntity, p } from '@mikro-orm/core';

export const ACCESS_REQUEST_STATUSES = ['pending', 'approved', 'denied', 'expired', 'cancelled'] as const;

export const AccessRequest = defineEntity({
  name: 'AccessRequest',
  tableName: 'access_request',
  properties: {
    /** The change id. */
    id: p.uuid().primary(),
    workflowId: p.text(),
    status: p.enum([...ACCESS_REQUEST_STATUSES]).default('pending'),
    kind: p.text(),
    subjectId: p.text(),
    subjectType: p.text(),
    requesterId: p.text(),
    connectorId: p.text(),
    entitlementId: p.text().nullable(),
    /** The AccessChange (never a secret). */
    change: p.json<Record<string, unknown>>(),
    policyName: p.text(),
    policyVersionHash: p.text(),
    reasons: p.json<string[]>(),
    stages: p.json<unknown[]>(),
    participants: p.json<Record<string, unknown>>(),
    currentStage: p.text().nullable(),
    escalated: p.boolean().default(false),
    decisions: p.json<unknown[]>(),
    closingReason: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    closedAt: p.datetime().nullable(),
  },
});

export const AccessRequestEvent = defineEntity({
  name: 'AccessRequestEvent',
  tableName: 'access_request_event',
  properties: {
    requestId: p.uuid().primary(),
    seq: p.integer().primary(),
    kind: p.text(),
    stage: p.text().nullable(),
    actorId: p.text().nullable(),
    reason: p.text().nullable(),
    at: p.datetime(),
  },
});
