// Signed checkpoints and proofs against real PostgreSQL and Vault transit: tree heads signed with
// the non-exportable ed25519 key verify offline, several processes never checkpoint the same size
// twice, and inclusion and consistency proofs verify by RFC 9162.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, withPg, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, openAnotherLedger, type TestLedger } from '../test/helpers/ledger.js';
import type { GatehouseError } from '../shared/errors.js';
import { LEDGER_KEY_NAME } from './ledger-service.js';
import { checkCheckpoint, parseTreeHeadBody, signedNote, noteKeyId } from './checkpoint-note.js';
import { leafHash, rootOfLeaves, verifyConsistency, verifyInclusion } from './merkle.js';
import { treeRoot } from './ledger-tree.js';
import { poolOf, sqlOnClient } from './ledger-sql.js';

let vault: TestVault;
let t: TestLedger;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
});
afterAll(async () => {
  await t?.close();
});

const entryHashes = async (size: number) => {
  const rows = await withPg(t.db.superuserUrl, (c) => c.query<{ hash: Buffer }>('SELECT hash FROM ledger_entry WHERE seq < $1 ORDER BY seq', [size]));
  return rows.rows.map((r) => r.hash);
};

describe('checkpoints', () => {
  it('are not signed for an empty ledger', async () => {
    expect(await t.ledger.checkpoint()).toBeUndefined();
    expect(await t.ledger.latestCheckpoint()).toBeUndefined();
  });

  it('sign the RFC 9162 root of every entry so far with the Vault transit key, verifiable offline', async () => {
    await appendSamples(t.ledger, 300);
    const cp = await t.ledger.checkpoint();
    expect(cp).toMatchObject({ treeSize: 300, keyName: LEDGER_KEY_NAME, keyVersion: 1, origin: await t.ledger.origin() });
    expect(cp!.rootHash).toBe(rootOfLeaves((await entryHashes(300)).map(leafHash)).toString('hex'));
    expect(parseTreeHeadBody(cp!.body)).toEqual({ origin: cp!.origin, treeSize: 300, rootHash: Buffer.from(cp!.rootHash, 'hex'), timestamp: cp!.timestamp });
    expect(cp!.body).toBe(`${cp!.origin}\n300\n${Buffer.from(cp!.rootHash, 'hex').toString('base64')}\n${cp!.timestamp}\n`);

    const keys = await t.ledger.publicKeys();
    expect(keys).toEqual([{ version: 1, publicKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/), createdTime: expect.any(String) }]);
    expect(checkCheckpoint(cp!, keys, cp!.origin)).toBeUndefined();
    // Vault agrees that its key made this signature.
    expect(await vault.store.verify(LEDGER_KEY_NAME, Buffer.from(cp!.body), { keyVersion: 1, signature: cp!.signature })).toBe(true);
    expect(await t.ledger.latestCheckpoint()).toEqual(cp);

    const note = signedNote(cp!, Buffer.from(keys[0]!.publicKey, 'base64'));
    const sigLine = note.split('\n\n')[1]!;
    expect(sigLine).toMatch(new RegExp(`^\u2014 ${cp!.origin} [A-Za-z0-9+/]+=*\n$`));
    expect(Buffer.from(sigLine.split(' ')[2]!.trim(), 'base64').subarray(0, 4)).toEqual(noteKeyId(cp!.origin, Buffer.from(keys[0]!.publicKey, 'base64')));
  });

  it('are signed only when due: enough new entries, or any new entry after the interval', async () => {
    expect(await t.ledger.checkpoint()).toBeUndefined(); // nothing new
    await appendSamples(t.ledger, 5, 300);
    expect(await t.ledger.checkpoint({ minNewEntries: 10, maxAgeMs: 3_600_000 })).toBeUndefined();
    expect(await t.ledger.checkpoint({ minNewEntries: 10, maxAgeMs: 0 })).toMatchObject({ treeSize: 305 });
    await appendSamples(t.ledger, 10, 305);
    expect(await t.ledger.checkpoint({ minNewEntries: 10, maxAgeMs: 3_600_000 })).toMatchObject({ treeSize: 315 });
  });

  it('are never signed twice for one tree size, however many processes try at once', async () => {
    await appendSamples(t.ledger, 400, 315);
    const others = await Promise.all(Array.from({ length: 4 }, () => openAnotherLedger(t.db, vault, 2)));
    try {
      const results = await Promise.all([...others, ...others].map(({ ledger }, i) => ledger.checkpoint({ wait: i % 2 === 0 })));
      const made = results.filter((r) => r !== undefined);
      expect(made).toHaveLength(1);
      expect(made[0]!.treeSize).toBe(715);
    } finally {
      await Promise.all(others.map((o) => o.orm.close(true)));
    }
    const rows = await withPg(t.db.superuserUrl, (c) => c.query<{ tree_size: string }>('SELECT tree_size FROM ledger_checkpoint ORDER BY tree_size'));
    expect(rows.rows.map((r) => Number(r.tree_size))).toEqual([300, 305, 315, 715]);
    // And the database itself refuses a second row for a size.
    const dup = await withPg(t.db.ledgerUrl, (c) =>
      c.query("INSERT INTO ledger_checkpoint SELECT tree_size, root_hash, signed_at, key_name, key_version, body, signature FROM ledger_checkpoint WHERE tree_size = 715").then(
        () => 'inserted',
        (e: { code: string }) => e.code,
      ),
    );
    // (Even for the ledger role: the bound on tree sizes refuses it first, with check_violation; the primary key would too.)
    expect(dup).toBe('23514');
  });

  it('keep the complete 256-leaf subtrees, and the root computed without them is the same', async () => {
    const nodes = await withPg(t.db.superuserUrl, (c) => c.query<{ level: number; idx: string }>('SELECT level, idx FROM ledger_tree_node ORDER BY level, idx'));
    expect(nodes.rows.map((r) => `${r.level}/${r.idx}`)).toEqual(['8/0', '8/1', '9/0']);
    const hashes = await entryHashes(715);
    const pool = await poolOf(t.orm);
    const client = await pool.connect();
    try {
      // 800 is past what the store holds (two blocks): the third block is computed from entries.
      await appendSamples(t.ledger, 85, 715);
      const all = await entryHashes(800);
      expect((await treeRoot(sqlOnClient(client), 800)).toString('hex')).toBe(rootOfLeaves(all.map(leafHash)).toString('hex'));
      expect((await treeRoot(sqlOnClient(client), 715)).toString('hex')).toBe(rootOfLeaves(hashes.map(leafHash)).toString('hex'));
    } finally {
      client.release();
    }
  });

  it('follow a key rotation: new checkpoints name the new version, old ones still verify', async () => {
    await vault.store.rotateSigningKey(LEDGER_KEY_NAME);
    const cp = await t.ledger.checkpoint();
    expect(cp).toMatchObject({ treeSize: 800, keyVersion: 2 });
    const keys = await t.ledger.publicKeys();
    expect(keys.map((k) => k.version)).toEqual([1, 2]);
    for (const c of await t.ledger.checkpoints()) expect(checkCheckpoint(c, keys, c.origin)).toBeUndefined();
    const report = await t.ledger.verify();
    expect(report).toMatchObject({ ok: true, entries: 800, checkpoints: { total: 5, verified: 5, latestTreeSize: 800 } });
  });
});

