// PATCH paths (RFC 7644 section 3.5.2): `attr`, `attr.sub`, `urn:…:attr.sub`, a bare extension URN,
// and value paths `attr[filter]` or `attr[filter].sub`. Each is resolved against the schema; the
// filter inside brackets is parsed like any other filter, relative to the attribute.
import { invalidPath } from './scim-errors.js';
import { PathError, assertSafeSegments, resolveAttributePath, type AttrRef } from './scim-attribute-path.js';
import { parseFilter, type FilterLimits, type FilterNode } from './scim-filter.js';
import { findAttribute, type ResourceTypeDef, type SchemaDef } from './scim-schema.js';
import { GatehouseError } from '../shared/errors.js';

export type PatchTarget =
  | { kind: 'extension'; schema: SchemaDef; text: string }
  | { kind: 'attribute'; ref: AttrRef; filter?: FilterNode; text: string };

/** The index of the `]` closing the bracket opened at `open`, skipping quoted strings. */
function closingBracket(text: string, open: number): number {
  let inString = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === ']') {
      return i;
    }
  }
  return -1;
}

export function parsePatchPath(rt: ResourceTypeDef, text: string, limits: FilterLimits): PatchTarget {
  if (typeof text !== 'string' || !text.trim()) throw invalidPath(String(text), 'is empty');
  if (text.length > limits.maxLength) throw invalidPath(text.slice(0, 40), `is longer than ${limits.maxLength} characters`);
  try {
    const open = text.indexOf('[');
    if (open < 0) {
      const resolved = resolveAttributePath(rt, text.trim());
      return resolved.kind === 'extension' ? { kind: 'extension', schema: resolved.schema, text } : { kind: 'attribute', ref: resolved.ref, text };
    }
    const close = closingBracket(text, open);
    if (close < 0) throw new PathError('has no closing "]"');
    const head = text.slice(0, open).trim();
    const inner = text.slice(open + 1, close);
    const tail = text.slice(close + 1).trim();
    assertSafeSegments(head);
    assertSafeSegments(tail);
    const resolved = resolveAttributePath(rt, head);
    if (resolved.kind !== 'attribute' || resolved.ref.sub || resolved.ref.attr.type !== 'complex' || !resolved.ref.attr.multiValued) {
      throw new PathError(`"${head}[…]" needs a multi-valued complex attribute such as emails or members`);
    }
    const parent = resolved.ref;
    let filter: FilterNode;
    try {
      filter = parseFilter(rt, inner, limits, parent);
    } catch (err) {
      if (err instanceof GatehouseError) throw new PathError(`has a bad value filter (${err.message.replace(/^filter: /, '')})`);
      throw err;
    }
    if (!tail) return { kind: 'attribute', ref: parent, filter, text };
    if (!tail.startsWith('.') || tail.slice(1).includes('.') || tail.slice(1).includes('[')) throw new PathError(`"${tail}" after the value filter must be .subAttribute`);
    const sub = findAttribute(parent.attr.subAttributes, tail.slice(1));
    if (!sub) throw new PathError(`${parent.attr.name} has no sub-attribute ${tail.slice(1)}`);
    return { kind: 'attribute', ref: { ...parent, sub, path: `${parent.path}.${sub.name}` }, filter, text };
  } catch (err) {
    if (err instanceof PathError) throw invalidPath(text, err.message);
    throw err;
  }
}
