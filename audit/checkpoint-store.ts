// Reading signed checkpoints from PostgreSQL, on whatever connection (or snapshot) the caller holds.
import type { Checkpoint } from './checkpoint-note.js';
import { isoUtc, type Sql } from './ledger-sql.js';

export interface CheckpointRow {
  tree_size: string;
  root_hash: Buffer;
  ts: string;
  key_name: string;
  key_version: number;
  body: string;
  signature: Buffer;
}

export const CHECKPOINT_COLUMNS = `tree_size, root_hash, ${isoUtc('signed_at')} AS ts, key_name, key_version, body, signature`;

export const toCheckpoint = (row: CheckpointRow, origin: string): Checkpoint => ({
  origin,
  treeSize: Number(row.tree_size),
  rootHash: row.root_hash.toString('hex'),
  timestamp: row.ts,
  keyName: row.key_name,
  keyVersion: row.key_version,
  signature: row.signature.toString('base64'),
  body: row.body,
});

/** Checkpoints with tree size in [fromSize, toSize], oldest first. */
export async function readCheckpoints(sql: Sql, origin: string, range: { fromSize?: number; toSize?: number; limit?: number } = {}): Promise<Checkpoint[]> {
  const rows = await sql.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoint WHERE tree_size >= $1 AND tree_size <= $2 ORDER BY tree_size LIMIT $3`, [
    range.fromSize ?? 0,
    range.toSize ?? Number.MAX_SAFE_INTEGER,
    range.limit ?? 1_000_000,
  ]);
  return rows.map((r) => toCheckpoint(r, origin));
}
