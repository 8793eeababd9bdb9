// Every way a superuser can rewrite history, done for real (triggers disabled as superuser, which
// is exactly the attack), and verification naming it with the first bad entry. Each case gets a
// fresh ledger of 600 entries with checkpoints at 300 and 600.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, type TestVault } from '../test/helpers/services.js';
import { appendSamples, asRogueSuperuser, createTestLedger, sampleEntry, type TestLedger } from '../test/helpers/ledger.js';
import { canonicalEntryJson, chainHash } from './ledger-entry-codec.js';
import type { LedgerEntry } from './ledger-types.js';

let vault: TestVault;
let t: TestLedger | undefined;

beforeAll(async () => {
  vault = await createTestVault();
});
afterEach(async () => {
  await t?.close();
  t = undefined;
});
afterAll(async () => {
  await t?.close();
});

async function ledgerWithHistory(): Promise<TestLedger> {
  t = await createTestLedger(vault);
  await appendSamples(t.ledger, 300);
  await t.ledger.checkpoint();
  await appendSamples(t.ledger, 300, 300);
  await t.ledger.checkpoint();
  return t;
}

const hashOf = (e: Omit<LedgerEntry, 'prevHash' | 'hash'>, prev: Buffer) => chainHash(prev, canonicalEntryJson(e));

describe('an untouched ledger', () => {
  it('verifies: every entry, every checkpoint root and signature', async () => {
    const { ledger } = await ledgerWithHistory();
    expect(await ledger.verify()).toEqual({ ok: true, entries: 600, checkpoints: { total: 2, verified: 2, latestTreeSize: 600 }, problems: [], warnings: [] });
  });
});

