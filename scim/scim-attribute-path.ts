// Resolves an attribute path (`userName`, `name.givenName`, `emails.value`, `meta.lastModified`,
// `urn:…:enterprise:2.0:User:manager.value`) against a resource type's schemas. Every path a client
// sends (in filters, PATCH, sortBy, attributes) goes through here; nothing unresolved reaches SQL.
import {
  commonAttributes,
  findAttribute,
  type AttributeDef,
  type ResourceTypeDef,
  type SchemaDef,
} from './scim-schema.js';

/** Path segments that could reach Object.prototype if ever used as keys; refused everywhere. */
export const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

export class PathError extends Error {}

/** Where an attribute lives in the stored resource: top level (core and common) or under its extension URN. */
export type Container = { kind: 'core' } | { kind: 'common' } | { kind: 'extension'; schema: SchemaDef };

export interface AttrRef {
  container: Container;
  attr: AttributeDef;
  sub?: AttributeDef;
  /** Canonical spelling, for messages and output keys. */
  path: string;
}

export type ResolvedPath = { kind: 'attribute'; ref: AttrRef } | { kind: 'extension'; schema: SchemaDef };

export function assertSafeSegments(text: string): void {
  for (const segment of text.split(/[.:[\]\s]/)) {
    if (FORBIDDEN_SEGMENTS.has(segment.toLowerCase())) throw new PathError(`the segment "${segment}" is not allowed`);
  }
}

function splitSchemaPrefix(rt: ResourceTypeDef, text: string): { container: Container; rest: string } | { extension: SchemaDef } {
  const lower = text.toLowerCase();
  for (const { schema } of rt.extensions) {
    const id = schema.id.toLowerCase();
    if (lower === id) return { extension: schema };
    if (lower.startsWith(`${id}:`)) return { container: { kind: 'extension', schema }, rest: text.slice(id.length + 1) };
  }
  const core = rt.schema.id.toLowerCase();
  if (lower.startsWith(`${core}:`)) return { container: { kind: 'core' }, rest: text.slice(core.length + 1) };
  if (lower.startsWith('urn:')) throw new PathError(`"${text}" names a schema this ${rt.name} resource does not have`);
  return { container: { kind: 'core' }, rest: text };
}

/** Resolves `attr`, `attr.sub`, or either with a schema URN prefix; or a bare extension URN. */
export function resolveAttributePath(rt: ResourceTypeDef, text: string): ResolvedPath {
  if (!text) throw new PathError('an attribute path is empty');
  assertSafeSegments(text);
  const split = splitSchemaPrefix(rt, text);
  if ('extension' in split) return { kind: 'extension', schema: split.extension };
  const parts = split.rest.split('.');
  if (parts.length > 2 || parts.some((p) => !/^\$?[A-Za-z][A-Za-z0-9_-]*$/.test(p))) {
    throw new PathError(`"${text}" is not an attribute path (attr or attr.subAttr)`);
  }
  const [name, subName] = parts as [string, string | undefined];
  let container = split.container;
  let attr: AttributeDef | undefined;
  if (container.kind === 'extension') {
    attr = findAttribute(container.schema.attributes, name);
  } else {
    attr = findAttribute(rt.schema.attributes, name);
    if (!attr && split.rest === text) {
      attr = findAttribute(commonAttributes, name);
      if (attr) container = { kind: 'common' };
    }
  }
  if (!attr) throw new PathError(`"${text}" is not an attribute of ${rt.name}`);
  let sub: AttributeDef | undefined;
  if (subName !== undefined) {
    if (attr.type !== 'complex') throw new PathError(`"${text}": ${attr.name} has no sub-attributes`);
    sub = findAttribute(attr.subAttributes, subName);
    if (!sub) throw new PathError(`"${text}": ${attr.name} has no sub-attribute ${subName}`);
  }
  const prefix = container.kind === 'extension' ? `${container.schema.id}:` : '';
  return { kind: 'attribute', ref: { container, attr, ...(sub ? { sub } : {}), path: `${prefix}${attr.name}${sub ? `.${sub.name}` : ''}` } };
}

/** The attribute named relative to a complex parent, as inside a value filter `emails[type eq "work"]`. */
export function resolveSubAttribute(parent: AttrRef, name: string): AttrRef {
  assertSafeSegments(name);
  let local = name;
  // `emails[emails.type eq "x"]` is not RFC syntax, but the parent prefix is unambiguous; accept it.
  if (local.toLowerCase().startsWith(`${parent.attr.name.toLowerCase()}.`)) local = local.slice(parent.attr.name.length + 1);
  const sub = findAttribute(parent.attr.subAttributes, local);
  if (!sub || local.includes('.')) throw new PathError(`"${name}" is not a sub-attribute of ${parent.attr.name}`);
  return { container: parent.container, attr: parent.attr, sub, path: `${parent.path}.${sub.name}` };
}
