// Appending to and reading the ledger table. Appends from every process are serialised by one
// transaction-scoped advisory lock, taken before the head is read: the next sequence number and
// previous hash are always those of the last committed entry, so the chain has no fork and no gap,
// and the application role needs no UPDATE on anything. A rolled-back append frees its numbers.
import { GatehouseError } from '../shared/errors.js';
import { GENESIS_HASH, canonicalEntryJson, chainHash, entryFromCanonical } from './ledger-entry-codec.js';
import type { LedgerEntry, NewLedgerEntry } from './ledger-types.js';
import { isoUtc, type Sql } from './ledger-sql.js';

/** The advisory lock every appender takes; a key derived from a name so it is greppable in pg_locks. */
export const APPEND_LOCK_SQL = "pg_advisory_xact_lock(hashtextextended('gatehouse.ledger.append', 0))";

/** Rows per INSERT statement in a batch: large enough to amortise, small enough for one message. */
const INSERT_CHUNK = 2000;

export interface LedgerHead {
  /** Entries in the ledger (the next sequence number). */
  size: number;
  /** Hash of the last entry (the genesis hash when empty). */
  hash: Buffer;
  /** Timestamp of the last entry. */
  timestamp?: string;
}

export async function readHead(sql: Sql): Promise<LedgerHead> {
  const rows = await sql.query<{ seq: string; hash: Buffer; ts: string }>(
    `SELECT seq, hash, ${isoUtc('recorded_at')} AS ts FROM ledger_entry ORDER BY seq DESC LIMIT 1`,
  );
  const row = rows[0];
  return row ? { size: Number(row.seq) + 1, hash: row.hash, timestamp: row.ts } : { size: 0, hash: GENESIS_HASH };
}

/**
 * Appends validated entries as consecutive entries on `sql`, which must be a transaction. Holds the
 * append lock until that transaction ends.
 */
export async function appendEntries(sql: Sql, entries: NewLedgerEntry[]): Promise<LedgerEntry[]> {
  if (entries.length === 0) return [];

  // The lock and the head must be two statements: in READ COMMITTED each statement sees what was
  // committed when it started, so the head is read only after the previous holder has committed.
  const [lock] = await sql.query<{ isolation: string }>(`SELECT ${APPEND_LOCK_SQL}, current_setting('transaction_isolation') AS isolation`);
  if (lock?.isolation !== 'read committed') {
    throw new GatehouseError('internal', `ledger appends need a READ COMMITTED transaction (this one is ${lock?.isolation}): a snapshot taken before the ledger lock cannot see the latest entry`);
  }
  const [head] = await sql.query<{ seq: string | null; hash: Buffer | null; ts: string | null; now: string }>(
    `SELECT h.seq, h.hash, ${isoUtc('h.recorded_at')} AS ts, ${isoUtc('clock_timestamp()')} AS now
       FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash, recorded_at FROM ledger_entry ORDER BY seq DESC LIMIT 1) AS h ON true`,
  );
  // One clock for every process (the database's), and never earlier than the entry before.
  const timestamp = head!.ts && head!.ts > head!.now ? head!.ts : head!.now;
  let seq = head!.seq === null ? 0 : Number(head!.seq) + 1;
  let prev = head!.hash ?? GENESIS_HASH;

  const stored: LedgerEntry[] = [];
  const canonical: string[] = [];
  const hashes: Buffer[] = [];
  const prevs: Buffer[] = [];
  entries.forEach((entry) => {
    const json = canonicalEntryJson({ ...entry, seq, timestamp });
    const hash = chainHash(prev, json);
    canonical.push(json);
    hashes.push(hash);
    prevs.push(prev);
    stored.push({ ...entry, seq, timestamp, prevHash: prev.toString('hex'), hash: hash.toString('hex') });
    prev = hash;
    seq++;
  });

  const first = stored[0]!.seq;
  for (let at = 0; at < stored.length; at += INSERT_CHUNK) {
    const end = Math.min(at + INSERT_CHUNK, stored.length);
    try {
      // The hashes go as one bytea each (32 bytes a row) and the entries as one JSON array of
      // strings: the driver then encodes three values rather than escaping every element of three
      // arrays, and json_array_elements_text gives back each string exactly.
      await sql.query(
        `INSERT INTO ledger_entry (seq, recorded_at, prev_hash, hash, entry)
         SELECT $1::bigint + n - 1, $2::timestamptz, substring($3::bytea FROM n::int * 32 - 31 FOR 32), substring($4::bytea FROM n::int * 32 - 31 FOR 32), e
           FROM json_array_elements_text($5::json) WITH ORDINALITY AS t(e, n)`,
        [first + at, timestamp, Buffer.concat(prevs.slice(at, end)), Buffer.concat(hashes.slice(at, end)), JSON.stringify(canonical.slice(at, end))],
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new GatehouseError('conflict', 'another writer appended to the ledger without holding the ledger lock; nothing was appended', { cause: err });
      }
      throw err;
    }
  }
  return stored;
}

