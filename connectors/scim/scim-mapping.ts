// How accounts and entitlements meet SCIM (RFC 7643): a fixed vocabulary of account attributes and
// the User attribute each one is (core or enterprise extension), SCIM Users and Groups read back as
// accounts and entitlements, attribute deltas written as PATCH operations (RFC 7644 §3.5.2), and
// the SPI's filters written as SCIM filters (§3.4.2.2) where the provider can answer them.
import type { AttributeDelta, AttributeInfo, Attributes, AttributeValue, Account, Entitlement, NewAccount } from '../spi/objects.js';
import { isLeaf, splitFilter, type Filter, type LeafFilter } from '../spi/filter.js';

export const SCHEMA_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCHEMA_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCHEMA_ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCHEMA_PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

interface MappedAttribute {
  /** The account attribute's name. */
  name: string;
  /** Where it lives: a top-level attribute, a sub-attribute, or one of the enterprise extension. */
  path: string[];
  extension?: boolean;
  /** A multi-valued attribute of {value, type, primary} objects (emails, phoneNumbers). */
  multi?: boolean;
  description: string;
}

/** Every account attribute this connector maps; others are sent as core attributes of the same name, for the provider to judge. */
export const USER_ATTRIBUTES: readonly MappedAttribute[] = [
  { name: 'displayName', path: ['displayName'], description: 'The name shown for the user' },
  { name: 'givenName', path: ['name', 'givenName'], description: 'name.givenName' },
  { name: 'familyName', path: ['name', 'familyName'], description: 'name.familyName' },
  { name: 'email', path: ['emails'], multi: true, description: 'emails[].value (the first is primary, type work)' },
  { name: 'phoneNumber', path: ['phoneNumbers'], multi: true, description: 'phoneNumbers[].value (the first is primary, type work)' },
  { name: 'externalId', path: ['externalId'], description: 'The identifier Gatehouse knows the user by' },
  { name: 'title', path: ['title'], description: 'Job title' },
  { name: 'userType', path: ['userType'], description: 'Employee, Contractor, …' },
  { name: 'nickName', path: ['nickName'], description: 'nickName' },
  { name: 'preferredLanguage', path: ['preferredLanguage'], description: 'preferredLanguage' },
  { name: 'locale', path: ['locale'], description: 'locale' },
  { name: 'timezone', path: ['timezone'], description: 'IANA time zone' },
  { name: 'employeeNumber', path: ['employeeNumber'], extension: true, description: 'enterprise employeeNumber' },
  { name: 'costCenter', path: ['costCenter'], extension: true, description: 'enterprise costCenter' },
  { name: 'organization', path: ['organization'], extension: true, description: 'enterprise organization' },
  { name: 'division', path: ['division'], extension: true, description: 'enterprise division' },
  { name: 'department', path: ['department'], extension: true, description: 'enterprise department' },
  { name: 'manager', path: ['manager', 'value'], extension: true, description: "enterprise manager.value: the manager's id at the provider" },
];

const byName = new Map(USER_ATTRIBUTES.map((a) => [a.name.toLowerCase(), a]));
export const mappedAttribute = (name: string) => byName.get(name.toLowerCase());

export const ACCOUNT_ATTRIBUTE_INFO: AttributeInfo[] = USER_ATTRIBUTES.map((a) => ({
  name: a.name,
  type: 'string',
  multiValued: Boolean(a.multi),
  required: false,
  updatable: true,
  description: a.description,
}));

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The filter path of an attribute, as a provider resolves it: `name.givenName`, `emails.value`, `urn:…:User:department`. */
function filterPath(a: MappedAttribute): string {
  const dotted = a.multi ? `${a.path[0]}.value` : a.path.join('.');
  return a.extension ? `${SCHEMA_ENTERPRISE}:${dotted}` : dotted;
}

function read(resource: Json, a: MappedAttribute): AttributeValue[] {
  let node: unknown = a.extension ? resource[SCHEMA_ENTERPRISE] : resource;
  for (const segment of a.path) {
    if (!isObject(node)) return [];
    node = node[segment];
  }
  if (a.multi) {
    if (!Array.isArray(node)) return [];
    // The primary value first, then the rest in the provider's order.
    const sorted = [...node].filter(isObject).sort((x, y) => Number(y.primary === true) - Number(x.primary === true));
    return sorted.map((v) => v.value).filter((v): v is string => typeof v === 'string');
  }
  return typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean' ? [node] : [];
}

export interface GroupFacts {
  /** Names of groups whose members are privileged. */
  privilegedGroups: ReadonlySet<string>;
}

/**
 * A SCIM User as an account. `groups` (read-only at the provider) are its entitlements; a provider
 * leaves the attribute out when there are none, so an asked-for listing without it means none.
 */
export function userToAccount(resource: Json, facts: GroupFacts, options: { withGroups?: boolean } = {}): Account {
  const attributes: Attributes = {};
  for (const a of USER_ATTRIBUTES) {
    const values = read(resource, a);
    if (values.length) attributes[a.name] = values;
  }
  const groups = Array.isArray(resource.groups) ? resource.groups.filter(isObject) : options.withGroups ? [] : undefined;
  const meta = isObject(resource.meta) ? resource.meta : {};
  const created = typeof meta.created === 'string' && !Number.isNaN(Date.parse(meta.created)) ? new Date(meta.created).toISOString() : undefined;
  return {
    uid: String(resource.id),
    name: String(resource.userName),
    enabled: resource.active !== false,
    attributes,
    ...(groups ? { entitlements: groups.map((g) => String(g.value)), privileged: groups.some((g) => typeof g.display === 'string' && facts.privilegedGroups.has(g.display.toLowerCase())) } : {}),
    ...(created ? { createdAt: created } : {}),
  };
}

