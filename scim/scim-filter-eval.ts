// Evaluates a parsed filter against a SCIM resource in memory: PATCH uses it to pick the values a
// value path names, and the property test holds the SQL translation to exactly these semantics:
//  - strings compare by code point, lowercased by simple case mapping unless caseExact;
//  - a multi-valued attribute matches when any value matches; `ne` is `not eq`;
//  - a missing value never satisfies a comparison; `pr` needs a non-empty value.
import type { AttrRef } from './scim-attribute-path.js';
import type { CompareOp, FilterNode } from './scim-filter.js';
import { compareCodePoints, isPlainObject, parseDateTime, simpleLower } from './scim-values.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function containerOf(resource: Record<string, unknown>, ref: AttrRef): Record<string, unknown> | undefined {
  if (ref.container.kind !== 'extension') return resource;
  const ext = resource[ref.container.schema.id];
  return isPlainObject(ext) ? ext : undefined;
}

/** The attribute's values on a resource: one per element for multi-valued attributes. */
function valuesOf(resource: Record<string, unknown>, ref: AttrRef): unknown[] {
  const container = containerOf(resource, ref);
  const top = container?.[ref.attr.name];
  if (top === undefined || top === null) return [];
  const items = ref.attr.multiValued ? (Array.isArray(top) ? top : []) : [top];
  if (!ref.sub) return items;
  const sub = ref.sub.name;
  return items.flatMap((item) => (isPlainObject(item) && item[sub] !== undefined && item[sub] !== null ? [item[sub]] : []));
}

function isPresent(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

function compareOne(ref: AttrRef, op: CompareOp, actual: unknown, expected: string | boolean | number): boolean {
  const leaf = ref.sub ?? ref.attr;
  if (leaf.type === 'boolean') return typeof actual === 'boolean' && actual === expected;
  if (leaf.type === 'dateTime') {
    if (typeof actual !== 'string') return false;
    const t = parseDateTime(actual);
    if (!t) return false;
    return orderHolds(op, Math.sign(t.ms - (expected as number)));
  }
  if (leaf.type === 'integer' || leaf.type === 'decimal') {
    return typeof actual === 'number' && orderHolds(op, Math.sign(actual - (expected as number)));
  }
  if (typeof actual !== 'string' || typeof expected !== 'string') return false;
  // Ids are UUIDs; only their canonical lowercase spelling matches (id is caseExact).
  if (op === 'eq' && isUuidRef(ref) && !UUID.test(expected)) return false;
  const a = leaf.caseExact ? actual : simpleLower(actual);
  const b = leaf.caseExact ? expected : simpleLower(expected);
  switch (op) {
    case 'eq':
      return a === b;
    case 'co':
      return a.includes(b);
    case 'sw':
      return a.startsWith(b);
    case 'ew':
      return a.endsWith(b);
    default:
      return orderHolds(op, compareCodePoints(a, b));
  }
}

function orderHolds(op: CompareOp, sign: number): boolean {
  switch (op) {
    case 'eq':
      return sign === 0;
    case 'gt':
      return sign > 0;
    case 'ge':
      return sign >= 0;
    case 'lt':
      return sign < 0;
    case 'le':
      return sign <= 0;
    default:
      return false;
  }
}

/** Attributes stored as UUIDs: resource ids and the ids members and groups refer to. */
export function isUuidRef(ref: AttrRef): boolean {
  if (ref.container.kind === 'common') return ref.attr.name === 'id';
  return (ref.attr.name === 'members' || ref.attr.name === 'groups') && ref.sub?.name === 'value' && ref.container.kind === 'core';
}

export function matchesFilter(resource: Record<string, unknown>, node: FilterNode): boolean {
  switch (node.kind) {
    case 'and':
      return node.children.every((c) => matchesFilter(resource, c));
    case 'or':
      return node.children.some((c) => matchesFilter(resource, c));
    case 'not':
      return !matchesFilter(resource, node.child);
    case 'const':
      return node.value;
    case 'present':
      return valuesOf(resource, node.ref).some(isPresent);
    case 'compare': {
      if (node.op === 'ne') return !matchesFilter(resource, { ...node, op: 'eq' });
      return valuesOf(resource, node.ref).some((v) => compareOne(node.ref, node.op, v, node.value));
    }
    case 'valuePath':
      return valuesOf(resource, node.ref).some((element) => isPlainObject(element) && matchesElement(element, node.filter));
  }
}

/** A value-path filter against one element of a multi-valued complex attribute. */
export function matchesElement(element: Record<string, unknown>, node: FilterNode): boolean {
  switch (node.kind) {
    case 'and':
      return node.children.every((c) => matchesElement(element, c));
    case 'or':
      return node.children.some((c) => matchesElement(element, c));
    case 'not':
      return !matchesElement(element, node.child);
    case 'const':
      return node.value;
    case 'present':
      return isPresent(element[node.ref.sub!.name]);
    case 'compare': {
      if (node.op === 'ne') return !matchesElement(element, { ...node, op: 'eq' });
      const v = element[node.ref.sub!.name];
      return v !== undefined && v !== null && compareOne(node.ref, node.op, v, node.value);
    }
    case 'valuePath':
      return false;
  }
}
