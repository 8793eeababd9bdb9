// What the ledger records: the entry a module appends, the entry as stored (with its place in the
// chain), and the narrow append interface every other module depends on.
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';

export const ACTOR_KINDS = ['human', 'idp', 'workflow', 'nhi', 'system'] as const;

/** Who acted: a person, an identity provider, a workflow, a non-human identity, or Gatehouse itself. */
export const actorSchema = z
  .object({
    kind: z.enum(ACTOR_KINDS),
    id: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
    display: z.string().max(256, 'must be at most 256 characters').optional(),
  })
  .strict();

/** A thing an entry is about (subject) or acts on (target): `{ type: 'identity', id: 'okta:00u1' }`. */
export const ledgerRefSchema = z
  .object({
    type: z.string().regex(/^[a-z][A-Za-z0-9_.-]{0,63}$/, 'must be a short lower-camel or dotted type name, e.g. identity or connector'),
    id: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters'),
    display: z.string().max(256, 'must be at most 256 characters').optional(),
  })
  .strict();

const correlationValue = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');

/** Ids that join an entry to the run, request, directory and change it belongs to. */
export const correlationSchema = z
  .object({
    workflowId: correlationValue.optional(),
    runId: correlationValue.optional(),
    requestId: correlationValue.optional(),
    directoryId: correlationValue.optional(),
    changeId: correlationValue.optional(),
  })
  .strict();

/** The policy that decided, pinned to the exact version that was in force. */
export const policyRefSchema = z
  .object({
    id: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
    versionHash: z.string().regex(/^[A-Za-z0-9:+/=_-]{8,200}$/, 'must be the policy version hash'),
  })
  .strict();

/** Dotted verbs, lower case: `scim.user.created`, `access.change.approved`, `export.created`. */
export const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,7}$/;

export const newLedgerEntrySchema = z
  .object({
    action: z.string().max(128, 'must be at most 128 characters').regex(ACTION_PATTERN, 'must be a dotted lower-case verb such as scim.user.created'),
    actor: actorSchema,
    subject: ledgerRefSchema.optional(),
    target: ledgerRefSchema.optional(),
    /** Plain JSON about what happened. Never a secret value: record a reference (a Vault path and version) instead. */
    details: z.record(z.string(), z.unknown()).optional(),
    correlation: correlationSchema.optional(),
    policy: policyRefSchema.optional(),
  })
  .strict();

export type ActorKind = (typeof ACTOR_KINDS)[number];
export type Actor = z.infer<typeof actorSchema>;
export type LedgerRef = z.infer<typeof ledgerRefSchema>;
export type Correlation = z.infer<typeof correlationSchema>;
export type PolicyRef = z.infer<typeof policyRefSchema>;
export type NewLedgerEntry = z.infer<typeof newLedgerEntrySchema>;

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

/**
 * An entry as the ledger holds it. `hash` is SHA-256 over the previous entry's hash (32 bytes; 32
 * zero bytes before the first entry) followed by the entry's canonical JSON (RFC 8785) without
 * `prevHash` and `hash`. Hashes are lower-case hex.
 */
export const ledgerEntrySchema = newLedgerEntrySchema.extend({
  /** Gapless, from 0. */
  seq: z.number().int().min(0),
  /** When the ledger recorded it, ISO 8601 UTC with milliseconds; never decreases along the chain. */
  timestamp: z.string(),
  prevHash: hex32,
  hash: hex32,
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

export interface AppendOptions {
  /**
   * The caller's EntityManager inside `em.transactional(...)`: the entry is written in that
   * transaction, so the state change and its entry commit or roll back together. The ledger is
   * locked from the append until that transaction ends, so append last and commit promptly.
   */
  em?: EntityManager;
}

/** What other modules depend on: appending, and nothing else. */
export interface LedgerAppender {
  append(entry: NewLedgerEntry, options?: AppendOptions): Promise<LedgerEntry>;
  /** Appends in order, under one lock, as consecutive entries. */
  appendBatch(entries: NewLedgerEntry[], options?: AppendOptions): Promise<LedgerEntry[]>;
}
