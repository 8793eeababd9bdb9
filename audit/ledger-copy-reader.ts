// Reads and checks the chain for verification with COPY … TO STDOUT in PostgreSQL's binary format:
// the exact bytes of each entry, with no per-row text decoding in the driver. PostgreSQL sends each
// row's stored prev_hash and entry as one value, so the chain hash runs over the bytes where they
// arrived: no per-row copy and no per-row Buffer beyond the hash's own. Must run inside the
// caller's (read-only) transaction.
import { hash } from 'node:crypto';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { GatehouseError } from '../shared/errors.js';

/** A batch of the chain in read order; row i is seqs[i], hashes [32i..32i+32), linked[i] and prevColumnOk[i]. */
export interface ChainBatch {
  seqs: number[];
  /** The stored hash column. */
  hashes: Buffer;
  /** 1 when the row's entry, hashed after the stored hash of the row read before it, gives its stored hash. */
  linked: Uint8Array;
  /** 1 when the row's stored prev_hash column is the stored hash of the row read before it. */
  prevColumnOk: Uint8Array;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Field count (2), seq (4 + 8), hash (4 + 32), and the length of prev_hash ‖ entry (4). */
const ROW_HEAD = 2 + 12 + 36 + 4;
const TRAILER = -1;

const malformed = () => new GatehouseError('internal', 'PostgreSQL sent a COPY stream this reader does not understand');

/** Bytes the row at `at` takes, or undefined when fewer than its head have arrived. */
function rowSize(buf: Buffer, at: number): number | undefined {
  if (buf.length - at < 2) return undefined;
  const fields = buf.readInt16BE(at);
  if (fields === TRAILER) return 2;
  if (fields !== 3) throw malformed();
  if (buf.length - at < ROW_HEAD) return undefined;
  if (buf.readInt32BE(at + 2) !== 8 || buf.readInt32BE(at + 14) !== 32) throw malformed();
  const link = buf.readInt32BE(at + 50);
  if (link < 32) throw malformed();
  return ROW_HEAD + link;
}

/**
 * Reads entries [from, to) in seq order and checks each link as it goes: `startHash` is the hash
 * before `from` (the genesis hash when from is 0). The binary COPY format is a header, then per
 * row a 16-bit field count and each field as a 32-bit length and its bytes; small enough to own
 * (the general binary-COPY parsers build an object per field).
 */
export async function* readChainByCopy(client: pg.ClientBase, from: number, to: number, startHash: Buffer, batchSize = 10_000): AsyncGenerator<ChainBatch> {
  // An ordered index scan without a sort, whatever the statistics say (until the transaction ends).
  // Physical order would be faster but is not seq order once autovacuum has let later rows fill
  // free space in earlier pages.
  await client.query('SET LOCAL enable_seqscan = off');
  await client.query('SET LOCAL enable_bitmapscan = off');
  await client.query('SET LOCAL enable_sort = off');
  const stream = client.query(
    copyTo(
      `COPY (SELECT seq, hash, prev_hash || convert_to(entry, 'UTF8') FROM ledger_entry WHERE seq >= ${Math.floor(from)} AND seq < ${Math.floor(to)} ORDER BY seq) TO STDOUT (FORMAT binary)`,
    ),
  );
  const empty = (): ChainBatch => ({ seqs: [], hashes: Buffer.allocUnsafe(batchSize * 32), linked: new Uint8Array(batchSize), prevColumnOk: new Uint8Array(batchSize) });
  let batch = empty();
  // The stored hash of the row read last: a range of `prevBuf`, which outlives the batch it is in.
  let prevBuf: Buffer = Buffer.from(startHash);
  let prevAt = 0;
  let scratch = Buffer.allocUnsafe(4096);
  let ended = false;

  const row = (buf: Buffer, at: number, size: number) => {
    const i = batch.seqs.length;
    batch.seqs.push(buf.readUInt32BE(at + 6) * 2 ** 32 + buf.readUInt32BE(at + 10));
    const hashAt = at + 18;
    const linkAt = at + ROW_HEAD;
    const end = at + size;
    const prevOk = buf.compare(prevBuf, prevAt, prevAt + 32, linkAt, linkAt + 32) === 0;
    let digest: Buffer;
    if (prevOk) {
      digest = hash('sha256', buf.subarray(linkAt, end), 'buffer') as unknown as Buffer;
    } else {
      // The stored prev_hash column differs from the hash before (tampering): hash the entry after
      // the real previous hash, so the two findings stay apart.
      const length = end - linkAt;
      if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
      prevBuf.copy(scratch, 0, prevAt, prevAt + 32);
      buf.copy(scratch, 32, linkAt + 32, end);
      digest = hash('sha256', scratch.subarray(0, length), 'buffer') as unknown as Buffer;
    }
    batch.prevColumnOk[i] = prevOk ? 1 : 0;
    batch.linked[i] = digest.compare(buf, hashAt, hashAt + 32) === 0 ? 1 : 0;
    buf.copy(batch.hashes, i * 32, hashAt, hashAt + 32);
    prevBuf = batch.hashes;
    prevAt = i * 32;
  };
  const full = () => batch.seqs.length === batchSize;
  const take = (): ChainBatch => {
    const done = batch;
    // The next batch links to the last hash of this one; keep it apart from the buffer handed out.
    prevBuf = Buffer.from(done.hashes.subarray(prevAt, prevAt + 32));
    prevAt = 0;
    batch = empty();
    const n = done.seqs.length;
    return { seqs: done.seqs, hashes: done.hashes.subarray(0, n * 32), linked: done.linked.subarray(0, n), prevColumnOk: done.prevColumnOk.subarray(0, n) };
  };

  let header: Buffer | undefined = Buffer.alloc(0);
  // A row split between two network chunks: its first part, completed from the next chunk.
  let carry: Buffer | undefined;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf = chunk;
    let at = 0;
    if (header) {
      header = Buffer.concat([header, chunk]);
      if (header.length < 19 || header.length < 19 + header.readUInt32BE(15)) continue;
      if (!header.subarray(0, 11).equals(SIGNATURE)) throw malformed();
      buf = header;
      at = 19 + header.readUInt32BE(15);
      header = undefined;
    }
    while (carry) {
      const size = rowSize(carry, 0);
      const want = size ?? (carry.length < 2 ? 2 : ROW_HEAD);
      const added = Math.min(want - carry.length, buf.length - at);
      carry = Buffer.concat([carry, buf.subarray(at, at + added)]);
      at += added;
      if (carry.length < want) {
        if (at === buf.length) break;
        continue;
      }
      if (size === undefined) continue;
      if (size === 2) ended = true;
      else row(carry, 0, size);
      carry = undefined;
      if (full()) yield take();
    }
    if (carry) continue;
    while (!ended) {
      const size = rowSize(buf, at);
      if (size === undefined || buf.length - at < size) break;
      if (size === 2) ended = true;
      else row(buf, at, size);
      at += size;
      if (full()) yield take();
    }
    if (!ended && at < buf.length) carry = Buffer.from(buf.subarray(at));
  }
  if (batch.seqs.length) yield take();
}
