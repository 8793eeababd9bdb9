// The ledger: append (alone or in the caller's transaction), query, signed checkpoints, RFC 9162
// proofs, and verification. Built from the database pool and a signer; reads no configuration.
import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import { GatehouseError, invalid, notFound } from '../shared/errors.js';
import { validateNewEntry } from './ledger-entry-codec.js';
import type { AppendOptions, LedgerAppender, LedgerEntry, NewLedgerEntry } from './ledger-types.js';
import { appendEntries, readHead, readRawEntries, rowToEntry, type RawEntryRow } from './ledger-store.js';
import { inTransaction, isoUtc, poolOf, sqlInTransactionOf, sqlOnClient, type Sql } from './ledger-sql.js';
import { queryEntries, type LedgerPage, type LedgerQuery } from './ledger-query.js';
import { extendStoredTree, perfectSubtrees, treeRoot } from './ledger-tree.js';
import { consistencyProof, inclusionProof, leafHash } from './merkle.js';
import { originOf, treeHeadBody, type Checkpoint, type PublicKey } from './checkpoint-note.js';
import { CHECKPOINT_COLUMNS, readCheckpoints, toCheckpoint, type CheckpointRow } from './checkpoint-store.js';
import { verifyLedger, type VerificationReport, type VerifyProgress } from './ledger-verifier.js';

export const LEDGER_KEY_NAME = 'gatehouse-ledger';

/** Entries written together when appends queue up behind the ledger lock. */
const MAX_COALESCED = 5000;

/** Serialises checkpoint creation across processes (appends are not blocked by it). */
const CHECKPOINT_LOCK = "hashtextextended('gatehouse.ledger.checkpoint', 0)";

export interface LedgerDeps {
  orm: MikroORM;
  /** Signs tree heads with the non-exportable key in Vault transit; reads its public keys. */
  signer: Pick<SecretStore, 'sign' | 'publicKeys'>;
  /** The transit key name (Gatehouse ensures `gatehouse-ledger` at start). */
  keyName?: string;
  /**
   * The ledger role's pool (openLedgerRolePool): checkpoints and stored subtrees are written only
   * through it, since the application role may not insert them. Without it, `checkpoint` refuses.
   */
  checkpointPool?: pg.Pool;
}

export interface CheckpointOptions {
  /** Checkpoint only when at least this many entries arrived since the last one (default 1)... */
  minNewEntries?: number;
  /** ...or when there is any new entry and the last checkpoint is older than this. */
  maxAgeMs?: number;
  /** Wait for another process's checkpoint in progress (default), or give up at once. */
  wait?: boolean;
}

export interface InclusionProof {
  seq: number;
  treeSize: number;
  entryHash: string;
  leafHash: string;
  /** Sibling hashes from the leaf up (RFC 9162 §2.1.3). */
  path: string[];
  checkpoint: Checkpoint;
}

export interface ConsistencyProof {
  fromSize: number;
  toSize: number;
  /** RFC 9162 §2.1.4. */
  path: string[];
  from: Checkpoint;
  to: Checkpoint;
}

export interface Ledger extends LedgerAppender {
  /** `gatehouse-ledger/<ledger id>`: the first line of every signed checkpoint. */
  origin(): Promise<string>;
  head(): Promise<{ size: number; hash: string; timestamp?: string }>;
  get(seq: number): Promise<LedgerEntry>;
  query(query: LedgerQuery): Promise<LedgerPage>;
  /** Signs a checkpoint over every entry so far when the options say it is due; returns it, or undefined. */
  checkpoint(options?: CheckpointOptions): Promise<Checkpoint | undefined>;
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  /** Checkpoints with tree size in [fromSize, toSize], oldest first. */
  checkpoints(range?: { fromSize?: number; toSize?: number; limit?: number }): Promise<Checkpoint[]>;
  /** Proves entry `seq` is in the checkpoint of `treeSize` (default: the latest checkpoint). */
  proveInclusion(seq: number, treeSize?: number): Promise<InclusionProof>;
  /** Proves the checkpoint of `fromSize` is a prefix of the checkpoint of `toSize`. */
  proveConsistency(fromSize: number, toSize: number): Promise<ConsistencyProof>;
  publicKeys(): Promise<PublicKey[]>;
  verify(options?: { onProgress?: VerifyProgress }): Promise<VerificationReport>;
  /** Raw rows for seq in [from, to): the exact hashed bytes, for export. */
  readRaw(from: number, to: number): AsyncGenerator<RawEntryRow[]>;
  /** The seq range [first, last] of entries recorded in [from, to), or undefined when there are none. */
  seqRangeOfTime(from?: string, to?: string): Promise<{ first: number; last: number } | undefined>;
}

