// PATCH (RFC 7644 section 3.5.2), written here by hand: the npm `scim-patch` available to us (0.8.3)
// carries a critical prototype-pollution advisory, and Gatehouse must also accept what identity
// providers actually send:
//  - operation names in any case (Entra: "Add", "Replace", "Remove");
//  - no path, with value keys that are plain (`active`), dotted (`name.givenName`), URN-qualified
//    (`urn:…:enterprise:2.0:User:employeeNumber`) or a whole extension object (Okta, Entra);
//  - "True"/"False" strings for booleans (Entra);
//  - a value path that matches nothing on add or replace adds the value its filter describes
//    (Entra's `emails[type eq "work"].value`);
//  - Entra's two member removals: `members[value eq "x"]`, and path `members` with a value array.
// The document is a plain copy rebuilt from known attribute names only; `__proto__`, `constructor`
// and `prototype` are refused as path segments and as keys. Group members are rows, not part of the
// document: operations on them come out as MemberChanges for the store to apply in SQL.
import { invalidSyntax, invalidValue, mutability, noTarget } from './scim-errors.js';
import { FORBIDDEN_SEGMENTS, type AttrRef } from './scim-attribute-path.js';
import { equalityTemplate, type FilterLimits, type FilterNode } from './scim-filter.js';
import { matchesElement } from './scim-filter-eval.js';
import { parsePatchPath, type PatchTarget } from './scim-patch-path.js';
import { checkRequired, orderResource, parseMembers, type MemberInput, type StoredResource } from './scim-resource.js';
import { MSG_PATCH, findAttribute, type AttributeDef, type ResourceTypeDef } from './scim-schema.js';
import { INDEXED_MAX_CHARS, checkValueCount, isPlainObject, normalizeComplex, normalizeScalar, normalizeSingle, sameJson, simpleLower } from './scim-values.js';
import { canonicalJson } from '../shared/canonical-json.js';

export type PatchOpName = 'add' | 'replace' | 'remove';

/**
 * Member values one PATCH may name, in all its operations. Each added or removed member is a user
 * whose version and identity event change in the same transaction, so this bounds a PATCH's work
 * (20,000 members took 1.7 s here). Identity providers send far fewer: AWS IAM Identity Center takes
 * at most 100 per request, IBM Verify 2,500. Advertised in /ServiceProviderConfig.
 */
export const MAX_MEMBERS_PER_PATCH = 2500;

export interface PatchOperation {
  op: PatchOpName;
  path?: string;
  value?: unknown;
  /** Position in the request, for messages. */
  index: number;
}

export type MemberChange =
  | { kind: 'add'; members: MemberInput[] }
  | { kind: 'replaceAll'; members: MemberInput[] }
  | { kind: 'removeAll' }
  | { kind: 'remove'; ids: string[] }
  | { kind: 'removeWhere'; filter: FilterNode }
  | { kind: 'replaceWhere'; filter: FilterNode; member: Partial<MemberInput>; addIfNone?: MemberInput; path: string }
  | { kind: 'setDisplay'; filter?: FilterNode; display: string | null };

export interface PatchResult {
  resource: StoredResource;
  memberChanges: MemberChange[];
}

