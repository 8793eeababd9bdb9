// AccessChange: one change to one identity's access on one target, as everything in Gatehouse
// describes it (JML plans, requests, sync, rotation). Decisions, approvals and the ledger all
// refer to a change by its id, which is also the connector's idempotency key.
import { z } from 'zod';

export const CHANGE_KINDS = [
  'create-account',
  'grant',
  'revoke',
  'update-account',
  'disable',
  'enable',
  'delete-account',
  'issue-credential',
  'rotate-credential',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** Kinds that only take access away; allowed unless a policy says otherwise. */
export const REMOVING_KINDS: readonly ChangeKind[] = ['revoke', 'disable', 'delete-account'];

export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export const CHANGE_SOURCES = ['scim', 'jml', 'manual-request', 'sync', 'rotation', 'reconcile'] as const;
export type ChangeSource = (typeof CHANGE_SOURCES)[number];

const id = z.string().min(1).max(512);

export const subjectSchema = z.object({
  /** A person, or a non-human identity (service account, API key, bot, agent). */
  type: z.enum(['human', 'nhi']),
  id,
  directoryId: id.optional(),
  displayName: z.string().max(512).optional(),
  attributes: z
    .object({
      department: z.string().max(256).optional(),
      employmentType: z.string().max(128).optional(),
      title: z.string().max(256).optional(),
      location: z.string().max(256).optional(),
      managerId: id.optional(),
      groups: z.array(z.string().max(512)).max(5000).optional(),
    })
    .default({}),
  /** For a non-human identity: the person who owns it. */
  ownerId: id.optional(),
});

export const entitlementSchema = z.object({
  /** Its name on the target, as policies name it (`<connector>:<id>`), e.g. a group or group role. */
  id,
  /** The connector's own uid for it (e.g. `role:16384`), when known; otherwise looked up by name when applied. */
  uid: id.optional(),
  displayName: z.string().max(512).optional(),
  /** Who answers for this entitlement; may be required to approve grants of it. */
  ownerId: id.optional(),
  privileged: z.boolean().default(false),
});

export const accessChangeSchema = z.object({
  id: z.uuid(),
  kind: z.enum(CHANGE_KINDS),
  subject: subjectSchema,
  target: z.object({
    /** The connector instance's id: what the change is applied through. */
    connectorId: id,
    /** The instance's name, as policies name it. The decide step sets it from Gatehouse's own record. */
    connectorName: z.string().max(64).optional(),
    connectorType: z.string().max(64).optional(),
    /** The target's risk when the policy's targets do not say; a policy's own figure always wins. */
    riskLevel: z.enum(RISK_LEVELS).default('medium'),
    /** The account on the target (its uid), once known; otherwise the subject's account on record. */
    account: z.string().max(1024).optional(),
    /** The account's name on the target: required to create one (its login or uid attribute). */
    accountName: z.string().min(1).max(256).optional(),
    entitlement: entitlementSchema.optional(),
  }),
  source: z.enum(CHANGE_SOURCES),
  requester: z.object({ kind: z.enum(['human', 'idp', 'workflow', 'system', 'nhi']), id }),
  justification: z.string().max(4000).optional(),
  /** Attribute deltas for update-account; never secret values. */
  attributes: z.record(z.string(), z.unknown()).optional(),
});

export type AccessChange = z.infer<typeof accessChangeSchema>;
export type AccessChangeInput = z.input<typeof accessChangeSchema>;
export type ChangeSubject = z.infer<typeof subjectSchema>;

/** The key an entitlement is known by in policies: `<connector name>:<entitlement id>`. */
export const entitlementKey = (connector: string, entitlementId: string) => `${connector}:${entitlementId}`;

/** The name policies know the change's connector by: its instance name once resolved, else its id. */
export const connectorKey = (change: Pick<AccessChange, 'target'>) => change.target.connectorName ?? change.target.connectorId;