export function groupToEntitlement(resource: Json, facts: GroupFacts): Entitlement {
  const name = String(resource.displayName);
  return {
    uid: String(resource.id),
    name,
    kind: 'group',
    privileged: facts.privilegedGroups.has(name.toLowerCase()),
    ...(typeof resource.externalId === 'string' ? { attributes: { externalId: [resource.externalId] } } : {}),
  };
}

/** One attribute's values as the JSON the provider expects at its place. */
function valueFor(a: MappedAttribute | undefined, values: AttributeValue[]): unknown {
  if (a?.multi) return values.map((value, i) => ({ value, type: 'work', ...(i === 0 ? { primary: true } : {}) }));
  return values.length === 1 ? values[0] : values;
}

function setIn(target: Json, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    if (!isObject(node[segment])) node[segment] = {};
    node = node[segment] as Json;
  }
  node[path[path.length - 1]!] = value;
}

/** The User to POST for a new account; the password, when given, is SCIM's write-only `password`. */
export function accountToUser(account: NewAccount & { attributes: Attributes; enabled: boolean }, options: { enterprise: boolean; password?: string }): Json {
  const user: Json = { schemas: [SCHEMA_USER], userName: account.name, active: account.enabled };
  const enterprise: Json = {};
  for (const [name, values] of Object.entries(account.attributes)) {
    if (!values.length) continue;
    const a = mappedAttribute(name);
    if (a?.extension) {
      if (options.enterprise) setIn(enterprise, a.path, a.multi ? valueFor(a, values) : values[0]);
      continue;
    }
    setIn(user, a ? a.path : [name], valueFor(a, values));
  }
  if (Object.keys(enterprise).length) {
    user.schemas = [SCHEMA_USER, SCHEMA_ENTERPRISE];
    user[SCHEMA_ENTERPRISE] = enterprise;
  }
  if (options.password !== undefined) user.password = options.password;
  return user;
}

/** A string literal in a SCIM filter is a JSON string. */
const literal = (v: AttributeValue) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** PATCH operations for attribute deltas; the provider applies all of them or none (RFC 7644 §3.5.2). */
export function deltasToOperations(deltas: AttributeDelta[], options: { enterprise: boolean }): Json[] {
  const ops: Json[] = [];
  for (const d of deltas) {
    const a = mappedAttribute(d.attribute);
    if (a?.extension && !options.enterprise) continue;
    if (a?.multi) {
      const attr = a.path[0]!;
      if (d.op === 'replace') ops.push(d.values.length ? { op: 'replace', path: attr, value: valueFor(a, d.values) } : { op: 'remove', path: attr });
      else if (d.op === 'add') ops.push({ op: 'add', path: attr, value: d.values.map((value) => ({ value, type: 'work' })) });
      else for (const v of d.values) ops.push({ op: 'remove', path: `${attr}[value eq ${literal(v)}]` });
      continue;
    }
    const path = a ? filterPath(a) : d.attribute;
    if (d.op === 'remove' || !d.values.length) ops.push({ op: 'remove', path });
    else ops.push({ op: 'replace', path, value: d.values.length === 1 ? d.values[0] : d.values });
  }
  return ops;
}

/** Account filter attributes and the User attributes a provider filters on. */
function userFilterPath(attribute: string): string | undefined {
  switch (attribute) {
    case 'uid':
      return 'id';
    case 'name':
      return 'userName';
    case 'enabled':
      return 'active';
    case 'memberOf':
      return 'groups.value';
    default: {
      const a = mappedAttribute(attribute);
      return a ? filterPath(a) : undefined;
    }
  }
}

const groupFilterPath = (attribute: string) => (attribute === 'uid' ? 'id' : attribute === 'name' ? 'displayName' : attribute === 'externalId' ? 'externalId' : undefined);

function render(filter: Filter, pathOf: (attribute: string) => string | undefined): string {
  if (!isLeaf(filter)) {
    if (filter.op === 'not') return `not (${render(filter.filter, pathOf)})`;
    return filter.filters.map((f) => `(${render(f, pathOf)})`).join(` ${filter.op} `);
  }
  const path = pathOf(filter.attribute)!;
  return filter.op === 'pr' ? `${path} pr` : `${path} ${filter.op} ${literal(filter.value)}`;
}

/**
 * The part of a filter the provider can answer, as a SCIM filter string, and the rest to check
 * in memory. Enterprise attributes are pushed only when the extension is in use.
 */
export function toScimFilter(filter: Filter | undefined, resource: 'User' | 'Group', options: { enterprise: boolean }): { scim?: string; residual?: Filter } {
  const pathOf = resource === 'User' ? userFilterPath : groupFilterPath;
  const canPush = (leaf: LeafFilter) => {
    const path = pathOf(leaf.attribute);
    if (!path) return false;
    if (!options.enterprise && path.startsWith(SCHEMA_ENTERPRISE)) return false;
    // `id` is a string in SCIM; comparing it with a number or boolean is the provider's 400.
    return leaf.op === 'pr' || typeof leaf.value === 'string' || path === 'active';
  };
  const { pushed, residual } = splitFilter(filter, canPush);
  return { ...(pushed ? { scim: render(pushed, pathOf) } : {}), ...(residual ? { residual } : {}) };
}