export function createLedger(deps: LedgerDeps): Ledger {
  const keyName = deps.keyName ?? LEDGER_KEY_NAME;
  let pool: pg.Pool | undefined;
  const getPool = async () => (pool ??= await poolOf(deps.orm));
  let originCache: string | undefined;

  const withSql = async <T>(fn: (sql: Sql) => Promise<T>): Promise<T> => {
    const client = await (await getPool()).connect();
    try {
      return await fn(sqlOnClient(client));
    } finally {
      client.release();
    }
  };

  const origin = async () => {
    if (!originCache) {
      const [row] = await withSql((sql) => sql.query<{ ledger_id: string }>('SELECT ledger_id FROM ledger_instance'));
      if (!row) throw new GatehouseError('internal', 'the ledger has no instance row; the audit migration did not run');
      originCache = originOf(row.ledger_id);
    }
    return originCache;
  };

  // Appends of this process that are not joined to a caller's transaction go through a queue:
  // one batch holds the ledger lock while later calls wait, then they all go in the next batch
  // (one lock, one insert, one WAL flush). A lone call goes at once. Every call still returns
  // only after its entries are committed.
  const queue: { entries: NewLedgerEntry[]; resolve: (e: LedgerEntry[]) => void; reject: (err: unknown) => void }[] = [];
  let draining = false;
  const drain = async () => {
    draining = true;
    try {
      while (queue.length) {
        let count = 0;
        let take = 0;
        while (take < queue.length && (take === 0 || count + queue[take]!.entries.length <= MAX_COALESCED)) count += queue[take++]!.entries.length;
        const batch = queue.splice(0, take);
        try {
          const stored = await inTransaction(await getPool(), (sql) => appendEntries(sql, batch.flatMap((b) => b.entries)));
          let at = 0;
          for (const b of batch) {
            b.resolve(stored.slice(at, at + b.entries.length));
            at += b.entries.length;
          }
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      draining = false;
    }
  };
  const append = async (entries: NewLedgerEntry[], options: AppendOptions | undefined): Promise<LedgerEntry[]> => {
    if (options?.em) return appendEntries(sqlInTransactionOf(options.em), entries);
    return new Promise((resolve, reject) => {
      queue.push({ entries, resolve, reject });
      if (!draining) void drain();
    });
  };

  const checkpointAt = async (treeSize: number): Promise<Checkpoint> => {
    const [row] = await withSql((sql) => sql.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoint WHERE tree_size = $1`, [treeSize]));
    if (!row) throw notFound('checkpoint at tree size', String(treeSize));
    return toCheckpoint(row, await origin());
  };

  const ledger: Ledger = {
    async append(entry, options) {
      const valid = validateNewEntry(entry, 'entry');
      return (await append([valid], options))[0]!;
    },

    async appendBatch(entries, options) {
      if (!Array.isArray(entries)) throw invalid('entries', 'must be an array of ledger entries');
      const valid = entries.map((e, i) => validateNewEntry(e, `entries[${i}]`));
      return append(valid, options);
    },

    origin,

    async head() {
      const head = await withSql(readHead);
      return { size: head.size, hash: head.hash.toString('hex'), ...(head.timestamp ? { timestamp: head.timestamp } : {}) };
    },

    async get(seq) {
      const [row] = await withSql((sql) => sql.query<{ entry: string; prev_hash: Buffer; hash: Buffer }>('SELECT entry, prev_hash, hash FROM ledger_entry WHERE seq = $1', [seq]));
      if (!row) throw notFound('ledger entry', String(seq));
      return rowToEntry(row);
    },

    query: (q) => withSql((sql) => queryEntries(sql, q)),

    async checkpoint(options = {}) {
      if (!deps.checkpointPool) {
        throw new GatehouseError('internal', 'this ledger was opened without the ledger role\'s connection: only gatehouse_ledger may write checkpoints (DATABASE_LEDGER_URL)');
      }
      const ledgerOrigin = await origin();
      return inTransaction(deps.checkpointPool, async (sql) => {
        const [{ locked } = { locked: false }] = await sql.query<{ locked: boolean }>(
          options.wait === false ? `SELECT pg_try_advisory_xact_lock(${CHECKPOINT_LOCK}) AS locked` : `SELECT true AS locked FROM (SELECT pg_advisory_xact_lock(${CHECKPOINT_LOCK})) AS waited`,
        );
        if (!locked) return undefined;
        const { size } = await readHead(sql);
        const [last] = await sql.query<CheckpointRow & { age_ms: number }>(
          `SELECT ${CHECKPOINT_COLUMNS}, (extract(epoch FROM clock_timestamp() - signed_at) * 1000)::float8 AS age_ms FROM ledger_checkpoint ORDER BY tree_size DESC LIMIT 1`,
        );
        const lastSize = last ? Number(last.tree_size) : 0;
        const fresh = size - lastSize;
        if (fresh <= 0) return undefined;
        const due = fresh >= (options.minNewEntries ?? 1) || (options.maxAgeMs !== undefined && (!last || last.age_ms >= options.maxAgeMs));
        if (!due) return undefined;

        await extendStoredTree(sql, size);
        const root = await treeRoot(sql, size);
        const [{ now } = { now: '' }] = await sql.query<{ now: string }>(`SELECT ${isoUtc('clock_timestamp()')} AS now`);
        const body = treeHeadBody({ origin: ledgerOrigin, treeSize: size, rootHash: root, timestamp: now });
        const signature = await deps.signer.sign(keyName, Buffer.from(body, 'utf8'));
        await sql.query(
          'INSERT INTO ledger_checkpoint (tree_size, root_hash, signed_at, key_name, key_version, body, signature) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [size, root, now, keyName, signature.keyVersion, body, Buffer.from(signature.signature, 'base64')],
        );
        return { origin: ledgerOrigin, treeSize: size, rootHash: root.toString('hex'), timestamp: now, keyName, keyVersion: signature.keyVersion, signature: signature.signature, body };
      });
    },

    async latestCheckpoint() {
      const [row] = await withSql((sql) => sql.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoint ORDER BY tree_size DESC LIMIT 1`));
      return row ? toCheckpoint(row, await origin()) : undefined;
    },

    async checkpoints(range = {}) {
      const ledgerOrigin = await origin();
      return withSql((sql) => readCheckpoints(sql, ledgerOrigin, range));
    },

    async proveInclusion(seq, treeSize) {
      const checkpoint = treeSize === undefined ? await ledger.latestCheckpoint() : await checkpointAt(treeSize);
      if (!checkpoint) throw new GatehouseError('not_found', 'no checkpoint has been signed yet; proofs are against signed checkpoints');
      if (seq >= checkpoint.treeSize) {
        throw invalid('seq', `entry ${seq} is not covered by the checkpoint at tree size ${checkpoint.treeSize}; it will be in the next one`);
      }
      return withSql(async (sql) => {
        const [row] = await sql.query<{ hash: Buffer }>('SELECT hash FROM ledger_entry WHERE seq = $1', [seq]);
        if (!row) throw notFound('ledger entry', String(seq));
        const path = await inclusionProof(seq, checkpoint.treeSize, perfectSubtrees(sql));
        return { seq, treeSize: checkpoint.treeSize, entryHash: row.hash.toString('hex'), leafHash: leafHash(row.hash).toString('hex'), path: path.map((p) => p.toString('hex')), checkpoint };
      });
    },

    async proveConsistency(fromSize, toSize) {
      if (fromSize > toSize) throw invalid('fromSize', 'must not be larger than toSize');
      const [from, to] = await Promise.all([checkpointAt(fromSize), checkpointAt(toSize)]);
      const path = await withSql((sql) => consistencyProof(fromSize, toSize, perfectSubtrees(sql)));
      return { fromSize, toSize, path: path.map((p) => p.toString('hex')), from, to };
    },

    async publicKeys() {
      return (await deps.signer.publicKeys(keyName)).map((k) => ({ version: k.version, publicKey: k.publicKey, createdTime: k.createdTime }));
    },

    async verify(options = {}) {
      return verifyLedger({ pool: await getPool(), origin: await origin(), publicKeys: () => ledger.publicKeys() }, options);
    },

    async *readRaw(from, to) {
      const client = await (await getPool()).connect();
      try {
        yield* readRawEntries(sqlOnClient(client), from, to);
      } finally {
        client.release();
      }
    },

    async seqRangeOfTime(from, to) {
      const [row] = await withSql((sql) =>
        sql.query<{ first: string | null; last: string | null }>(
          `SELECT min(seq) AS first, max(seq) AS last FROM ledger_entry WHERE ($1::timestamptz IS NULL OR recorded_at >= $1::timestamptz) AND ($2::timestamptz IS NULL OR recorded_at < $2::timestamptz)`,
          [from ?? null, to ?? null],
        ),
      );
      return row?.first === null || row?.first === undefined ? undefined : { first: Number(row.first), last: Number(row.last) };
    },
  };
  return ledger;
}

export type { Checkpoint, PublicKey, VerificationReport, LedgerPage, LedgerQuery };
