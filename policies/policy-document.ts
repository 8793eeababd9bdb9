// Access policy documents: YAML that admins write and publish, parsed and checked here. A document's
// version hash is SHA-256 over its RFC 8785 canonical JSON, so formatting never changes identity
// and any change to meaning does.
import ms from 'ms';
import { z } from 'zod';
import { documentVersionHash, parseVersionedDocument } from '../shared/versioned-document.js';
import { CHANGE_KINDS, CHANGE_SOURCES, RISK_LEVELS } from './access-change.js';
import { ROLES } from '../shared/auth/permissions.js';
import { birthrightIssues, birthrightSchema } from './birthright.js';

/** A duration such as `30m`, `48h` or `7d`; at least a second, at most a year. */
const duration = z.string().refine((v) => {
  const n = ms(v as ms.StringValue);
  return typeof n === 'number' && Number.isFinite(n) && n >= 1000 && n <= 366 * 24 * 3600 * 1000;
}, 'must be a duration such as 30m, 48h or 7d (between 1 second and a year)');

const name = z.string().min(1).max(256);

/** Who may approve a stage. Exactly one key per entry. */
export const approverSpecSchema = z.union([
  z.strictObject({ user: name }),
  z.strictObject({ group: name }),
  z.strictObject({ role: z.enum(ROLES) }),
  z.strictObject({ manager: z.literal(true) }),
  z.strictObject({ entitlementOwner: z.literal(true) }),
], { error: 'must be one of {user}, {group}, {role}, {manager: true} or {entitlementOwner: true}' });
export type ApproverSpec = z.infer<typeof approverSpecSchema>;

export const stageSchema = z.strictObject({
  name,
  approvers: z.array(approverSpecSchema).min(1, 'needs at least one approver'),
  /** Distinct approvals needed to pass the stage. */
  quorum: z.number().int().min(1).max(20).default(1),
  deadline: duration.default('72h'),
  /** Who is added when the deadline passes; without it the stage expires at the deadline. */
  escalateTo: z.array(approverSpecSchema).min(1).optional(),
  /** How long the escalated stage waits before it expires. */
  escalationDeadline: duration.optional(),
  onExpiry: z.enum(['deny', 'allow']).default('deny'),
});
export type StageSpec = z.infer<typeof stageSchema>;

const list = <T extends z.ZodType>(item: T) => z.array(item).min(1).max(500).optional();

export const matchSchema = z.strictObject({
  kinds: list(z.enum(CHANGE_KINDS)),
  riskLevels: list(z.enum(RISK_LEVELS)),
  connectors: list(name),
  /** Entitlement keys `<connector>:<entitlement>`; `*` matches any run of characters. */
  entitlements: list(z.string().min(1).max(1024)),
  privileged: z.boolean().optional(),
  sources: list(z.enum(CHANGE_SOURCES)),
  requesterKinds: list(z.enum(['human', 'idp', 'workflow', 'system', 'nhi'])),
  requesters: list(name),
  subject: z
    .strictObject({
      type: z.enum(['human', 'nhi']).optional(),
      departments: list(name),
      employmentTypes: list(name),
      titles: list(name),
      locations: list(name),
      /** Matches when the subject is in any of these groups. */
      groups: list(name),
    })
    .optional(),
});
export type RuleMatch = z.infer<typeof matchSchema>;

export const ruleSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
    description: z.string().max(1000).optional(),
    match: matchSchema.default({}),
    effect: z.enum(['allow', 'deny', 'require-approval']),
    approval: z.strictObject({ stages: z.array(stageSchema).min(1).max(10) }).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.effect === 'require-approval' && !r.approval) ctx.addIssue({ code: 'custom', path: ['approval'], message: 'is required when effect is require-approval' });
    if (r.effect !== 'require-approval' && r.approval) ctx.addIssue({ code: 'custom', path: ['approval'], message: `is only allowed when effect is require-approval (this rule's effect is ${r.effect})` });
  });
export type PolicyRule = z.infer<typeof ruleSchema>;

export const sodRuleSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
    description: z.string().max(1000).optional(),
    /** Entitlement keys no one may hold all of at once. */
    entitlements: z.array(z.string().min(1).max(1024)).min(2, 'needs at least two entitlements').max(50),
    effect: z.enum(['deny', 'require-approval']),
    /** The extra stage a conflicting change must pass, when effect is require-approval. */
    stage: stageSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (new Set(r.entitlements).size !== r.entitlements.length) ctx.addIssue({ code: 'custom', path: ['entitlements'], message: 'lists an entitlement twice' });
    if (r.effect === 'require-approval' && !r.stage) ctx.addIssue({ code: 'custom', path: ['stage'], message: 'is required when effect is require-approval' });
    if (r.effect === 'deny' && r.stage) ctx.addIssue({ code: 'custom', path: ['stage'], message: 'is only allowed when effect is require-approval' });
  });
export type SodRule = z.infer<typeof sodRuleSchema>;

const entitlementName = z.string().min(1).max(512);

/**
 * What the policy knows about a target: the connector's risk level and, per entitlement, who owns it
 * and whether it is privileged. Decisions take these from here, not from whoever described the
 * change, so a request cannot lower its own risk; they are versioned and hashed with the rules.
 */
