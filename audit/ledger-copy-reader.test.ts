// The chain reader on a real ledger: rows split across network chunks (entries nearly a chunk's size
// included), batch boundaries, a range that starts in the middle, and a wrong starting hash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestVault } from '../test/helpers/services.js';
import { createTestLedger, sampleEntry, type TestLedger } from '../test/helpers/ledger.js';
import { readChainByCopy, type ChainBatch } from './ledger-copy-reader.js';
import { GENESIS_HASH } from './ledger-entry-codec.js';

const COUNT = 1200;
let t: TestLedger;
let client: pg.Client;
let stored: Buffer[];

beforeAll(async () => {
  t = await createTestLedger(await createTestVault());
  for (let at = 0; at < COUNT; at += 200) {
    // Every 97th entry is nearly as large as details may be (60 KiB), so most of them arrive split
    // between network chunks (64 KiB).
    await t.ledger.appendBatch(Array.from({ length: 200 }, (_, i) => sampleEntry(at + i, (at + i) % 97 === 5 ? { details: { note: `${at + i}:`.padEnd(59_000, 'x') } } : {})));
  }
  client = new pg.Client({ connectionString: t.db.appUrl });
  await client.connect();
  stored = (await client.query<{ hash: Buffer }>('SELECT hash FROM ledger_entry ORDER BY seq')).rows.map((r) => r.hash);
});
afterAll(async () => {
  await client?.end();
  await t?.close();
});

async function readAll(from: number, to: number, startHash: Buffer, batchSize: number): Promise<ChainBatch[]> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const batches: ChainBatch[] = [];
    for await (const b of readChainByCopy(client, from, to, startHash, batchSize)) batches.push({ ...b, hashes: Buffer.from(b.hashes) });
    return batches;
  } finally {
    await client.query('ROLLBACK');
  }
}

const flat = (batches: ChainBatch[]) => ({
  seqs: batches.flatMap((b) => b.seqs),
  hashes: batches.flatMap((b) => b.seqs.map((_, i) => b.hashes.subarray(i * 32, i * 32 + 32).toString('hex'))),
  linked: batches.flatMap((b) => [...b.linked]),
  prevColumnOk: batches.flatMap((b) => [...b.prevColumnOk]),
});

describe('readChainByCopy', () => {
  it('reads every entry in order, links each to the one before, and keeps the stored hashes, in batches of the size asked', async () => {
    const batches = await readAll(0, COUNT, GENESIS_HASH, 250);
    expect(batches.map((b) => b.seqs.length)).toEqual([250, 250, 250, 250, 200]);
    const all = flat(batches);
    expect(all.seqs).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(all.hashes).toEqual(stored.map((h) => h.toString('hex')));
    expect(all.linked.every((x) => x === 1)).toBe(true);
    expect(all.prevColumnOk.every((x) => x === 1)).toBe(true);
  });

  it('reads a range from the middle when given the hash before it', async () => {
    const all = flat(await readAll(500, 700, stored[499]!, 64));
    expect(all.seqs).toEqual(Array.from({ length: 200 }, (_, i) => 500 + i));
    expect(all.linked.every((x) => x === 1)).toBe(true);
    expect(all.prevColumnOk.every((x) => x === 1)).toBe(true);
  });

  it('flags the first row, and only it, when the hash before the range is not the one given', async () => {
    const all = flat(await readAll(0, 300, Buffer.alloc(32, 7), 100));
    expect(all.linked.slice(0, 2)).toEqual([0, 1]);
    expect(all.prevColumnOk.slice(0, 2)).toEqual([0, 1]);
    expect(all.linked.slice(1).every((x) => x === 1)).toBe(true);
  });

  it('reads nothing from an empty range', async () => {
    expect(await readAll(COUNT, COUNT + 10, stored[COUNT - 1]!, 100)).toEqual([]);
  });
});
