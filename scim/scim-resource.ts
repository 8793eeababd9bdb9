// A SCIM resource in its three forms: the body a client sends (checked against the schema and
// reduced to what we store, exactly as sent), the stored form, and the representation we return
// (with id, meta, memberships, and the `attributes` / `excludedAttributes` projection applied).
import { invalidSyntax, invalidValue } from './scim-errors.js';
import { FORBIDDEN_SEGMENTS, PathError, resolveAttributePath, type ResolvedPath } from './scim-attribute-path.js';
import {
  TOLERATED_CLIENT_SCHEMAS,
  commonAttributes,
  findAttribute,
  findExtension,
  type AttributeDef,
  type ResourceTypeDef,
} from './scim-schema.js';
import { INDEXED_MAX_CHARS, checkText, isPlainObject, normalizeAttribute } from './scim-values.js';

/** What we keep of a resource: its attributes with canonical names, extensions under their URN. */
export type StoredResource = Record<string, unknown>;

export interface MemberInput {
  value: string;
  display?: string;
  type?: 'User' | 'Group';
}

function maxCharsFor(rt: ResourceTypeDef, def: AttributeDef): number | undefined {
  if (def.name === 'externalId' || def.name === 'userName') return INDEXED_MAX_CHARS;
  if (rt.name === 'Group' && def.name === 'displayName') return INDEXED_MAX_CHARS;
  return undefined;
}

/** Group members as sent: ids with an optional display and type; `$ref` is ours to set. */
export function parseMembers(value: unknown, field: string): MemberInput[] {
  if (value === null || value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item, i): MemberInput[] => {
    const f = `${field}[${i}]`;
    if (item === null) return [];
    if (!isPlainObject(item)) throw invalidValue(f, 'must be an object like {"value": "<id>"}');
    const out: Partial<MemberInput> = {};
    for (const [key, v] of Object.entries(item)) {
      const lower = key.toLowerCase();
      if (v === null || v === undefined) continue;
      if (lower === 'value') {
        if (typeof v !== 'string' || !v) throw invalidValue(`${f}.value`, 'must be the id of a User or Group');
        out.value = checkText(v, `${f}.value`, INDEXED_MAX_CHARS);
      } else if (lower === 'display') {
        if (typeof v !== 'string') throw invalidValue(`${f}.display`, 'must be a string');
        out.display = checkText(v, `${f}.display`, INDEXED_MAX_CHARS);
      } else if (lower === 'type') {
        if (typeof v !== 'string' || !/^(user|group)$/i.test(v)) throw invalidValue(`${f}.type`, 'must be "User" or "Group"');
        out.type = v.toLowerCase() === 'user' ? 'User' : 'Group';
      } else if (lower !== '$ref') {
        throw invalidSyntax(`${f}.${key}`, 'members have value, display and type only');
      }
    }
    if (!out.value) throw invalidValue(`${f}.value`, 'is required: the id of a User or Group');
    return [out as MemberInput];
  });
}

/** Checks `schemas`: the core schema must be there; others must be our extensions (or tolerated). */
function checkSchemas(rt: ResourceTypeDef, schemas: unknown, extensionsPresent: Set<string>): void {
  if (!Array.isArray(schemas) || schemas.some((s) => typeof s !== 'string')) {
    throw invalidSyntax('schemas', `is required: an array of schema URIs including "${rt.schema.id}"`);
  }
  let core = false;
  for (const s of schemas as string[]) {
    const lower = s.toLowerCase();
    if (lower === rt.schema.id.toLowerCase()) core = true;
    else if (findExtension(rt, s)) extensionsPresent.add(findExtension(rt, s)!.id);
    else if (!TOLERATED_CLIENT_SCHEMAS.has(lower)) throw invalidSyntax('schemas', `"${s}" is not a schema of ${rt.name} here (see /Schemas)`);
  }
  if (!core) throw invalidSyntax('schemas', `must include "${rt.schema.id}"`);
}

/**
 * Reduces a POST or PUT body to the stored form. Unknown attributes are refused (so an admin sees a
 * mapping mistake instead of silent data loss); readOnly ones (id, meta, groups) are ignored as RFC
 * 7643 section 7 says; the password is accepted and dropped, never stored.
 */
