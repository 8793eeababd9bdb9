// Object classes: the records a connector reads and writes beyond accounts and entitlements (a
// table's rows, an API's JSON collection, a file's lines), as ConnId's object classes do. A class
// declares its fields, the key that identifies a record, and the cursor field an incremental read
// resumes from. Its `kind` says what writing to it means: `data` moves data, the others change who
// has access (an account, a membership, a credential, an entitlement), so sync flows send writes to
// those classes through the access gate. Records are JSON objects, as the mappings see them.
import { z } from 'zod';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type ObjectRecord = Record<string, JsonValue>;

export const OBJECT_CLASS_KINDS = ['data', 'account', 'membership', 'credential', 'entitlement'] as const;
export type ObjectClassKind = (typeof OBJECT_CLASS_KINDS)[number];

/** A write to a class of this kind changes access, so it is decided, approved where policy says, and recorded one by one. */
export const changesAccess = (kind: ObjectClassKind): boolean => kind !== 'data';

/**
 * The class every connector that grants and revokes entitlements has without configuring it: who is
 * a member of what, one record per membership, `{ subject, entitlement }`. A flow writing it proposes
 * a grant per record (to the subject's own account on record), through the access gate; the
 * connector's own grant operation applies it. No configured class may take this name.
 */
export const MEMBERSHIPS_CLASS = 'memberships';

export const FIELD_TYPES = ['string', 'integer', 'number', 'boolean', 'datetime', 'date', 'json', 'binary'] as const;

export const fieldInfo = z.object({
  name: z.string(),
  type: z.enum(FIELD_TYPES),
  nullable: z.boolean(),
  /** False for fields the system computes (identity columns, generated columns). */
  writable: z.boolean(),
  description: z.string().optional(),
});
export type FieldInfo = z.infer<typeof fieldInfo>;

export const objectClassInfo = z.object({
  /** How flows name it, e.g. `customers`. */
  name: z.string(),
  /** Where it lives in the system, e.g. `public.customers`. */
  source: z.string(),
  kind: z.enum(OBJECT_CLASS_KINDS),
  /** The fields whose values identify one record; upserts and deletes match on them. */
  key: z.array(z.string()).min(1),
  /** A field that grows on every change: incremental reads resume after it. Absent: every read is a full snapshot. */
  cursor: z.string().optional(),
  writable: z.boolean(),
  fields: z.array(fieldInfo),
});
export type ObjectClassInfo = z.infer<typeof objectClassInfo>;

/**
 * One page of a read. incremental (the class has a cursor): records changed after the request's
 * cursor, in cursor order; snapshot: every record, in key order, and the pass is complete when the
 * last page is read (what a complete pass did not list is gone from the system).
 */
export interface ObjectBatch {
  records: ObjectRecord[];
  /** Opaque; pass it back to resume right after this page, even in another process. */
  cursor: string;
  /** The read has reached the present (incremental) or the end of the snapshot. */
  complete: boolean;
}

export interface ObjectReadRequest {
  /** From a previous batch; without one, from the start. */
  cursor?: string;
  /** Records per page (default 500). */
  pageSize?: number;
}

/** What an upsert did: created and updated records, and those that already were as given. */
export interface UpsertOutcome {
  created: number;
  updated: number;
  unchanged: number;
}
