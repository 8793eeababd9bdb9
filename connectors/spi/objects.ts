// What flows through the connector SPI: accounts, entitlements, attribute deltas and change outcomes,
// as zod schemas so the API, the activities and the connectors share one definition. Attribute
// values are always lists (as in ConnId), so single- and multi-valued attributes diff the same way.
import { z } from 'zod';

export const attributeValue = z.union([z.string(), z.number(), z.boolean()]);
export type AttributeValue = z.infer<typeof attributeValue>;

const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/, 'must be an attribute name (letters, digits, _ . -)');
export const attributes = z.record(attributeName, z.array(attributeValue));
export type Attributes = z.infer<typeof attributes>;

/**
 * Metadata of one credential an account holds, for the credential inventory. Never the value.
 * Connectors fill what their system tells; absent means unknown.
 */
export const credentialInfo = z.object({
  id: z.string(),
  kind: z.enum(['password', 'api-key', 'token', 'certificate', 'ssh-key']),
  createdAt: z.iso.datetime({ offset: true }).optional(),
  lastRotatedAt: z.iso.datetime({ offset: true }).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  lastUsedAt: z.iso.datetime({ offset: true }).optional(),
});
export type CredentialInfo = z.infer<typeof credentialInfo>;

export const account = z.object({
  /** The target's stable id (PostgreSQL role OID, LDAP entryUUID): survives renames. */
  uid: z.string().min(1),
  /** The name people and policies use (login name, uid attribute). */
  name: z.string().min(1),
  /** Absent when the system has no notion of a disabled account. */
  enabled: z.boolean().optional(),
  attributes: attributes,
  /** Entitlement uids held directly, when the search asked for them. */
  entitlements: z.array(z.string()).optional(),
  /** Holds administrative power in the target (superuser, admin group). */
  privileged: z.boolean().optional(),
  createdAt: z.iso.datetime({ offset: true }).optional(),
  lastLoginAt: z.iso.datetime({ offset: true }).optional(),
  credentials: z.array(credentialInfo).optional(),
});
export type Account = z.infer<typeof account>;

export const entitlement = z.object({
  uid: z.string().min(1),
  name: z.string().min(1),
  /** group: membership of a group or group role; role: an application role; privilege: a direct grant. */
  kind: z.enum(['group', 'role', 'privilege']),
  description: z.string().optional(),
  /** Grants administrative power in the target; the inventory flags its holders. */
  privileged: z.boolean().optional(),
  attributes: attributes.optional(),
});
export type Entitlement = z.infer<typeof entitlement>;

/** An account to create. Its initial password, if any, is passed beside it, never inside it. */
export const newAccount = z.object({
  name: z.string().min(1).max(256),
  attributes: attributes.default({}),
  enabled: z.boolean().default(true),
});
export type NewAccount = z.input<typeof newAccount>;

/** An entitlement (a group) to create, where the system supports making them. */
export const newEntitlement = z.object({
  name: z.string().min(1).max(256),
  description: z.string().max(1000).optional(),
  attributes: attributes.default({}),
});
export type NewEntitlement = z.input<typeof newEntitlement>;

/** One change to one attribute: replace its values (empty clears it), or add or remove some. */
export const attributeDelta = z.object({
  attribute: z.string().min(1),
  op: z.enum(['replace', 'add', 'remove']),
  values: z.array(attributeValue),
});
export type AttributeDelta = z.infer<typeof attributeDelta>;

/** Whether an idempotent operation changed the target; false means it already was as asked. */
export const changeOutcome = z.object({ changed: z.boolean() });
export type ChangeOutcome = z.infer<typeof changeOutcome>;

/** What the live probe learned about the target (versions, who we are logged in as). */
export const probeResult = z.object({
  system: z.string(),
  version: z.string().optional(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
});
export type ProbeResult = z.infer<typeof probeResult>;

export const attributeInfo = z.object({
  name: z.string(),
  type: z.enum(['string', 'integer', 'boolean', 'datetime', 'dn', 'binary']),
  multiValued: z.boolean(),
  required: z.boolean(),
  /** False for attributes the target computes (timestamps, ids). */
  updatable: z.boolean(),
  description: z.string().optional(),
});
export type AttributeInfo = z.infer<typeof attributeInfo>;

/** What the target says its accounts and entitlements look like. */
export const connectorSchema = z.object({
  account: z.object({ attributes: z.array(attributeInfo) }),
  entitlement: z.object({ kinds: z.array(z.enum(['group', 'role', 'privilege'])), attributes: z.array(attributeInfo) }),
});
export type ConnectorSchema = z.infer<typeof connectorSchema>;
