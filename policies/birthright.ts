// Birthright rules: the access a person gets for who they are (department, title, employment type,
// location, identity-provider groups), written in the policy document and evaluated here, purely.
// The joiner-mover-leaver workflows diff what this returns against what the person holds; every
// resulting change still passes decide() and the approval gate like any other.
import { z } from 'zod';

const ruleId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes');
/** Connector names here are the instance names policies use; `:` separates them from entitlement ids. */
const connectorName = z.string().min(1).max(256).regex(/^[^:]+$/, 'must not contain ":" (entitlements are named <connector>:<entitlement>)');
const list = (item: z.ZodType<string>) => z.array(item).min(1).max(500).optional();
const value = z.string().min(1).max(256);

/** What an account name or attribute template may name: `{userName}`, `{localPart}` (userName before @)... */
export const TEMPLATE_FIELDS = ['id', 'userName', 'localPart', 'displayName', 'givenName', 'familyName', 'email', 'externalId', 'department', 'title'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];
const PLACEHOLDER = /\{([^{}]*)\}/g;

const template = z
  .string()
  .min(1)
  .max(512)
  .superRefine((t, ctx) => {
    for (const m of t.matchAll(PLACEHOLDER)) {
      if (!(TEMPLATE_FIELDS as readonly string[]).includes(m[1]!)) ctx.addIssue({ code: 'custom', message: `names an unknown field {${m[1]}}; use one of ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(', ')}` });
    }
  });

export const birthrightAccountSchema = z.strictObject({
  connector: connectorName,
  /** The account's name on the target, e.g. `{localPart}`; its login, uid or role name. */
  name: template,
  /** Attributes set when the account is created (values are templates too), e.g. `cn: ["{displayName}"]`. */
  attributes: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an attribute name'), z.array(template).min(1).max(20)).default({}),
});

export const birthrightRuleSchema = z
  .strictObject({
    id: ruleId,
    description: z.string().max(1000).optional(),
    /** Every condition given must hold; within one, any listed value matches. No conditions: every active person. */
    when: z
      .strictObject({
        departments: list(value),
        titles: list(value),
        /** The SCIM userType (Employee, Contractor, ...). */
        employmentTypes: list(value),
        locations: list(value),
        /** Identity-provider groups (display names); any one of them. */
        groups: list(value),
      })
      .default({}),
    /** Connectors on which the person gets an account (connectors of `entitlements` get one too). */
    accounts: list(connectorName),
    /** Entitlements as `<connector>:<entitlement>`, e.g. `pg-main:analysts`. */
    entitlements: list(z.string().min(3).max(1024).regex(/^[^:]+:.+$/, 'must be <connector>:<entitlement>')),
  })
  .superRefine((r, ctx) => {
    if (!r.accounts && !r.entitlements) ctx.addIssue({ code: 'custom', path: ['entitlements'], message: 'a rule must give accounts or entitlements' });
  });

export const birthrightSchema = z.strictObject({
  /** How the account on each connector is named and created. */
  accounts: z.array(birthrightAccountSchema).max(1000).default([]),
  rules: z.array(birthrightRuleSchema).max(1000).default([]),
});

export type Birthright = z.infer<typeof birthrightSchema>;
export type BirthrightRule = z.infer<typeof birthrightRuleSchema>;

type Issue = { path: (string | number)[]; message: string };

/** Checks across the section: one account spec per connector, unique rule ids, every connector named has an account spec. */
export function birthrightIssues(b: Birthright): Issue[] {
  const issues: Issue[] = [];
  const connectors = new Map<string, number>();
  b.accounts.forEach((a, i) => {
    if (connectors.has(a.connector)) issues.push({ path: ['accounts', i, 'connector'], message: `duplicates accounts[${connectors.get(a.connector)}].connector ${a.connector}` });
    connectors.set(a.connector, i);
  });
  const ids = new Map<string, number>();
  b.rules.forEach((r, i) => {
    if (ids.has(r.id)) issues.push({ path: ['rules', i, 'id'], message: `duplicates rules[${ids.get(r.id)}].id ${r.id}` });
    ids.set(r.id, i);
    r.accounts?.forEach((c, j) => {
      if (!connectors.has(c)) issues.push({ path: ['rules', i, 'accounts', j], message: `names connector ${c}, which has no entry in birthright.accounts (how its accounts are named)` });
    });
    r.entitlements?.forEach((e, j) => {
      const c = e.slice(0, e.indexOf(':'));
      if (!connectors.has(c)) issues.push({ path: ['rules', i, 'entitlements', j], message: `names connector ${c}, which has no entry in birthright.accounts (how its accounts are named)` });
    });
  });
  return issues;
}

