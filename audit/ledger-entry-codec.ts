// The bytes an entry's hash covers, and the checks an entry passes before it may be hashed: its
// canonical JSON (RFC 8785, through `canonicalize`), the chain hash, and the refusal of anything
// that is not plain JSON or that looks like a secret.
import { hash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { invalid } from '../shared/errors.js';
import { newLedgerEntrySchema, type LedgerEntry, type NewLedgerEntry } from './ledger-types.js';

// canonicalize is CommonJS (module.exports = fn) with an ESM-style `export default` in its types;
// under Node's ESM loader the default import is the function itself.
/** RFC 8785 canonical JSON of a value (undefined for undefined). */
export const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/** The previous hash of the first entry. */
export const GENESIS_HASH = Buffer.alloc(32);

/** Keys whose value would be a secret. Compared lower-cased with `-`, `_` and spaces removed. */
const SECRET_KEYS = new Set([
  'password', 'passwd', 'passphrase', 'secret', 'secretvalue', 'clientsecret', 'token', 'accesstoken',
  'refreshtoken', 'idtoken', 'bearertoken', 'sessiontoken', 'apikey', 'apitoken', 'privatekey',
  'authorization', 'cookie', 'setcookie',
]);

const MAX_DEPTH = 16;
/** An entry is a record of what happened, not a document store. Everything else in it is bounded. */
export const MAX_DETAILS_BYTES = 60 * 1024;

// A lone surrogate cannot be encoded as UTF-8, and PostgreSQL refuses \u0000 in JSON.
// eslint-disable-next-line no-control-regex -- NUL is exactly what this pattern must find
const UNENCODABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkString(value: string, path: string): void {
  if (UNENCODABLE.test(value)) throw invalid(path, 'must not contain NUL characters or unpaired surrogates');
}

/** Details must be plain JSON, shallow enough to read, and hold no secret values. */
function checkJson(value: unknown, path: string, depth: number): void {
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'string') return checkString(value, path);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(path, 'must be a finite number');
    return;
  }
  if (depth >= MAX_DEPTH) throw invalid(path, `nests deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) throw invalid(`${path}[${i}]`, 'must be a JSON value (undefined is not)');
      checkJson(item, `${path}[${i}]`, depth + 1);
    });
    return;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}.${key}`;
      checkString(key, at);
      if (SECRET_KEYS.has(key.toLowerCase().replace(/[-_\s]/g, ''))) {
        throw invalid(at, 'looks like a secret value; the ledger never holds secrets, so record a reference (such as the Vault path and version) instead');
      }
      if (item !== undefined) checkJson(item, at, depth + 1);
    }
    return;
  }
  throw invalid(path, `must be plain JSON (got ${value instanceof Date ? 'a Date; use an ISO 8601 string' : typeof value})`);
}

/** Validates an entry to append; `field` prefixes error paths (e.g. `entries[3]`). */
export function validateNewEntry(input: unknown, field = 'entry'): NewLedgerEntry {
  const parsed = newLedgerEntrySchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = [field, ...issue.path.map(String)].join('.');
    throw invalid(at, issue.message);
  }
  const entry = parsed.data;
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'details' && value) {
      checkJson(value, `${field}.details`, 0);
      if (Buffer.byteLength(canonicalize(value)!) > MAX_DETAILS_BYTES) {
        throw invalid(`${field}.details`, `is larger than ${MAX_DETAILS_BYTES / 1024} KiB; record references, not documents`);
      }
    } else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) if (typeof v === 'string') checkString(v, `${field}.${key}.${k}`);
  }
  return entry;
}

/** The RFC 8785 canonical JSON of an entry without its hashes: exactly what its hash covers. */
export function canonicalEntryJson(entry: Omit<LedgerEntry, 'prevHash' | 'hash'>): string {
  const { seq, timestamp, action, actor, subject, target, details, correlation, policy } = entry;
  return canonicalize({ seq, timestamp, action, actor, subject, target, details, correlation, policy })!;
}

// One reusable input buffer: a one-shot hash over it costs about half of createHash().update()
// twice, which matters when verification rehashes millions of entries. Safe: nothing awaits
// between filling it and hashing it.
let scratch = Buffer.allocUnsafe(64 * 1024 + 32);

/** hash = SHA-256(previous hash (32 bytes, at `prevOffset`) ‖ UTF-8 canonical JSON). */
export function chainHash(prevHash: Buffer, canonicalJson: string | Buffer, prevOffset = 0): Buffer {
  const length = typeof canonicalJson === 'string' ? Buffer.byteLength(canonicalJson) : canonicalJson.length;
  if (scratch.length < length + 32) scratch = Buffer.allocUnsafe(length + 32);
  prevHash.copy(scratch, 0, prevOffset, prevOffset + 32);
  if (typeof canonicalJson === 'string') scratch.write(canonicalJson, 32, 'utf8');
  else canonicalJson.copy(scratch, 32);
  return hash('sha256', scratch.subarray(0, length + 32), 'buffer') as unknown as Buffer;
}

/** Builds the stored form of an entry from its canonical JSON and its hashes. */
export function entryFromCanonical(canonicalJson: string, prevHash: string, hash: string): LedgerEntry {
  return { ...(JSON.parse(canonicalJson) as Omit<LedgerEntry, 'prevHash' | 'hash'>), prevHash, hash };
}

/** The timestamp format of entries: ISO 8601, UTC, milliseconds. */
export const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