export function normalizeResource(rt: ResourceTypeDef, body: unknown): { resource: StoredResource; members: MemberInput[] | undefined } {
  if (!isPlainObject(body)) throw invalidSyntax('body', `must be a JSON object (a ${rt.name} resource)`);
  const extensions = new Set<string>();
  const resource: StoredResource = {};
  let members: MemberInput[] | undefined;
  const seen = new Set<string>();
  checkSchemas(rt, body.schemas, extensions);
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (seen.has(lower)) throw invalidSyntax(key, 'is given twice (attribute names are case-insensitive)');
    seen.add(lower);
    if (lower === 'schemas') continue;
    if (FORBIDDEN_SEGMENTS.has(lower)) throw invalidSyntax(key, 'is not allowed');
    const ext = findExtension(rt, key);
    if (ext) {
      if (value === null) continue;
      if (!isPlainObject(value)) throw invalidValue(ext.id, 'must be an object of extension attributes');
      const out: StoredResource = {};
      for (const [k, v] of Object.entries(value)) {
        if (FORBIDDEN_SEGMENTS.has(k.toLowerCase())) throw invalidSyntax(`${ext.id}:${k}`, 'is not allowed');
        const def = findAttribute(ext.attributes, k);
        if (!def) throw invalidSyntax(`${ext.id}:${k}`, `is not an attribute of ${ext.name}`);
        if (def.mutability === 'readOnly' || def.mutability === 'writeOnly') continue;
        const normalized = normalizeAttribute(def, v, `${ext.id}:${def.name}`);
        if (normalized !== undefined) out[def.name] = normalized;
      }
      if (Object.keys(out).length) {
        resource[ext.id] = out;
        extensions.add(ext.id);
      }
      continue;
    }
    const def = findAttribute(rt.schema.attributes, key) ?? findAttribute(commonAttributes, key);
    if (!def) throw invalidSyntax(key, `is not an attribute of ${rt.name} (see /Schemas)`);
    if (def.mutability === 'readOnly' || def.mutability === 'writeOnly') continue;
    if (rt.name === 'Group' && def.name === 'members') {
      members = parseMembers(value, 'members');
      continue;
    }
    const normalized = normalizeAttribute(def, value, def.name, maxCharsFor(rt, def));
    if (normalized !== undefined) resource[def.name] = normalized;
  }
  checkRequired(rt, resource);
  return { resource: orderResource(rt, resource), members };
}

/** Required attributes must have a non-empty value. */
export function checkRequired(rt: ResourceTypeDef, resource: StoredResource): void {
  for (const def of rt.schema.attributes) {
    if (!def.required) continue;
    const v = resource[def.name];
    if (v === undefined || v === '') throw invalidValue(def.name, `is required for a ${rt.name}`);
  }
}

/** externalId first, then core attributes in the order given, then extensions. */
export function orderResource(rt: ResourceTypeDef, resource: StoredResource): StoredResource {
  const out: StoredResource = {};
  if (resource.externalId !== undefined) out.externalId = resource.externalId;
  for (const [k, v] of Object.entries(resource)) if (k !== 'externalId' && !findExtension(rt, k)) out[k] = v;
  for (const { schema } of rt.extensions) if (resource[schema.id] !== undefined) out[schema.id] = resource[schema.id];
  return out;
}

export interface ResourceRow {
  id: string;
  resource: StoredResource;
  version: number;
  created: string;
  lastModified: string;
  /** Users: the groups they are a direct member of, when loaded. */
  groups?: { value: string; display: string }[];
  /** Groups: their members, when loaded. */
  members?: { value: string; display: string | null; type: 'User' | 'Group' }[];
}

export const etagOf = (version: number) => `W/"${version}"`;

/** The representation we return, before projection. */
export function renderResource(rt: ResourceTypeDef, row: ResourceRow, baseUrl: string): Record<string, unknown> {
  const schemas = [rt.schema.id, ...rt.extensions.filter((e) => row.resource[e.schema.id] !== undefined).map((e) => e.schema.id)];
  // Schema order, not the stored order: jsonb keeps object keys sorted by length.
  const out: Record<string, unknown> = { schemas, id: row.id };
  if (row.resource.externalId !== undefined) out.externalId = row.resource.externalId;
  for (const def of rt.schema.attributes) if (row.resource[def.name] !== undefined) out[def.name] = row.resource[def.name];
  for (const { schema } of rt.extensions) if (row.resource[schema.id] !== undefined) out[schema.id] = row.resource[schema.id];
  if (row.groups?.length) {
    out.groups = row.groups.map((g) => ({ value: g.value, $ref: `${baseUrl}/Groups/${g.value}`, display: g.display, type: 'direct' }));
  }
  if (row.members?.length) {
    out.members = row.members.map((m) => ({
      value: m.value,
      $ref: `${baseUrl}/${m.type === 'User' ? 'Users' : 'Groups'}/${m.value}`,
      ...(m.display !== null ? { display: m.display } : {}),
      type: m.type,
    }));
  }
  out.meta = { resourceType: rt.name, created: row.created, lastModified: row.lastModified, location: `${baseUrl}${rt.endpoint}/${row.id}`, version: etagOf(row.version) };
  return out;
}

export interface Projection {
  attributes?: ResolvedPath[];
  excluded?: ResolvedPath[];
}

function splitList(param: unknown, name: string): string[] | undefined {
  if (param === undefined) return undefined;
  const parts = Array.isArray(param) ? param : [param];
  if (parts.some((p) => typeof p !== 'string')) throw invalidValue(name, 'must be a comma-separated list of attribute names');
  const names = (parts as string[]).flatMap((p) => p.split(',')).map((s) => s.trim()).filter(Boolean);
  return names.length ? names : undefined;
}