export const targetSchema = z.strictObject({
  /** The connector instance's name, as rules name it. */
  connector: name,
  riskLevel: z.enum(RISK_LEVELS).optional(),
  /** What scheduled reconciliation does with drift on this connector: report it, or also open changes to correct it. */
  reconcile: z.enum(['report', 'correct']).optional(),
  entitlements: z
    .array(
      z.strictObject({
        id: entitlementName,
        description: z.string().max(1000).optional(),
        /** Who answers for it: a user (e-mail or Gatehouse user id) for `{ entitlementOwner: true }`. */
        owner: name.optional(),
        privileged: z.boolean().optional(),
        riskLevel: z.enum(RISK_LEVELS).optional(),
      }),
    )
    .max(5000)
    .default([]),
});
export type TargetSpec = z.infer<typeof targetSchema>;

/**
 * What an admin change itself needs before it takes effect (issue 12, item 8): allowed as asked, or
 * approved through the same gate, stages and eligibility as an access change.
 */
export const adminRuleSchema = z
  .strictObject({
    effect: z.enum(['allow', 'require-approval']),
    approval: z.strictObject({ stages: z.array(stageSchema).min(1).max(10) }).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.effect === 'require-approval' && !r.approval) ctx.addIssue({ code: 'custom', path: ['approval'], message: 'is required when effect is require-approval' });
    if (r.effect !== 'require-approval' && r.approval) ctx.addIssue({ code: 'custom', path: ['approval'], message: `is only allowed when effect is require-approval (this rule's effect is ${r.effect})` });
  });
export type AdminRule = z.infer<typeof adminRuleSchema>;

/** The admin changes a policy can govern, by the key it names them with under `administration`. */
export const ADMIN_ACTIONS = ['publishPolicy', 'createApiTokens', 'createScimTokens', 'changeConnectors'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/**
 * What an admin change needs when the policy in force says nothing about it: publishing access policy
 * needs a second admin, because one admin alone must not be able to change what everyone may do.
 */
export const DEFAULT_ADMIN_RULES: Record<AdminAction, AdminRule> = {
  publishPolicy: {
    effect: 'require-approval',
    approval: { stages: [{ name: 'second admin', approvers: [{ role: 'admin' }], quorum: 1, deadline: '72h', onExpiry: 'deny' }] },
  },
  // Creating tokens and changing connectors are allowed to whoever holds the permission unless the policy says otherwise.
  createApiTokens: { effect: 'allow' },
  createScimTokens: { effect: 'allow' },
  changeConnectors: { effect: 'allow' },
};

export const policyDocumentSchema = z
  .strictObject({
    apiVersion: z.literal('gatehouse.dev/v1', { error: 'must be gatehouse.dev/v1' }),
    kind: z.literal('AccessPolicy', { error: 'must be AccessPolicy' }),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
    description: z.string().max(2000).optional(),
    defaults: z
      .strictObject({
        /** revoke, disable and delete-account when no rule matches. */
        removals: z.enum(['allow', 'deny']).default('allow'),
        /** Everything else when no rule matches. */
        otherwise: z.enum(['deny']).default('deny'),
      })
      .default({ removals: 'allow', otherwise: 'deny' }),
    rules: z.array(ruleSchema).max(1000).default([]),
    separationOfDuties: z.array(sodRuleSchema).max(500).default([]),
    targets: z.array(targetSchema).max(1000).default([]),
    /** The access people get for who they are, for the joiner-mover-leaver workflows. */
    birthright: birthrightSchema.optional(),
    /** Which admin changes need approval; an action not named here gets DEFAULT_ADMIN_RULES. */
    administration: z
      .strictObject({
        publishPolicy: adminRuleSchema.optional(),
        createApiTokens: adminRuleSchema.optional(),
        createScimTokens: adminRuleSchema.optional(),
        /** Creating, changing and deleting connector instances. */
        changeConnectors: adminRuleSchema.optional(),
      })
      .optional(),
  })
  .superRefine((d, ctx) => {
    const connectors = new Map<string, number>();
    d.targets.forEach((t, i) => {
      if (connectors.has(t.connector)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'connector'], message: `duplicates targets[${connectors.get(t.connector)}].connector ${t.connector}` });
      connectors.set(t.connector, i);
      const ids = new Map<string, number>();
      t.entitlements.forEach((e, j) => {
        if (ids.has(e.id)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'entitlements', j, 'id'], message: `duplicates entitlements[${ids.get(e.id)}].id ${e.id}` });
        ids.set(e.id, j);
      });
    });
    const seen = new Map<string, number>();
    d.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicates rules[${seen.get(r.id)}].id ${r.id}` });
      seen.set(r.id, i);
    });
    const sod = new Map<string, number>();
    d.separationOfDuties.forEach((r, i) => {
      if (sod.has(r.id) || seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['separationOfDuties', i, 'id'], message: `duplicates the id ${r.id}` });
      sod.set(r.id, i);
    });
    if (d.birthright) for (const issue of birthrightIssues(d.birthright)) ctx.addIssue({ code: 'custom', path: ['birthright', ...issue.path], message: issue.message });
  });

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;

/** Parses and checks a YAML (or JSON) policy document; a problem names its path in the document. */
export function parsePolicyDocument(text: string): PolicyDocument {
  return parseVersionedDocument(text, policyDocumentSchema);
}

/** SHA-256 (hex) of the document's canonical JSON (RFC 8785). */
export const policyVersionHash = (doc: PolicyDocument): string => documentVersionHash(doc);

/** Durations in milliseconds, for the approval gate's timers. */
export const durationMs = (value: string): number => ms(value as ms.StringValue);
