// Attribute values as clients send them, checked against the schema: types, Entra's "True"/"False"
// strings for booleans, and the text PostgreSQL cannot store (NUL, broken UTF-16), refused with a
// message naming the attribute. Also the comparison rules filters use, shared by SQL and memory.
import { invalidSyntax, invalidValue } from './scim-errors.js';
import { FORBIDDEN_SEGMENTS } from './scim-attribute-path.js';
import { findAttribute, type AttributeDef } from './scim-schema.js';

/** Attributes indexed in PostgreSQL: bounded so every value fits a btree entry. */
export const INDEXED_MAX_CHARS = 512;
/** Any other string; the payload limit bounds the total. */
const STRING_MAX_CHARS = 65_536;
/**
 * Values one multi-valued attribute may hold (emails, roles, entitlements...; group members are rows
 * and are not counted here). Advertised in /ServiceProviderConfig and /Schemas. Without a cap one
 * request could make a resource of tens of thousands of values that every later PATCH walks.
 */
export const MAX_VALUES_PER_ATTRIBUTE = 256;

/** Refuses a multi-valued attribute with more values than MAX_VALUES_PER_ATTRIBUTE, naming it. */
export function checkValueCount(count: number, field: string): void {
  if (count > MAX_VALUES_PER_ATTRIBUTE) throw invalidValue(field, `has ${count} values; at most ${MAX_VALUES_PER_ATTRIBUTE} are allowed per multi-valued attribute`);
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** An ISO 8601 time with a time zone, to the millisecond; `finerThanMs` when more digits were given. */
export function parseDateTime(text: string): { ms: number; finerThanMs: boolean } | undefined {
  const m = ISO_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', zone] = m as unknown as string[];
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const base = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(base);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  let offset = 0;
  if (zone!.toUpperCase() !== 'Z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    const oh = Number(zone!.slice(1, 3));
    const om = Number(zone!.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offset = sign * (oh * 60 + om) * 60_000;
  }
  const ms = base + Number(frac.slice(0, 3).padEnd(3, '0')) - offset;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return undefined;
  return { ms, finerThanMs: /[1-9]/.test(frac.slice(3)) };
}

const ASCII = /^\p{ASCII}*$/u;

/**
 * Lowercase by Unicode simple case mapping, code point by code point: what PostgreSQL's `lower()`
 * does under the pg_c_utf8 collation. JavaScript's toLowerCase uses full mappings (İ becomes two
 * code points, final sigma depends on context), so this walks code points instead.
 */
export function simpleLower(text: string): string {
  // ASCII lowercases the same both ways, and is what nearly every value is: no walk needed.
  if (ASCII.test(text)) return text.toLowerCase();
  let out = '';
  for (const ch of text) {
    if (ch === '\u0130') {
      out += 'i';
      continue;
    }
    const lower = ch.toLowerCase();
    out += [...lower].length === 1 ? lower : ch;
  }
  return out;
}

/** Orders strings by code point, as PostgreSQL does for UTF-8 text under a C collation. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** False when a string holds an unpaired UTF-16 surrogate, which UTF-8 (and PostgreSQL) cannot carry. */
export function isWellFormed(value: string): boolean {
  return !/\p{Cs}/u.test(value);
}

export function checkText(value: string, field: string, maxChars: number): string {
  if (!isWellFormed(value)) throw invalidValue(field, 'is not valid Unicode (an unpaired surrogate)');
  if (value.includes('\u0000')) throw invalidValue(field, 'contains a NUL character');
  if (value.length > maxChars) throw invalidValue(field, `is longer than ${maxChars} characters`);
  return value;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A boolean, or Entra's string form of one ("True", "False", any case). */
export function coerceBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  return undefined;
}

/** Structural equality of JSON values, ignoring key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return false;
}

/** A single (not multi-valued) value of a simple attribute, checked and coerced. */
export function normalizeScalar(def: AttributeDef, value: unknown, field: string, maxChars = STRING_MAX_CHARS): string | boolean | number {
  switch (def.type) {
    case 'boolean': {
      const b = coerceBoolean(value);
      if (b === undefined) throw invalidValue(field, 'must be true or false');
      return b;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidValue(field, 'must be an integer');
      return value;
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidValue(field, 'must be a number');
      return value;
    case 'dateTime':
      if (typeof value !== 'string' || !parseDateTime(value)) throw invalidValue(field, 'must be an ISO 8601 time with a time zone');
      return value;
    case 'binary':
      if (typeof value !== 'string' || !BASE64.test(value)) throw invalidValue(field, 'must be base64');
      return checkText(value, field, maxChars);
    case 'complex':
      throw invalidValue(field, 'is complex');
    default:
      if (typeof value !== 'string') throw invalidValue(field, `must be a string, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
      return checkText(value, field, maxChars);
  }
}

/**
 * A complex value: known sub-attributes only (case-insensitive, canonical names kept), readOnly
 * ones dropped, nulls meaning "no value". Returns undefined when nothing is left.
 */
export function normalizeComplex(def: AttributeDef, value: unknown, field: string, options: { keepReadOnly?: boolean } = {}): Record<string, unknown> | undefined {
  if (!isPlainObject(value)) throw invalidValue(field, `must be an object with sub-attributes of ${def.name}`);
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(value)) {
    if (FORBIDDEN_SEGMENTS.has(key.toLowerCase())) throw invalidSyntax(`${field}.${key}`, 'is not allowed');
    const subDef = findAttribute(def.subAttributes, key);
    if (!subDef) throw invalidSyntax(`${field}.${key}`, `${def.name} has no sub-attribute ${key}`);
    if (sub === null || sub === undefined) continue;
    if (subDef.mutability === 'readOnly' && !options.keepReadOnly) continue;
    out[subDef.name] = normalizeScalar(subDef, sub, `${field}.${subDef.name}`);
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * A whole attribute value (multi-valued arrays included). Returns undefined for "no value" (null,
 * empty array, empty object), which RFC 7643 section 2.5 makes equivalent to unassigned.
 */
export function normalizeAttribute(def: AttributeDef, value: unknown, field: string, maxChars?: number): unknown {
  if (value === null || value === undefined) return undefined;
  if (def.multiValued) {
    if (!Array.isArray(value)) throw invalidValue(field, 'must be an array');
    checkValueCount(value.length, field);
    const items: unknown[] = [];
    value.forEach((item, i) => {
      const v = normalizeSingle(def, item, `${field}[${i}]`, maxChars);
      if (v !== undefined) items.push(v);
    });
    if (def.type === 'complex' && findAttribute(def.subAttributes, 'primary')) {
      const primaries = items.filter((i) => (i as Record<string, unknown>).primary === true).length;
      if (primaries > 1) throw invalidValue(field, 'only one value may have primary true');
    }
    return items.length ? items : undefined;
  }
  if (Array.isArray(value)) throw invalidValue(field, 'is single-valued, not an array');
  return normalizeSingle(def, value, field, maxChars);
}

/** One value (of a multi-valued attribute, or the value of a single-valued one). */
export function normalizeSingle(def: AttributeDef, value: unknown, field: string, maxChars?: number): unknown {
  if (value === null || value === undefined) return undefined;
  if (def.type === 'complex') {
    // Entra sets the enterprise manager with the id alone ("value": "<id>"): the value sub-attribute.
    if (typeof value === 'string' && !def.multiValued && findAttribute(def.subAttributes, 'value')) {
      return normalizeComplex(def, { value }, field);
    }
    return normalizeComplex(def, value, field);
  }
  return normalizeScalar(def, value, field, maxChars);
}
