// The one filter language searches take: a small tree each connector translates into its system's
// own query (SQL, an LDAP filter, query parameters). What a connector cannot translate it evaluates
// in memory with `matchesFilter`, so every connector returns the same answer for the same filter.
import { z } from 'zod';
import { parse as parseScim, type Filter as ScimFilter } from 'scim2-parse-filter';
import { invalid } from '../../shared/errors.js';

const leafValue = z.union([z.string(), z.number(), z.boolean()]);

export const comparisonFilter = z.object({
  op: z.enum(['eq', 'ne', 'co', 'sw', 'ew']),
  attribute: z.string().min(1),
  value: leafValue,
});
export const presenceFilter = z.object({ op: z.literal('pr'), attribute: z.string().min(1) });
export const logicalFilter = z.object({
  op: z.enum(['and', 'or']),
  get filters() {
    return z.array(filterSchema).min(1);
  },
});
export const notFilter = z.object({
  op: z.literal('not'),
  get filter() {
    return filterSchema;
  },
});
export const filterSchema = z.union([comparisonFilter, presenceFilter, logicalFilter, notFilter]);

export type ComparisonFilter = z.infer<typeof comparisonFilter>;
export type PresenceFilter = z.infer<typeof presenceFilter>;
export type LeafFilter = ComparisonFilter | PresenceFilter;
export type Filter = ComparisonFilter | PresenceFilter | { op: 'and' | 'or'; filters: Filter[] } | { op: 'not'; filter: Filter };

export const isLeaf = (f: Filter): f is LeafFilter => f.op !== 'and' && f.op !== 'or' && f.op !== 'not';

/** Limits on filters people type, so a search cannot be made arbitrarily expensive. */
export const MAX_FILTER_LENGTH = 2000;
export const MAX_FILTER_NODES = 64;

function fromScim(node: ScimFilter, count: { n: number }, field: string): Filter {
  if (++count.n > MAX_FILTER_NODES) throw invalid(field, `has more than ${MAX_FILTER_NODES} conditions`);
  switch (node.op) {
    case 'and':
    case 'or':
      return { op: node.op, filters: (node as { filters: ScimFilter[] }).filters.map((f) => fromScim(f, count, field)) };
    case 'not':
      return { op: 'not', filter: fromScim((node as { filter: ScimFilter }).filter, count, field) };
    case 'pr':
      return { op: 'pr', attribute: (node as { attrPath: string }).attrPath };
    case 'eq':
    case 'ne':
    case 'co':
    case 'sw':
    case 'ew': {
      const { attrPath, compValue } = node as { attrPath: string; compValue: string | number | boolean | null };
      if (compValue === null) throw invalid(field, `compares ${attrPath} with null; use "pr" or "not (… pr)"`);
      return { op: node.op, attribute: attrPath, value: compValue };
    }
    default:
      throw invalid(field, `the operator "${node.op}" is not supported in connector searches (use eq ne co sw ew pr and or not)`);
  }
}

/**
 * Parses a filter written in SCIM filter syntax (RFC 7644 §3.4.2.2), e.g.
 * `name sw "svc-" and enabled eq true`. `field` names the input in errors.
 */
export function parseFilter(text: string, field = 'filter'): Filter {
  if (text.length > MAX_FILTER_LENGTH) throw invalid(field, `is longer than ${MAX_FILTER_LENGTH} characters`);
  let ast: ScimFilter;
  try {
    ast = parseScim(text);
  } catch (err) {
    throw invalid(field, `is not a valid filter (${(err as Error).message})`);
  }
  return fromScim(ast, { n: 0 }, field);
}

/** The values an object holds for a filter attribute; connectors supply it for their objects. */
export type ValuesOf = (attribute: string) => readonly (string | number | boolean)[];

const fold = (v: string | number | boolean) => (typeof v === 'string' ? v.toLowerCase() : v);