/** Checks the PatchOp message and its operations; every problem names the operation. */
export function parsePatchRequest(body: unknown, maxOperations: number): PatchOperation[] {
  if (!isPlainObject(body)) throw invalidSyntax('body', 'must be a PatchOp message: {"schemas": [...PatchOp], "Operations": [...]}');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === MSG_PATCH.toLowerCase())) {
    throw invalidSyntax('schemas', `must include "${MSG_PATCH}"`);
  }
  const opsKey = Object.keys(body).find((k) => k.toLowerCase() === 'operations');
  const ops = opsKey ? body[opsKey] : undefined;
  if (!Array.isArray(ops) || ops.length === 0) throw invalidSyntax('Operations', 'must be a non-empty array of operations');
  if (ops.length > maxOperations) throw invalidSyntax('Operations', `has ${ops.length} operations; at most ${maxOperations} are allowed`);
  return ops.map((raw, index): PatchOperation => {
    const field = `Operations[${index}]`;
    if (!isPlainObject(raw)) throw invalidSyntax(field, 'must be an object with op, path and value');
    const entries = new Map(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]));
    for (const key of entries.keys()) {
      if (key !== 'op' && key !== 'path' && key !== 'value') throw invalidSyntax(`${field}.${key}`, 'is not part of a PATCH operation (op, path, value)');
    }
    const op = entries.get('op');
    if (typeof op !== 'string' || !/^(add|replace|remove)$/i.test(op)) throw invalidSyntax(`${field}.op`, 'must be add, replace or remove');
    const path = entries.get('path');
    if (path !== undefined && path !== null && typeof path !== 'string') throw invalidSyntax(`${field}.path`, 'must be a string');
    const name = op.toLowerCase() as PatchOpName;
    if (name !== 'remove' && !entries.has('value')) throw invalidSyntax(`${field}.value`, `is required for ${name}`);
    return {
      op: name,
      index,
      ...(typeof path === 'string' && path !== '' ? { path } : {}),
      ...(entries.has('value') ? { value: entries.get('value') } : {}),
    };
  });
}


/** Entra removes `{"value": "x"}` entries: match on value (by the sub-attribute's case rule), else on the whole. */
function sameEntry(valueCaseExact: boolean, existing: unknown, given: unknown): boolean {
  if (isPlainObject(existing) && isPlainObject(given) && typeof given.value === 'string' && typeof existing.value === 'string') {
    return valueCaseExact ? existing.value === given.value : simpleLower(existing.value) === simpleLower(given.value);
  }
  return sameJson(existing, given);
}

/**
 * Below this many comparisons (values given times values held) an add or remove compares pairs;
 * above it, it matches by key in one pass. Comparing every pair of a 20,000-value add held the event
 * loop for 27 s; keys cost more per value than one comparison, so a few values are compared.
 */
const PAIRWISE_MAX = 4096;

/**
 * The key a value is matched by: the canonical JSON of the value, equal exactly when sameJson is.
 * Keys are cached per object, since the operations of one PATCH see the same values again.
 */
class ValueKeys {
  private readonly cache = new WeakMap<object, string>();
  private readonly removalCache = new WeakMap<object, string>();

  of(value: unknown): string {
    if (typeof value !== 'object' || value === null) return JSON.stringify(value);
    let key = this.cache.get(value);
    if (key === undefined) {
      key = canonicalJson(value);
      this.cache.set(value, key);
    }
    return key;
  }

  /** What a removal matches by, as sameEntry does: the `value` (by its case rule) where both have one. */
  forRemoval(def: AttributeDef, value: unknown): string {
    if (!isPlainObject(value) || typeof value.value !== 'string') return `j:${this.of(value)}`;
    let key = this.removalCache.get(value);
    if (key === undefined) {
      key = `v:${findAttribute(def.subAttributes, 'value')?.caseExact ? value.value : simpleLower(value.value)}`;
      this.removalCache.set(value, key);
    }
    return key;
  }
}

/** The complex value with `update` applied; the same object when that changes nothing (its cached key stays good). */
function merged(existing: unknown, update: Record<string, unknown>): unknown {
  if (isPlainObject(existing)) {
    let same = true;
    for (const key in update) if (existing[key] !== update[key]) same = false;
    if (same) return existing;
  }
  return { ...(existing as object), ...update };
}

function withoutKey(value: unknown, key: string): Record<string, unknown> | undefined {
  if (!isPlainObject(value)) return undefined;
  const { [key]: _removed, ...rest } = value;
  return Object.keys(rest).length ? rest : undefined;
}

class Patcher {
  private readonly resource: StoredResource;
  private readonly keys = new ValueKeys();
  private membersNamed = 0;
  readonly memberChanges: MemberChange[] = [];

  constructor(
    private readonly rt: ResourceTypeDef,
    current: StoredResource,
    private readonly options: { id: string; limits: FilterLimits },
  ) {
    this.resource = structuredClone(current);
  }

