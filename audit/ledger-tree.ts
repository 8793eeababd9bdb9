// The ledger's Merkle tree in PostgreSQL: leaves are H(0x00 ‖ entry hash); complete aligned
// subtrees of 2^8 leaves and more are kept in ledger_tree_node (they never change once complete),
// so a root or a proof costs O(log n) lookups and at most two blocks of 256 entry hashes.
import { MerkleAccumulator, leafHash, nodeHash, rootOfLeaves, subtreeHash, type PerfectSubtree } from './merkle.js';
import { readEntryHashes } from './ledger-store.js';
import type { Sql } from './ledger-sql.js';

/** Subtrees at this level (256 leaves) and above are stored. */
export const STORED_LEVEL = 8;
const BLOCK = 2 ** STORED_LEVEL;
/** Blocks hashed per round trip when the store catches up. */
const BLOCKS_PER_READ = 64;

/**
 * Subtree hashes for a tree of at most `treeSize` leaves: stored nodes where present, otherwise
 * computed from entry hashes, one 256-leaf block at a time (memoised for the life of the source).
 */
export function perfectSubtrees(sql: Sql): PerfectSubtree {
  const blocks = new Map<string, Promise<Buffer[]>>();
  // Leaf hashes of one block, read up to `end` only: the last block of a tree may be incomplete.
  const leavesOfBlock = (block: number, end: number): Promise<Buffer[]> => {
    const upTo = Math.min(end, (block + 1) * BLOCK);
    const key = `${block}:${upTo}`;
    let leaves = blocks.get(key);
    if (!leaves) {
      leaves = readEntryHashes(sql, block * BLOCK, upTo).then((hashes) => hashes.map(leafHash));
      blocks.set(key, leaves);
    }
    return leaves;
  };
  const perfect: PerfectSubtree = async (level, index) => {
    if (level >= STORED_LEVEL) {
      const rows = await sql.query<{ hash: Buffer }>('SELECT hash FROM ledger_tree_node WHERE level = $1 AND idx = $2', [level, index]);
      if (rows[0]) return rows[0].hash;
      // Not stored yet (the checkpointer has not caught up): compute it.
      if (level === STORED_LEVEL) return rootOfLeaves(await leavesOfBlock(index, (index + 1) * BLOCK));
      return nodeHash(await perfect(level - 1, index * 2), await perfect(level - 1, index * 2 + 1));
    }
    const size = 2 ** level;
    const first = index * size;
    const block = Math.floor(first / BLOCK);
    const offset = first - block * BLOCK;
    return rootOfLeaves((await leavesOfBlock(block, first + size)).slice(offset, offset + size));
  };
  return perfect;
}

/** MTH of the first `size` entries. */
export async function treeRoot(sql: Sql, size: number): Promise<Buffer> {
  return subtreeHash(0, size, perfectSubtrees(sql));
}

/** The stored subtrees that make up the first `blocks·256` leaves, largest first. */
async function storedFrontier(sql: Sql, blocks: number): Promise<Buffer[]> {
  const wanted: { level: number; idx: number }[] = [];
  let offset = 0;
  for (let level = 62; level >= STORED_LEVEL; level--) {
    const span = 2 ** (level - STORED_LEVEL);
    if (blocks - offset >= span) {
      wanted.push({ level, idx: offset / span });
      offset += span;
    }
  }
  if (!wanted.length) return [];
  const rows = await sql.query<{ level: number; idx: string; hash: Buffer }>(
    'SELECT level, idx, hash FROM ledger_tree_node WHERE (level, idx) IN (SELECT * FROM unnest($1::smallint[], $2::bigint[]))',
    [wanted.map((w) => w.level), wanted.map((w) => w.idx)],
  );
  const byKey = new Map(rows.map((r) => [`${r.level}/${r.idx}`, r.hash]));
  return wanted.map((w) => {
    const hash = byKey.get(`${w.level}/${w.idx}`);
    if (!hash) throw new Error(`the ledger tree store lacks node ${w.level}/${w.idx} below its own high-water mark`);
    return hash;
  });
}

/**
 * Stores every complete subtree of 256 leaves or more within the first `size` entries that is not
 * stored yet. Idempotent and safe to run from several processes (identical rows, ON CONFLICT DO
 * NOTHING); callers serialise it under the checkpoint lock anyway.
 */
export async function extendStoredTree(sql: Sql, size: number): Promise<void> {
  const target = Math.floor(size / BLOCK);
  const [row] = await sql.query<{ blocks: string }>('SELECT coalesce(max(idx) + 1, 0) AS blocks FROM ledger_tree_node WHERE level = $1', [STORED_LEVEL]);
  let done = Number(row!.blocks);
  if (done >= target) return;
  const pending: { level: number; idx: number; hash: Buffer }[] = [];
  const acc = MerkleAccumulator.resume(done, await storedFrontier(sql, done), (level, idx, hash) => pending.push({ level: level + STORED_LEVEL, idx, hash }));
  while (done < target) {
    const upTo = Math.min(target, done + BLOCKS_PER_READ);
    const leaves = (await readEntryHashes(sql, done * BLOCK, upTo * BLOCK)).map(leafHash);
    for (let b = 0; b < upTo - done; b++) acc.push(rootOfLeaves(leaves.slice(b * BLOCK, (b + 1) * BLOCK)));
    await sql.query(
      'INSERT INTO ledger_tree_node (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING',
      [pending.map((p) => p.level), pending.map((p) => p.idx), pending.map((p) => p.hash)],
    );
    pending.length = 0;
    done = upTo;
  }
}