function compare(op: ComparisonFilter['op'], actual: string | number | boolean, expected: string | number | boolean): boolean {
  const a = fold(actual);
  const e = fold(expected);
  switch (op) {
    case 'eq':
      return typeof a === typeof e ? a === e : String(a) === String(e);
    case 'ne':
      return !(typeof a === typeof e ? a === e : String(a) === String(e));
    case 'co':
      return String(a).includes(String(e));
    case 'sw':
      return String(a).startsWith(String(e));
    case 'ew':
      return String(a).endsWith(String(e));
  }
}

/** Evaluates a filter in memory; string comparisons ignore case, as SCIM's default does. */
export function matchesFilter(valuesOf: ValuesOf, filter: Filter): boolean {
  switch (filter.op) {
    case 'and':
      return filter.filters.every((f) => matchesFilter(valuesOf, f));
    case 'or':
      return filter.filters.some((f) => matchesFilter(valuesOf, f));
    case 'not':
      return !matchesFilter(valuesOf, filter.filter);
    case 'pr':
      return valuesOf(filter.attribute).length > 0;
    case 'ne':
      return valuesOf(filter.attribute).every((v) => compare('ne', v, filter.value));
    default:
      return valuesOf(filter.attribute).some((v) => compare(filter.op as ComparisonFilter['op'], v, filter.value));
  }
}

/** The values of an account for filter attributes: uid, name, enabled, memberOf, or an attribute. */
export function accountValues(account: {
  uid: string;
  name: string;
  enabled?: boolean;
  entitlements?: string[];
  attributes: Record<string, (string | number | boolean)[]>;
}): ValuesOf {
  return (attribute) => {
    switch (attribute) {
      case 'uid':
        return [account.uid];
      case 'name':
        return [account.name];
      case 'enabled':
        return account.enabled === undefined ? [] : [account.enabled];
      case 'memberOf':
        return account.entitlements ?? [];
      default: {
        const key = Object.keys(account.attributes).find((k) => k.toLowerCase() === attribute.toLowerCase());
        return key === undefined ? [] : account.attributes[key]!;
      }
    }
  };
}

export function entitlementValues(entitlement: { uid: string; name: string; kind: string; attributes?: Record<string, (string | number | boolean)[]> }): ValuesOf {
  return (attribute) => {
    if (attribute === 'uid') return [entitlement.uid];
    if (attribute === 'name') return [entitlement.name];
    if (attribute === 'kind') return [entitlement.kind];
    const attrs = entitlement.attributes ?? {};
    const key = Object.keys(attrs).find((k) => k.toLowerCase() === attribute.toLowerCase());
    return key === undefined ? [] : attrs[key]!;
  };
}

/**
 * Splits a filter into the part a connector can push to its system and the rest, which it then
 * evaluates in memory. Pushed AND residual is exactly the original filter: conjuncts split freely;
 * an `or` or `not` is pushed only when everything under it can be.
 */
export function splitFilter(filter: Filter | undefined, canPush: (leaf: LeafFilter) => boolean): { pushed?: Filter; residual?: Filter } {
  if (!filter) return {};
  const pushable = (f: Filter): boolean => (isLeaf(f) ? canPush(f) : f.op === 'not' ? pushable(f.filter) : f.filters.every(pushable));
  if (filter.op === 'and') {
    const pushed: Filter[] = [];
    const residual: Filter[] = [];
    for (const f of filter.filters) {
      const part = splitFilter(f, canPush);
      if (part.pushed) pushed.push(part.pushed);
      if (part.residual) residual.push(part.residual);
    }
    const join = (fs: Filter[]): Filter | undefined => (fs.length === 0 ? undefined : fs.length === 1 ? fs[0] : { op: 'and', filters: fs });
    const p = join(pushed);
    const r = join(residual);
    return { ...(p ? { pushed: p } : {}), ...(r ? { residual: r } : {}) };
  }
  return pushable(filter) ? { pushed: filter } : { residual: filter };
}
