// The identity events SCIM writes to the outbox, in the same transaction as the change, for the
// joiner-mover-leaver workflows. One schema, so producer and consumer agree on the shape.
import { z } from 'zod';
import { sameJson } from './scim-values.js';

export const IDENTITY_EVENT_KINDS = ['created', 'updated', 'deactivated', 'reactivated', 'deleted'] as const;

export const identityEventSchema = z.object({
  /** Unique per event: the consumer's idempotency key (delivery is at least once). */
  id: z.uuid(),
  /** Position in the outbox; increases with commit order for any one identity. */
  seq: z.string().regex(/^\d+$/),
  directoryId: z.uuid(),
  resourceType: z.enum(['User', 'Group']),
  resourceId: z.uuid(),
  /** `identity:<directory>:<id>`, the business key a consumer orders and deduplicates by. */
  identityKey: z.string(),
  kind: z.enum(IDENTITY_EVENT_KINDS),
  /** The resource's meta.version after the change (for deleted: the last version). */
  version: z.number().int().positive(),
  occurredAt: z.string(),
  /** The directory token that made the change. */
  actor: z.object({ tokenId: z.uuid() }),
  /** Top-level attributes whose values changed (names as in the schema; extension URNs for extensions). */
  changedAttributes: z.array(z.string()),
  /**
   * The stored attributes after the change (for deleted: before it), with `id`. Group membership is
   * not in it: see groupsAdded/groupsRemoved and membersAdded/membersRemoved.
   */
  resource: z.record(z.string(), z.unknown()),
  /** Users: the groups this change added the user to or removed them from. */
  groupsAdded: z.array(z.uuid()).optional(),
  groupsRemoved: z.array(z.uuid()).optional(),
  /** Groups: the members this change added or removed. */
  membersAdded: z.array(z.uuid()).optional(),
  membersRemoved: z.array(z.uuid()).optional(),
});

export type IdentityEvent = z.infer<typeof identityEventSchema>;

/** What the store writes; seq and occurredAt are assigned by PostgreSQL. */
export type NewIdentityEvent = Omit<IdentityEvent, 'seq' | 'occurredAt'>;

export const identityKey = (directoryId: string, resourceId: string) => `identity:${directoryId}:${resourceId}`;

/** created / updated / deactivated / reactivated from the active flag before and after. */
export function kindOfUpdate(before: unknown, after: unknown): 'updated' | 'deactivated' | 'reactivated' {
  const wasActive = before !== false;
  const isActive = after !== false;
  if (wasActive && !isActive) return 'deactivated';
  if (!wasActive && isActive) return 'reactivated';
  return 'updated';
}

/** Top-level attribute names whose values differ between two stored resources. */
export function changedAttributes(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !sameJson(before[k], after[k])).sort();
}