describe('a superuser rewriting entries', () => {
  it('changing a row is found as entry-altered at that entry', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query(`UPDATE ledger_entry SET entry = replace(entry, '"note":"sample 137"', '"note":"nothing to see"') WHERE seq = 137`);
    });
    const report = await ledger.verify();
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(137);
    // The stored hashes are still the signed ones: the change is in the content, and only there.
    expect(report.problems).toEqual([{ kind: 'entry-altered', seq: 137, message: 'entry 137 was changed: its content no longer hashes to its stored hash' }]);
  });

  it('changing a row and recomputing its hash is found as entry-rewritten at that entry', async () => {
    const { db, ledger } = await ledgerWithHistory();
    const original = await ledger.get(420);
    const forged = { ...original, details: { ...original.details, note: 'approved by nobody' } };
    const { prevHash, hash: _h, ...body } = forged;
    const hash = hashOf(body, Buffer.from(prevHash, 'hex'));
    await asRogueSuperuser(db, async (c) => {
      await c.query('UPDATE ledger_entry SET entry = $1, hash = $2 WHERE seq = 420', [canonicalEntryJson(body), hash]);
    });
    const report = await ledger.verify();
    expect(report.firstBadSeq).toBe(420);
    expect(report.problems[0]).toEqual({ kind: 'entry-rewritten', seq: 420, message: 'entry 420 was rewritten: its hash was recomputed, but entry 421 still links to the original' });
  });

  it("changing only a row's stored prevHash is found as chain-broken at that entry", async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query(`UPDATE ledger_entry SET prev_hash = decode(repeat('ab', 32), 'hex') WHERE seq = 233`);
    });
    const report = await ledger.verify();
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(233);
    expect(report.problems).toEqual([{ kind: 'chain-broken', seq: 233, message: "entry 233's stored prevHash is not the hash of entry 232 (the column was changed)" }]);
  });

  it('changing a row and recomputing the whole chain after it is caught by the signed checkpoint', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      const rows = await c.query<{ entry: string; prev_hash: Buffer }>('SELECT entry, prev_hash FROM ledger_entry WHERE seq >= 450 ORDER BY seq');
      let prev = rows.rows[0]!.prev_hash;
      for (const [i, row] of rows.rows.entries()) {
        const entry = i === 0 ? row.entry.replace('"note":"sample 450"', '"note":"rewritten"') : row.entry;
        const hash = chainHash(prev, entry);
        await c.query('UPDATE ledger_entry SET entry = $1, prev_hash = $2, hash = $3 WHERE seq = $4', [entry, prev, hash, 450 + i]);
        prev = hash;
      }
    });
    const report = await ledger.verify();
    expect(report.ok).toBe(false);
    // The chain is consistent again; only the signature over the tree at 600 knows better, and the
    // stored subtrees (kept since before the rewrite) narrow it to entries 256..511.
    expect(report.problems).toEqual([
      {
        kind: 'checkpoint-root-mismatch',
        treeSize: 600,
        seq: 300,
        message: expect.stringMatching(/^the entries do not hash to the root signed at tree size 600 \(.+\): something in entries 300\.\.599 differs from what was signed$/),
      },
      { kind: 'tree-store-mismatch', seq: 0, message: 'the stored subtree over entries 0..511 differs from the one recomputed from the entries' },
      { kind: 'tree-store-mismatch', seq: 256, message: 'the stored subtree over entries 256..511 differs from the one recomputed from the entries' },
    ]);
    expect(report.firstBadSeq).toBe(300);
  });

  it('deleting a row is found as entry-missing at that entry', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query('DELETE FROM ledger_entry WHERE seq = 222');
    });
    const report = await ledger.verify();
    expect(report.firstBadSeq).toBe(222);
    expect(report.problems[0]).toEqual({ kind: 'entry-missing', seq: 222, message: 'entry 222 is missing (deleted)' });
  });

  it('inserting a row (shifting the rest) is found as entry-inserted at that entry', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      // The sequence and time constraints would refuse the shift: the attacker drops them too.
      await c.query('ALTER TABLE ledger_entry DROP CONSTRAINT ledger_entry_seq_is_entry_seq, DROP CONSTRAINT ledger_entry_time_is_entry_time');
      await c.query('UPDATE ledger_entry SET seq = seq + 1000000 WHERE seq >= 500');
      await c.query('UPDATE ledger_entry SET seq = seq - 1000000 + 1 WHERE seq >= 1000000');
      const prev = await c.query<{ hash: Buffer; recorded_at: Date }>('SELECT hash, recorded_at FROM ledger_entry WHERE seq = 499');
      const forged = { ...sampleEntry(9999, { action: 'access.change.approved', actor: { kind: 'human', id: 'mallory' } }), seq: 500, timestamp: prev.rows[0]!.recorded_at.toISOString() };
      await c.query('INSERT INTO ledger_entry (seq, recorded_at, prev_hash, hash, entry) VALUES (500, $1, $2, $3, $4)', [
        forged.timestamp,
        prev.rows[0]!.hash,
        hashOf(forged, prev.rows[0]!.hash),
        canonicalEntryJson(forged),
      ]);
    });
    const report = await ledger.verify();
    expect(report.firstBadSeq).toBe(500);
    expect(report.problems[0]).toEqual({ kind: 'entry-inserted', seq: 500, message: 'entry 500 was inserted: the entry that was 500 now sits at 501, and the entries after it moved up' });
  });

  it('reordering rows is found as entries-reordered at the first moved entry', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query('ALTER TABLE ledger_entry DROP CONSTRAINT ledger_entry_seq_is_entry_seq, DROP CONSTRAINT ledger_entry_time_is_entry_time');
      await c.query('UPDATE ledger_entry SET seq = CASE seq WHEN 100 THEN 9999999 ELSE seq END WHERE seq = 100');
      await c.query('UPDATE ledger_entry SET seq = 100 WHERE seq = 160');
      await c.query('UPDATE ledger_entry SET seq = 160 WHERE seq = 9999999');
    });
    const report = await ledger.verify();
    expect(report.firstBadSeq).toBe(100);
    expect(report.problems.slice(0, 2)).toEqual([
      { kind: 'entries-reordered', seq: 100, message: 'the entry at position 100 is entry 160: entries were reordered' },
      { kind: 'entries-reordered', seq: 160, message: 'the entry at position 160 is entry 100: entries were reordered' },
    ]);
  });

  it('deleting the newest rows below a checkpoint is found as ledger-truncated', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query('DELETE FROM ledger_entry WHERE seq >= 590');
    });
    const report = await ledger.verify();
    expect(report.firstBadSeq).toBe(590);
    expect(report.problems).toEqual([
      { kind: 'ledger-truncated', seq: 590, treeSize: 600, message: 'the ledger ends at entry 589 but the checkpoint at tree size 600 was signed over 600 entries: entries 590..599 were removed' },
    ]);
  });
});