  result(): PatchResult {
    checkRequired(this.rt, this.resource);
    return { resource: orderResource(this.rt, this.resource), memberChanges: this.memberChanges };
  }

  apply(op: PatchOperation): void {
    const field = `Operations[${op.index}]`;
    if (op.path === undefined) {
      if (op.op === 'remove') throw noTarget('', `${field}: remove needs a path`);
      if (!isPlainObject(op.value)) throw invalidValue(`${field}.value`, 'must be an object of attributes when the operation has no path');
      for (const [key, value] of Object.entries(op.value)) this.applyKey(op.op, key, value, `${field}.value.${key}`);
      return;
    }
    this.applyTarget(op.op, parsePatchPath(this.rt, op.path, this.options.limits), op.value, `${field}.value`);
  }

  /** A key of a no-path value: itself a path. Echoed server fields (schemas, meta, an unchanged id) are ignored. */
  private applyKey(op: PatchOpName, key: string, value: unknown, field: string): void {
    const lower = key.toLowerCase();
    if (lower === 'schemas' || lower === 'meta') return;
    if (FORBIDDEN_SEGMENTS.has(lower)) throw invalidSyntax(field, 'is not allowed');
    const target = parsePatchPath(this.rt, key, this.options.limits);
    if (target.kind === 'attribute' && target.ref.container.kind === 'common' && target.ref.attr.name === 'id') {
      if (value === this.options.id) return;
      throw mutability('id', 'is readOnly: it is assigned by Gatehouse');
    }
    this.applyTarget(op, target, value, field);
  }

  private applyTarget(op: PatchOpName, target: PatchTarget, value: unknown, field: string): void {
    if (target.kind === 'extension') {
      const urn = target.schema.id;
      if (op === 'remove' || value === null) {
        delete this.resource[urn];
        return;
      }
      if (!isPlainObject(value)) throw invalidValue(field, `must be an object of ${target.schema.name} attributes`);
      for (const [k, v] of Object.entries(value)) {
        if (FORBIDDEN_SEGMENTS.has(k.toLowerCase())) throw invalidSyntax(`${field}.${k}`, 'is not allowed');
        this.applyTarget(op, parsePatchPath(this.rt, `${urn}:${k}`, this.options.limits), v, `${field}.${k}`);
      }
      return;
    }
    const { ref, filter } = target;
    if (this.rt.name === 'Group' && ref.container.kind === 'core' && ref.attr.name === 'members') {
      this.memberChange(op, ref, filter, value, field, target.text);
      return;
    }
    const leaf = ref.sub ?? ref.attr;
    if (ref.attr.mutability === 'readOnly' || leaf.mutability === 'readOnly') throw mutability(ref.path, 'is readOnly');
    if (leaf.mutability === 'writeOnly') return; // the password: accepted, never stored
    const container = this.container(ref);
    if (!ref.attr.multiValued) this.applySingle(op, ref, container, value, field);
    else this.applyMulti(op, ref, filter, container, value, field, target.text);
    if (ref.container.kind === 'extension' && !Object.keys(container).length) delete this.resource[ref.container.schema.id];
  }

  private container(ref: AttrRef): Record<string, unknown> {
    if (ref.container.kind !== 'extension') return this.resource;
    const urn = ref.container.schema.id;
    const existing = this.resource[urn];
    const ext = isPlainObject(existing) ? existing : {};
    this.resource[urn] = ext;
    return ext;
  }

  private applySingle(op: PatchOpName, ref: AttrRef, c: Record<string, unknown>, value: unknown, field: string): void {
    const name = ref.attr.name;
    if (!ref.sub) {
      if (op === 'remove' || value === null) {
        delete c[name];
      } else if (ref.attr.type === 'complex') {
        // add and replace on a complex attribute both merge the sub-attributes given.
        const v = normalizeSingle(ref.attr, value, field) as Record<string, unknown> | undefined;
        if (v) c[name] = { ...(isPlainObject(c[name]) ? c[name] : {}), ...v };
      } else {
        const max = ref.container.kind === 'common' || name === 'userName' || (this.rt.name === 'Group' && name === 'displayName') ? INDEXED_MAX_CHARS : undefined;
        c[name] = normalizeScalar(ref.attr, value, field, max);
      }
      return;
    }
    const sub = ref.sub.name;
    const obj: Record<string, unknown> = isPlainObject(c[name]) ? { ...c[name] } : {};
    if (op === 'remove' || value === null) delete obj[sub];
    else obj[sub] = normalizeScalar(ref.sub, value, field);
    if (Object.keys(obj).length) c[name] = obj;
    else delete c[name];
  }

