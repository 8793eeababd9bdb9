// A flow's field rules on a mapped record, before anything else sees it: the target, the logs, the
// ledger, dead letters. `hash` is a keyed HMAC-SHA256 (the key is the flows' own, in Vault): the same
// value hashes the same in every run and flow, so hashed fields still join, but nobody holding only
// the output can test guesses (an unkeyed hash of an e-mail address is a lookup away from the
// address). `mask` keeps the last four characters of the value as text.
import { createHmac } from 'node:crypto';
import { canonicalJson } from '../../shared/canonical-json.js';
import type { JsonValue, ObjectRecord } from '../../connectors/spi/records.js';
import type { FieldRule } from './flow-document.js';

/** Where the flows' hashing key lives in Vault KV; created on first use, never read outside a worker. */
export const FIELD_HASH_KEY_PATH = 'gatehouse/flows/field-hash-key';

export function maskValue(value: JsonValue): string {
  const text = typeof value === 'string' ? value : canonicalJson(value);
  return text.length <= 4 ? '****' : `****${text.slice(-4)}`;
}

export function hashValue(value: JsonValue, key: Buffer): string {
  return createHmac('sha256', key).update(typeof value === 'string' ? value : canonicalJson(value)).digest('hex');
}

/** A copy of the record with the rules applied; a null stays null (there is nothing to hide). */
export function applyFieldRules(record: ObjectRecord, rules: Record<string, FieldRule>, key: Buffer): ObjectRecord {
  const out: ObjectRecord = { ...record };
  for (const [field, { rule }] of Object.entries(rules)) {
    if (!(field in out)) continue;
    const value = out[field]!;
    if (rule === 'drop') delete out[field];
    else if (value === null || rule === 'pass') continue;
    else out[field] = rule === 'hash' ? hashValue(value, key) : maskValue(value);
  }
  return out;
}
