// Reads the chain for verification with COPY … TO STDOUT in PostgreSQL's binary format: the exact
// bytes of each entry, with no per-row text decoding in the driver, which is most of what reading
// a million rows otherwise costs. Must run inside the caller's (read-only) transaction.
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { GatehouseError } from '../shared/errors.js';

/** A batch of the chain in order: row i is seqs[i], prevHashes and hashes [32i..32i+32) and entries[i] (UTF-8). */
export interface ChainBatch {
  seqs: number[];
  /** The stored prev_hash column, which repeats the hash of the row before. */
  prevHashes: Buffer;
  hashes: Buffer;
  entries: Buffer[];
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * The parser of the four columns we ask for (seq bigint, prev_hash and hash bytea, entry text) in the binary
 * COPY format: a header, then per row a 16-bit field count and each field as a 32-bit length and
 * its bytes. Small enough to own; the general binary-COPY parsers build an object per field.
 */
export async function* readChainByCopy(client: pg.ClientBase, from: number, to: number, batchSize = 10_000): AsyncGenerator<ChainBatch> {
  // An ordered index scan without a sort, whatever the statistics say (until the transaction ends).
  // Physical order would be faster but is not seq order once autovacuum has let later rows fill
  // free space in earlier pages.
  await client.query('SET LOCAL enable_seqscan = off');
  await client.query('SET LOCAL enable_bitmapscan = off');
  await client.query('SET LOCAL enable_sort = off');
  const stream = client.query(
    copyTo(`COPY (SELECT seq, prev_hash, hash, entry FROM ledger_entry WHERE seq >= ${Math.floor(from)} AND seq < ${Math.floor(to)} ORDER BY seq) TO STDOUT (FORMAT binary)`),
  );
  let rest: Buffer | undefined;
  let headerDone = false;
  const empty = (): ChainBatch => ({ seqs: [], prevHashes: Buffer.allocUnsafe(batchSize * 32), hashes: Buffer.allocUnsafe(batchSize * 32), entries: [] });
  let batch = empty();
  const malformed = () => new GatehouseError('internal', 'PostgreSQL sent a COPY stream this reader does not understand');

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const buf = rest?.length ? Buffer.concat([rest, chunk]) : chunk;
    let at = 0;
    if (!headerDone) {
      if (buf.length < 19) {
        rest = buf;
        continue;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw malformed();
      const extension = buf.readUInt32BE(15);
      if (buf.length < 19 + extension) {
        rest = buf;
        continue;
      }
      at = 19 + extension;
      headerDone = true;
    }
    for (;;) {
      if (buf.length - at < 2) break;
      const fields = buf.readInt16BE(at);
      if (fields === -1) {
        at += 2;
        break;
      }
      if (fields !== 4) throw malformed();
      // seq: length 4 + 8 bytes; prev_hash and hash: length 4 + 32 bytes each; entry: length 4 + n bytes.
      if (buf.length - at < 2 + 12 + 36 + 36 + 4) break;
      if (buf.readInt32BE(at + 14) !== 32 || buf.readInt32BE(at + 50) !== 32) throw malformed();
      const entryLength = buf.readInt32BE(at + 86);
      const end = at + 90 + entryLength;
      if (buf.length < end) break;
      const i = batch.seqs.length;
      batch.seqs.push(buf.readUInt32BE(at + 6) * 2 ** 32 + buf.readUInt32BE(at + 10));
      buf.copy(batch.prevHashes, i * 32, at + 18, at + 50);
      buf.copy(batch.hashes, i * 32, at + 54, at + 86);
      batch.entries.push(buf.subarray(at + 90, end));
      at = end;
      if (batch.seqs.length === batchSize) {
        yield batch;
        batch = empty();
      }
    }
    rest = at < buf.length ? buf.subarray(at) : undefined;
  }
  if (batch.seqs.length) yield { ...batch, prevHashes: batch.prevHashes.subarray(0, batch.seqs.length * 32), hashes: batch.hashes.subarray(0, batch.seqs.length * 32) };
}