describe('proofs', () => {
  it('prove any entry is in a checkpoint (RFC 9162 §2.1.3), checked against the signed root', async () => {
    const checkpoints = await t.ledger.checkpoints();
    for (const cp of checkpoints) {
      for (const seq of [0, 1, 255, 256, 299, cp.treeSize - 1].filter((s) => s < cp.treeSize)) {
        const proof = await t.ledger.proveInclusion(seq, cp.treeSize);
        expect(proof.checkpoint).toEqual(cp);
        expect(proof.leafHash).toBe(leafHash(Buffer.from(proof.entryHash, 'hex')).toString('hex'));
        expect(proof.entryHash).toBe((await t.ledger.get(seq)).hash);
        expect(verifyInclusion(seq, cp.treeSize, Buffer.from(proof.leafHash, 'hex'), proof.path.map((p) => Buffer.from(p, 'hex')), Buffer.from(cp.rootHash, 'hex')), `${seq} in ${cp.treeSize}`).toBe(true);
      }
    }
    const latest = await t.ledger.proveInclusion(42);
    expect(latest.treeSize).toBe(800);
  });

  it('prove each checkpoint is a prefix of every later one (RFC 9162 §2.1.4)', async () => {
    const checkpoints = await t.ledger.checkpoints();
    for (const a of checkpoints) {
      for (const b of checkpoints.filter((c) => c.treeSize >= a.treeSize)) {
        const proof = await t.ledger.proveConsistency(a.treeSize, b.treeSize);
        const ok = verifyConsistency(a.treeSize, b.treeSize, Buffer.from(a.rootHash, 'hex'), Buffer.from(b.rootHash, 'hex'), proof.path.map((p) => Buffer.from(p, 'hex')));
        expect(ok, `${a.treeSize} -> ${b.treeSize}`).toBe(true);
      }
    }
  });

  it('refuse an entry the checkpoint does not cover, and a tree size that was never signed', async () => {
    await t.ledger.append({ action: 'system.probe.ran', actor: { kind: 'system', id: 'test' } });
    const notCovered = await t.ledger.proveInclusion(800).catch((e: GatehouseError) => e);
    expect(notCovered).toMatchObject({ code: 'invalid_request', field: 'seq' });
    const unsigned = await t.ledger.proveConsistency(300, 301).catch((e: GatehouseError) => e);
    expect(unsigned).toMatchObject({ code: 'not_found', message: 'checkpoint at tree size 301 was not found' });
  });
});
