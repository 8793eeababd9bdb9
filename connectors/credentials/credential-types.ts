// The shapes of managed credentials at the API: who owns one (people in the SCIM directories), what
// uses it, how old it may get, what may be sent to register or change one, and how its rotations
// went. Never a secret value, except the write-only `secret` given once at registration.
import { z } from 'zod';
import { actorSchema } from '../../audit/ledger-types.js';

const uuid = z.uuid({ message: 'must be a UUID' });

/** An owner: a person in one of the SCIM directories. */
export const ownerRef = z.object({ directoryId: uuid, userId: uuid }).strict();
export type OwnerRef = z.infer<typeof ownerRef>;

export const CONSUMER_KINDS = ['application', 'workflow', 'connector'] as const;
/** Something that uses a credential: an application reading it from Vault, a workflow, a connector. */
export const credentialConsumer = z
  .object({
    kind: z.enum(CONSUMER_KINDS),
    name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  })
  .strict();
export type CredentialConsumer = z.infer<typeof credentialConsumer>;

export const ROTATION_STATUSES = ['running', 'succeeded', 'failed', 'refused', 'skipped'] as const;
export const ROTATION_STEPS = ['claim', 'decide', 'create', 'apply', 'store', 'verify', 'revoke'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** How the latest rotation went, as the rotation workflow records it. */
export const lastRotation = z.object({
  workflowId: z.string(),
  reason: z.string(),
  status: z.enum(ROTATION_STATUSES),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  /** The step that failed. */
  step: z.enum(ROTATION_STEPS).optional(),
  errorCode: z.string().optional(),
  message: z.string().optional(),
  /** After a failure: whether Vault and the target were put back as they were. */
  restored: z.object({ vault: z.boolean(), target: z.boolean() }).optional(),
});
export type LastRotation = z.infer<typeof lastRotation>;

const credentialName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,62}$/, 'must be 2 to 63 lowercase letters, digits or hyphens, starting with a letter')
  .refine((n) => !n.endsWith('-login'), 'must not end in -login (those names are the connectors\' own logins)');

const maxAgeDays = z.number({ message: 'must be a number of days' }).int('must be a whole number of days').min(1, 'must be at least 1').max(3650, 'must be at most 3650');

export const registerCredentialInput = z
  .object({
    name: credentialName,
    description: z.string().max(500).optional(),
    /** The connector (id or name) that reaches the system where the account lives, and rotates its credential. */
    connector: z.string().min(1).max(100),
    /** The service account on that system: its uid, or its name (looked up through the connector at rotation). */
    account: z.union([z.object({ uid: z.string().min(1).max(512) }).strict(), z.object({ name: z.string().min(1).max(512) }).strict()]),
    /** The credential's current value, written to Vault once and never shown again. */
    secret: z.string().min(1, 'must not be empty').max(4096),
    /** The key it is kept under in Vault (what applications read): password, token, apiKey… */
    secretField: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'must be a key name (letters, digits, _ or -)').default('password'),
    /** For targets that hold several credentials per account: the target's id of this one (an API key id). */
    targetCredentialId: z.string().min(1).max(512).optional(),
    owners: z.array(ownerRef).max(20).default([]),
    maxAgeDays: maxAgeDays.optional(),
    consumers: z.array(credentialConsumer).max(100).default([]),
    /** Holds administrative power on its system (the inventory also learns this from the connector). */
    privileged: z.boolean().default(false),
  })
  .strict();
export type RegisterCredentialInput = z.input<typeof registerCredentialInput>;

export const updateCredentialInput = z
  .object({
    description: z.string().max(500).nullable().optional(),
    owners: z.array(ownerRef).max(20).optional(),
    /** null removes the max-age policy (and the rotation schedule). */
    maxAgeDays: maxAgeDays.nullable().optional(),
    consumers: z.array(credentialConsumer).max(100).optional(),
    privileged: z.boolean().optional(),
    expectedRevision: z.number().int().positive().optional(),
  })
  .strict();
export type UpdateCredentialInput = z.infer<typeof updateCredentialInput>;

export const rotateCredentialInput = z
  .object({
    /** Why, in the requester's words; recorded in the ledger with the request. */
    justification: z.string().trim().min(1).max(1000).optional(),
  })
  .strict();
export type RotateCredentialInput = z.infer<typeof rotateCredentialInput>;

/**
 * What the joiner-mover-leaver workflow passes for a leaver (`leaverCredentialsWorkflow`): the
 * person as their directory knows them, their manager there (as known when they left; the record
 * may be gone by now), and who acts (the JML workflow).
 */
export const leaverCredentialsInput = z
  .object({
    directoryId: uuid,
    /** The leaver's SCIM user id in that directory. */
    identityId: uuid,
    /** Their manager's SCIM user id in the same directory, or null: their credentials are then flagged orphaned. */
    managerId: uuid.nullable(),
    actor: actorSchema,
  })
  .strict();
export type LeaverCredentialsInput = z.infer<typeof leaverCredentialsInput>;