  private applyMulti(op: PatchOpName, ref: AttrRef, filter: FilterNode | undefined, c: Record<string, unknown>, value: unknown, field: string, path: string): void {
    const name = ref.attr.name;
    const before: unknown[] = Array.isArray(c[name]) ? (c[name] as unknown[]) : [];
    let items = [...before];
    const sub = ref.sub?.name;
    if (!filter) {
      if (!sub) {
        const given = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
        checkValueCount(given.length, ref.path);
        const incoming = given.map((v, i) => normalizeSingle(ref.attr, v, `${field}[${i}]`)).filter((v) => v !== undefined);
        if (op === 'remove') {
          if (value === undefined || value === null) {
            items = [];
          } else {
            if (incoming.length * items.length <= PAIRWISE_MAX) {
              const caseExact = findAttribute(ref.attr.subAttributes, 'value')?.caseExact ?? false;
              items = items.filter((e) => !incoming.some((g) => sameEntry(caseExact, e, g)));
            } else {
              const removed = new Set(incoming.map((g) => this.keys.forRemoval(ref.attr, g)));
              items = items.filter((e) => !removed.has(this.keys.forRemoval(ref.attr, e)));
            }
          }
        } else if (op === 'replace') {
          items = incoming;
        } else if (incoming.length * items.length <= PAIRWISE_MAX) {
          for (const v of incoming) if (!items.some((e) => sameJson(e, v))) items.push(v);
        } else {
          const present = new Set(items.map((e) => this.keys.of(e)));
          for (const v of incoming) {
            const key = this.keys.of(v);
            if (present.has(key)) continue;
            present.add(key);
            items.push(v);
          }
        }
      } else if (op === 'remove' || value === null) {
        items = items.map((e) => withoutKey(e, sub)).filter((e) => e !== undefined);
      } else {
        // `emails.value` with no filter names the sub-attribute of every value (or of a new one).
        const v = normalizeScalar(ref.sub!, value, field);
        items = items.length ? items.map((e) => merged(isPlainObject(e) ? e : {}, { [sub]: v })) : [{ [sub]: v }];
      }
    } else {
      const matched = items.map((e) => isPlainObject(e) && matchesElement(e, filter));
      if (op === 'remove' || value === null) {
        items = sub
          ? items.map((e, i) => (matched[i] ? withoutKey(e, sub) : e)).filter((e) => e !== undefined)
          : items.filter((_, i) => !matched[i]);
      } else {
        const update = sub ? { [sub]: normalizeScalar(ref.sub!, value, field) } : normalizeComplex(ref.attr, value, field);
        if (update) {
          if (matched.some(Boolean)) {
            items = items.map((e, i) => (matched[i] ? merged(e, update) : e));
          } else {
            // Nothing matches: add the value the filter describes (what Entra expects of replace, too).
            const template = equalityTemplate(filter);
            if (!template) throw noTarget(path, 'matches no value, and its filter does not describe a new one (use eq conditions joined by and)');
            const element: Record<string, unknown> = {};
            for (const [def, v] of template) element[def.name] = v;
            items.push({ ...element, ...update });
          }
        }
      }
    }
    checkValueCount(items.length, ref.path);
    this.fixPrimary(ref, before, items, field);
    if (items.length) c[name] = items;
    else delete c[name];
  }