/** A stored row as verification and export read it: the exact bytes that were hashed. */
export interface RawEntryRow {
  seq: number;
  prevHash: Buffer;
  hash: Buffer;
  entry: string;
}

/**
 * Rows with seq in [from, to), a page at a time, the next page already requested while the caller
 * works on this one. Pages are bounded seq ranges without ORDER BY: whatever the planner's
 * statistics say, nothing is sorted on the server. Rows of an append-only table arrive nearly in
 * order; the readers below put them in order.
 */
async function* readPages<R>(sql: Sql, columns: string, from: number, to: number, pageSize: number): AsyncGenerator<R[]> {
  const prefetch = (lo: number) => {
    if (lo >= to) return undefined;
    const page = sql.query<R>(`SELECT ${columns} FROM ledger_entry WHERE seq >= $1 AND seq < $2`, [lo, Math.min(to, lo + pageSize)]);
    page.catch(() => undefined); // surfaced by the await below; not unhandled if the reader stops early
    return page;
  };
  let next = from;
  let pending = prefetch(next);
  while (pending) {
    const rows = await pending;
    next += pageSize;
    pending = prefetch(next);
    if (rows.length) yield rows;
  }
}

function inOrder<T extends { seq: number }>(rows: T[]): T[] {
  for (let i = 1; i < rows.length; i++) if (rows[i]!.seq < rows[i - 1]!.seq) return rows.sort((a, b) => a.seq - b.seq);
  return rows;
}

/** Every stored column that the chain covers, for export. */
export async function* readRawEntries(sql: Sql, from: number, to: number, pageSize = 10_000): AsyncGenerator<RawEntryRow[]> {
  for await (const rows of readPages<{ seq: string; prev_hash: Buffer; hash: Buffer; entry: string }>(sql, 'seq, prev_hash, hash, entry', from, to, pageSize)) {
    yield inOrder(rows.map((r) => ({ seq: Number(r.seq), prevHash: r.prev_hash, hash: r.hash, entry: r.entry })));
  }
}

/** Entry hashes for seq in [from, to), in order; a missing row is an error (the tree needs every leaf). */
export async function readEntryHashes(sql: Sql, from: number, to: number): Promise<Buffer[]> {
  const rows = await sql.query<{ seq: string; hash: Buffer }>('SELECT seq, hash FROM ledger_entry WHERE seq >= $1 AND seq < $2 ORDER BY seq', [from, to]);
  if (rows.length !== to - from || (rows.length && Number(rows[0]!.seq) !== from)) {
    throw new GatehouseError('internal', `the ledger is missing entries between ${from} and ${to - 1}; run \`gatehouse audit verify\``);
  }
  return rows.map((r) => r.hash);
}

export function rowToEntry(row: { entry: string; prev_hash: Buffer; hash: Buffer }): LedgerEntry {
  return entryFromCanonical(row.entry, row.prev_hash.toString('hex'), row.hash.toString('hex'));
}