/** Parses `attributes` and `excludedAttributes`; unknown names are refused with the name. */
export function parseProjection(rt: ResourceTypeDef, attributes: unknown, excluded: unknown, options: { lenient?: boolean } = {}): Projection {
  const resolve = (names: string[] | undefined, param: string) =>
    names?.flatMap((n) => {
      try {
        return [resolveAttributePath(rt, n)];
      } catch (err) {
        if (err instanceof PathError) {
          if (options.lenient) return [];
          throw invalidValue(param, err.message);
        }
        throw err;
      }
    });
  const a = resolve(splitList(attributes, 'attributes'), 'attributes');
  const e = resolve(splitList(excluded, 'excludedAttributes'), 'excludedAttributes');
  return { ...(a ? { attributes: a } : {}), ...(e ? { excluded: e } : {}) };
}

const topKey = (p: ResolvedPath) => (p.kind === 'extension' ? p.schema.id : p.ref.container.kind === 'extension' ? p.ref.container.schema.id : p.ref.attr.name);

/** Whether a projection returns (any part of) a top-level attribute, e.g. to skip loading members. */
export function projectionIncludes(projection: Projection, attrName: string): boolean {
  if (projection.attributes) return projection.attributes.some((p) => p.kind === 'attribute' && p.ref.container.kind !== 'extension' && p.ref.attr.name === attrName);
  return !projection.excluded?.some((p) => p.kind === 'attribute' && p.ref.container.kind !== 'extension' && p.ref.attr.name === attrName && !p.ref.sub);
}

function pick(value: unknown, sub: string): unknown {
  if (Array.isArray(value)) {
    const items = value.flatMap((v) => (isPlainObject(v) && v[sub] !== undefined ? [{ [sub]: v[sub] }] : []));
    return items.length ? items : undefined;
  }
  return isPlainObject(value) && value[sub] !== undefined ? { [sub]: value[sub] } : undefined;
}

function mergeInto(target: Record<string, unknown>, key: string, value: unknown): void {
  const existing = target[key];
  if (Array.isArray(existing) && Array.isArray(value)) {
    target[key] = existing.map((e, i) => ({ ...(e as object), ...(value[i] as object) }));
  } else if (isPlainObject(existing) && isPlainObject(value)) {
    target[key] = { ...existing, ...value };
  } else {
    target[key] = value;
  }
}

/** Applies `attributes` / `excludedAttributes` to a rendered resource (id and schemas always stay). */
export function projectResource(rendered: Record<string, unknown>, projection: Projection): Record<string, unknown> {
  if (projection.attributes) {
    const out: Record<string, unknown> = { schemas: rendered.schemas, id: rendered.id };
    for (const p of projection.attributes) {
      if (p.kind === 'extension') {
        if (rendered[p.schema.id] !== undefined) out[p.schema.id] = rendered[p.schema.id];
        continue;
      }
      const { ref } = p;
      if (ref.attr.returned === 'never' || (ref.sub && ref.sub.returned === 'never')) continue;
      const holder = ref.container.kind === 'extension' ? (rendered[ref.container.schema.id] as Record<string, unknown> | undefined) : rendered;
      const value = holder?.[ref.attr.name];
      if (value === undefined) continue;
      const picked = ref.sub ? pick(value, ref.sub.name) : value;
      if (picked === undefined) continue;
      if (ref.container.kind === 'extension') {
        const ext = (out[ref.container.schema.id] ??= {}) as Record<string, unknown>;
        mergeInto(ext, ref.attr.name, picked);
      } else {
        mergeInto(out, ref.attr.name, picked);
      }
    }
    out.schemas = (rendered.schemas as string[]).filter((s, i) => i === 0 || out[s] !== undefined);
    return out;
  }
  if (!projection.excluded) return rendered;
  const out: Record<string, unknown> = { ...rendered };
  for (const p of projection.excluded) {
    if (p.kind === 'extension') {
      delete out[p.schema.id];
      continue;
    }
    const { ref } = p;
    if (ref.attr.returned === 'always' || ref.sub?.returned === 'always') continue;
    const key = topKey(p);
    if (ref.container.kind === 'extension') {
      const ext = out[key];
      if (!isPlainObject(ext)) continue;
      const copy = { ...ext };
      if (ref.sub) copy[ref.attr.name] = stripSub(copy[ref.attr.name], ref.sub.name);
      else delete copy[ref.attr.name];
      if (copy[ref.attr.name] === undefined) delete copy[ref.attr.name];
      if (Object.keys(copy).length) out[key] = copy;
      else delete out[key];
    } else if (ref.sub) {
      const stripped = stripSub(out[key], ref.sub.name);
      if (stripped === undefined) delete out[key];
      else out[key] = stripped;
    } else {
      delete out[key];
    }
  }
  out.schemas = (rendered.schemas as string[]).filter((s, i) => i === 0 || out[s] !== undefined);
  return out;
}

function stripSub(value: unknown, sub: string): unknown {
  const strip = (v: unknown) => {
    if (!isPlainObject(v)) return v;
    const { [sub]: _dropped, ...rest } = v;
    return Object.keys(rest).length ? rest : undefined;
  };
  if (Array.isArray(value)) {
    const items = value.map(strip).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  return strip(value);
}
