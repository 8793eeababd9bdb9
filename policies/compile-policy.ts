// Compiles a policy document into a CASL ability over AccessChange: each rule becomes a CASL rule
// whose action is the change kind and whose conditions are a Mongo-style query on the change's
// matchable fields. CASL does the matching; decide() combines the effects.
import { createMongoAbility, type ForcedSubject, type MongoAbility, type RawRuleOf } from '@casl/ability';
import type { AccessChange, RiskLevel } from './access-change.js';
import { connectorKey, entitlementKey } from './access-change.js';
import type { PolicyDocument, PolicyRule, RuleMatch, TargetSpec } from './policy-document.js';

/** The flat view of an AccessChange that policy conditions match on. */
export interface MatchableChange {
  kind: string;
  source: string;
  requesterKind: string;
  requesterId: string;
  subjectType: string;
  department: string | null;
  employmentType: string | null;
  title: string | null;
  location: string | null;
  groups: string[];
  connectorId: string;
  riskLevel: string;
  entitlementKey: string | null;
  privileged: boolean;
}

/** The change's target as the policy sees it: the policy's own targets win over the change's description. */
export interface EffectiveTarget {
  /** The connector's name in policies. */
  connector: string;
  riskLevel: RiskLevel;
  entitlementKey: string | null;
  privileged: boolean;
  /** Who owns the entitlement (for `{ entitlementOwner: true }`), when anyone is named. */
  entitlementOwner?: string;
}

export function effectiveTarget(change: AccessChange, policy: Pick<CompiledPolicy, 'targets'>): EffectiveTarget {
  const connector = connectorKey(change);
  const known = policy.targets.get(connector);
  const ent = change.target.entitlement;
  const knownEnt = ent ? known?.entitlements.find((e) => e.id === ent.id) : undefined;
  const owner = knownEnt?.owner ?? ent?.ownerId;
  return {
    connector,
    riskLevel: knownEnt?.riskLevel ?? known?.riskLevel ?? change.target.riskLevel,
    entitlementKey: ent ? entitlementKey(connector, ent.id) : null,
    privileged: knownEnt?.privileged ?? ent?.privileged ?? false,
    ...(owner ? { entitlementOwner: owner } : {}),
  };
}

export function toMatchable(change: AccessChange, target: EffectiveTarget): MatchableChange {
  const a = change.subject.attributes;
  return {
    kind: change.kind,
    source: change.source,
    requesterKind: change.requester.kind,
    requesterId: change.requester.id,
    subjectType: change.subject.type,
    department: a.department ?? null,
    employmentType: a.employmentType ?? null,
    title: a.title ?? null,
    location: a.location ?? null,
    groups: a.groups ?? [],
    connectorId: target.connector,
    riskLevel: target.riskLevel,
    entitlementKey: target.entitlementKey,
    privileged: target.privileged,
  };
}

/**
 * Entitlement patterns support only `*` (any run of characters), so a policy author never needs to
 * know regular-expression syntax and a pattern can never be a costly one.
 */
export function wildcardToRegExp(patterns: string[]): string {
  const alternatives = patterns.map((p) => p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
  return `^(?:${alternatives.join('|')})$`;
}

type Conditions = Record<string, unknown>;

function conditionsFor(match: RuleMatch): Conditions {
  const c: Conditions = {};
  const inList = (field: string, values: readonly string[] | undefined) => {
    if (values?.length) c[field] = { $in: [...values] };
  };
  inList('riskLevel', match.riskLevels);
  inList('connectorId', match.connectors);
  inList('source', match.sources);
  inList('requesterKind', match.requesterKinds);
  inList('requesterId', match.requesters);
  if (match.entitlements?.length) c.entitlementKey = { $regex: wildcardToRegExp(match.entitlements) };
  if (match.privileged !== undefined) c.privileged = match.privileged;
  const s = match.subject;
  if (s) {
    if (s.type) c.subjectType = s.type;
    inList('department', s.departments);
    inList('employmentType', s.employmentTypes);
    inList('title', s.titles);
    inList('location', s.locations);
    // An array field matches $in when any of its elements is in the list.
    inList('groups', s.groups);
  }
  return c;
}

export type ChangeAbility = MongoAbility<[string, 'AccessChange' | (MatchableChange & ForcedSubject<'AccessChange'>)], Conditions>;

export interface CompiledPolicy {
  document: PolicyDocument;
  versionHash: string;
  ability: ChangeAbility;
  rulesById: Map<string, PolicyRule>;
  /** The document's targets by connector name. */
  targets: Map<string, TargetSpec>;
}

export function compilePolicy(document: PolicyDocument, versionHash: string): CompiledPolicy {
  const raw: RawRuleOf<ChangeAbility>[] = document.rules.map((rule) => ({
    // CASL's `manage` is its wildcard action: a rule without kinds matches every kind.
    action: rule.match.kinds?.length ? [...rule.match.kinds] : 'manage',
    subject: 'AccessChange',
    conditions: conditionsFor(rule.match),
    reason: rule.id,
  }));
  return {
    document,
    versionHash,
    ability: createMongoAbility<ChangeAbility>(raw),
    rulesById: new Map(document.rules.map((r) => [r.id, r])),
    targets: new Map(document.targets.map((t) => [t.connector, t])),
  };
}