describe('a superuser forging checkpoints', () => {
  it('a checkpoint with a made-up signature is found as checkpoint-bad-signature', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await appendSamples(ledger, 10, 600);
    const latest = (await ledger.latestCheckpoint())!;
    await asRogueSuperuser(db, async (c) => {
      // A tree head over the real entries, correctly formed, but not signed by the ledger's key.
      const body = latest.body.replace('\n600\n', '\n610\n');
      await c.query("INSERT INTO ledger_checkpoint SELECT 610, root_hash, signed_at, key_name, key_version, $1, $2 FROM ledger_checkpoint WHERE tree_size = 600", [body, Buffer.alloc(64, 7)]);
    });
    const report = await ledger.verify();
    expect(report.problems).toContainEqual({ kind: 'checkpoint-bad-signature', treeSize: 610, message: 'checkpoint at tree size 610: the signature does not verify with key version 1 (forged, or the checkpoint was changed after signing)' });
  });

  it('a signed root changed afterwards is found as checkpoint-malformed (fields differ from what was signed)', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query("UPDATE ledger_checkpoint SET root_hash = decode(repeat('ab', 32), 'hex') WHERE tree_size = 300");
    });
    const report = await ledger.verify();
    expect(report.problems[0]).toMatchObject({ kind: 'checkpoint-malformed', treeSize: 300, message: expect.stringContaining('checkpoint at tree size 300: its fields differ from the signed body') });
  });

  it('a signed body changed afterwards, re-using the signature, is found as checkpoint-bad-signature', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      const row = await c.query<{ body: string }>('SELECT body FROM ledger_checkpoint WHERE tree_size = 300');
      const [origin, size, root, time] = row.rows[0]!.body.split('\n');
      const later = new Date(Date.parse(time!) + 3_600_000).toISOString();
      await c.query('UPDATE ledger_checkpoint SET body = $1, signed_at = $2 WHERE tree_size = 300', [`${origin}\n${size}\n${root}\n${later}\n`, later]);
    });
    const report = await ledger.verify();
    expect(report.problems[0]).toEqual({ kind: 'checkpoint-bad-signature', treeSize: 300, message: 'checkpoint at tree size 300: the signature does not verify with key version 1 (forged, or the checkpoint was changed after signing)' });
  });

  it('a truncated signature is found as checkpoint-bad-signature, naming its length', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query('UPDATE ledger_checkpoint SET signature = substring(signature from 1 for 40) WHERE tree_size = 600');
    });
    const report = await ledger.verify();
    expect(report.problems[0]).toEqual({ kind: 'checkpoint-bad-signature', treeSize: 600, message: 'checkpoint at tree size 600: the signature is 40 bytes, not 64 (truncated or forged)' });
  });

  it('a truncated checkpoint body is found as checkpoint-malformed', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query("UPDATE ledger_checkpoint SET body = split_part(body, E'\\n', 1) || E'\\n' WHERE tree_size = 600");
    });
    const report = await ledger.verify();
    expect(report.problems[0]).toEqual({ kind: 'checkpoint-malformed', treeSize: 600, message: 'checkpoint at tree size 600: its signed body is not a tree head (origin, size, root, time), so it was truncated or forged' });
  });

  it('a checkpoint naming a key version that does not exist is found as checkpoint-unknown-key', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query('UPDATE ledger_checkpoint SET key_version = 9 WHERE tree_size = 300');
    });
    const report = await ledger.verify();
    expect(report.problems[0]).toEqual({ kind: 'checkpoint-unknown-key', treeSize: 300, message: 'checkpoint at tree size 300: signed with key version 9, which is not among the public keys (1)' });
  });

  it('a changed stored subtree is found as tree-store-mismatch', async () => {
    const { db, ledger } = await ledgerWithHistory();
    await asRogueSuperuser(db, async (c) => {
      await c.query("UPDATE ledger_tree_node SET hash = decode(repeat('cd', 32), 'hex') WHERE level = 8 AND idx = 1");
    });
    const report = await ledger.verify();
    expect(report.problems).toEqual([{ kind: 'tree-store-mismatch', seq: 256, message: 'the stored subtree over entries 256..511 differs from the one recomputed from the entries' }]);
  });
});