/** Who a person is, as birthright rules see them. */
export interface BirthrightIdentity {
  attributes: { department?: string | undefined; title?: string | undefined; employmentType?: string | undefined; location?: string | undefined; groups?: string[] | undefined };
  naming: Partial<Record<TemplateField, string>>;
}

export interface DesiredAccount {
  connector: string;
  accountName: string;
  attributes: Record<string, string[]>;
  /** The rules that gave it. */
  rules: string[];
}

export interface DesiredEntitlement {
  connector: string;
  entitlementId: string;
  rules: string[];
}

export interface DesiredAccess {
  accounts: DesiredAccount[];
  entitlements: DesiredEntitlement[];
  /** Connectors the rules give access on but where no account can be named (a template field is empty). */
  problems: { connector: string; message: string }[];
}

const holds = (wanted: readonly string[] | undefined, actual: string | undefined) => !wanted || (actual !== undefined && wanted.includes(actual));

export function ruleMatches(rule: BirthrightRule, identity: BirthrightIdentity): boolean {
  const a = identity.attributes;
  const w = rule.when;
  return (
    holds(w.departments, a.department) &&
    holds(w.titles, a.title) &&
    holds(w.employmentTypes, a.employmentType) &&
    holds(w.locations, a.location) &&
    (!w.groups || (a.groups ?? []).some((g) => w.groups!.includes(g)))
  );
}

/** Fills `{field}` placeholders; undefined when any field it names is empty. */
export function renderTemplate(t: string, naming: BirthrightIdentity['naming']): string | undefined {
  let missing = false;
  const out = t.replace(PLACEHOLDER, (_, field: TemplateField) => {
    const v = naming[field];
    if (!v) missing = true;
    return v ?? '';
  });
  return missing ? undefined : out;
}

/** What a person should hold, by the birthright rules, on every connector; sorted, so equal inputs give equal output. */
export function desiredAccess(birthright: Birthright, identity: BirthrightIdentity): DesiredAccess {
  const accountRules = new Map<string, string[]>();
  const entitlements = new Map<string, DesiredEntitlement>();
  for (const rule of birthright.rules) {
    if (!ruleMatches(rule, identity)) continue;
    const give = (c: string) => accountRules.set(c, [...(accountRules.get(c) ?? []), rule.id]);
    for (const c of rule.accounts ?? []) give(c);
    for (const key of rule.entitlements ?? []) {
      const i = key.indexOf(':');
      const connector = key.slice(0, i);
      give(connector);
      const e = entitlements.get(key) ?? { connector, entitlementId: key.slice(i + 1), rules: [] };
      e.rules.push(rule.id);
      entitlements.set(key, e);
    }
  }
  const accounts: DesiredAccount[] = [];
  const problems: DesiredAccess['problems'] = [];
  for (const [connector, rules] of [...accountRules].sort(([a], [b]) => a.localeCompare(b))) {
    const spec = birthright.accounts.find((a) => a.connector === connector)!;
    const accountName = renderTemplate(spec.name, identity.naming);
    if (!accountName) {
      problems.push({ connector, message: `the account name ${spec.name} names a field this person does not have` });
      continue;
    }
    const attributes: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(spec.attributes)) {
      const rendered = values.map((v) => renderTemplate(v, identity.naming)).filter((v): v is string => !!v);
      if (rendered.length) attributes[name] = rendered;
    }
    accounts.push({ connector, accountName, attributes, rules: [...new Set(rules)] });
  }
  const named = new Set(accounts.map((a) => a.connector));
  return {
    accounts,
    entitlements: [...entitlements.values()].filter((e) => named.has(e.connector)).sort((a, b) => `${a.connector}:${a.entitlementId}`.localeCompare(`${b.connector}:${b.entitlementId}`)),
    problems,
  };
}