  /** A PATCH that makes a value primary makes the others non-primary (RFC 7644 section 3.5.2). */
  private fixPrimary(ref: AttrRef, before: unknown[], items: unknown[], field: string): void {
    if (!findAttribute(ref.attr.subAttributes, 'primary')) return;
    const primaries = items.filter((e) => isPlainObject(e) && e.primary === true);
    if (primaries.length <= 1) return;
    const old = new Set(before);
    const fresh = primaries.filter((e) => !old.has(e));
    if (fresh.length !== 1) throw invalidValue(field, `only one ${ref.attr.name} value may have primary true`);
    items.forEach((e, i) => {
      if (isPlainObject(e) && e.primary === true && e !== fresh[0]) items[i] = { ...e, primary: false };
    });
  }

  private countMembers(n: number): void {
    this.membersNamed += n;
    if (this.membersNamed > MAX_MEMBERS_PER_PATCH) {
      throw invalidValue('members', `a PATCH may name at most ${MAX_MEMBERS_PER_PATCH} members in all its operations (this one names more): send the rest in further requests`);
    }
  }

  private memberChange(op: PatchOpName, ref: AttrRef, filter: FilterNode | undefined, value: unknown, field: string, path: string): void {
    const sub = ref.sub?.name;
    if (sub && sub !== 'display') {
      throw mutability(ref.path, sub === '$ref' ? 'is set by Gatehouse' : 'is immutable: remove the member and add another instead');
    }
    const changes = this.memberChanges;
    if (sub === 'display') {
      const display = op === 'remove' || value === null ? null : (normalizeScalar(ref.sub!, value, field) as string);
      changes.push({ kind: 'setDisplay', ...(filter ? { filter } : {}), display });
      return;
    }
    if (!filter) {
      if (op !== 'remove' || (value !== undefined && value !== null)) this.countMembers(Array.isArray(value) ? value.length : 1);
      if (op === 'add') changes.push({ kind: 'add', members: parseMembers(value, field) });
      else if (op === 'replace') changes.push({ kind: 'replaceAll', members: parseMembers(value, field) });
      else if (value === undefined || value === null) changes.push({ kind: 'removeAll' });
      else changes.push({ kind: 'remove', ids: parseMembers(value, field).map((m) => m.value) });
      return;
    }
    if (op === 'remove' || value === null) {
      changes.push({ kind: 'removeWhere', filter });
      return;
    }
    if (!isPlainObject(value)) throw invalidValue(field, 'must be one member object');
    this.countMembers(1);
    const [member] = parseMembers([{ value: 'placeholder', ...value }], field);
    const given: Partial<MemberInput> = { ...member! };
    if (!Object.keys(value).some((k) => k.toLowerCase() === 'value')) delete given.value;
    const template = equalityTemplate(filter);
    const templateValue = template && [...template].find(([def]) => def.name === 'value')?.[1];
    const newValue = given.value ?? (typeof templateValue === 'string' ? templateValue : undefined);
    changes.push({
      kind: 'replaceWhere',
      filter,
      member: given,
      path,
      ...(newValue ? { addIfNone: { ...given, value: newValue } } : {}),
    });
  }
}

/** Applies PATCH operations to a copy of the stored resource. Throws a SCIM 400 on the first bad one. */
export function applyPatch(rt: ResourceTypeDef, current: StoredResource, operations: PatchOperation[], options: { id: string; limits: FilterLimits }): PatchResult {
  const patcher = new Patcher(rt, current, options);
  for (const op of operations) patcher.apply(op);
  return patcher.result();
}

/** Operations applied between two turns of the event loop: a few milliseconds of work at most. */
const OPERATIONS_PER_TURN = 50;

/**
 * applyPatch for a server: the event loop gets a turn every OPERATIONS_PER_TURN operations, so that
 * the largest PATCH the limits allow (1,000 operations, each over a full attribute) never holds
 * other requests up for its whole length.
 */
export async function applyPatchYielding(rt: ResourceTypeDef, current: StoredResource, operations: PatchOperation[], options: { id: string; limits: FilterLimits }): Promise<PatchResult> {
  const patcher = new Patcher(rt, current, options);
  for (let at = 0; at < operations.length; at += OPERATIONS_PER_TURN) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const op of operations.slice(at, at + OPERATIONS_PER_TURN)) patcher.apply(op);
  }
  return patcher.result();
}
