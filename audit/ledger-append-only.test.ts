// Append-only is enforced by PostgreSQL, not by politeness: the application role may only INSERT
// and SELECT, and the triggers refuse UPDATE, DELETE and TRUNCATE for everyone else, even a
// superuser session in replication mode.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, withPg, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, type TestLedger } from '../test/helpers/ledger.js';

let vault: TestVault;
let t: TestLedger;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
  await appendSamples(t.ledger, 300);
  await t.ledger.checkpoint();
});
afterAll(async () => {
  await t?.close();
});

const failureOf = async (url: string, sql: string, setup?: string) =>
  withPg(url, async (c) => {
    if (setup) await c.query(setup);
    return c.query(sql).then(
      () => undefined,
      (err: { code?: string; message: string }) => ({ code: err.code, message: err.message }),
    );
  });

const rewrites = (table: string, key: string) => [
  ['UPDATE', `UPDATE ${table} SET ${key} = ${key}`],
  ['DELETE', `DELETE FROM ${table}`],
  ['TRUNCATE', `TRUNCATE ${table}`],
] as const;

const tables = [
  ['ledger_entry', 'entry'],
  ['ledger_checkpoint', 'body'],
  ['ledger_tree_node', 'hash'],
  ['ledger_instance', 'ledger_id'],
] as const;

describe('the application role', () => {
  for (const [table, column] of tables) {
    for (const [verb, sql] of rewrites(table, column)) {
      it(`is refused ${verb} on ${table} (no privilege)`, async () => {
        expect(await failureOf(t.db.appUrl, sql)).toMatchObject({ code: '42501', message: `permission denied for table ${table}` });
      });
    }
  }

  it('cannot disable the triggers, which only the table owner may do', async () => {
    expect(await failureOf(t.db.appUrl, 'ALTER TABLE ledger_entry DISABLE TRIGGER ALL')).toMatchObject({ code: '42501', message: 'must be owner of table ledger_entry' });
  });

  it('is refused checkpoints and stored subtrees, even with the right root and a forged signature: only gatehouse_ledger writes them', async () => {
    const head = (await t.ledger.head()).size;
    await appendSamples(t.ledger, 256, head);
    const size = head + 256;
    // PostgreSQL cannot check the Ed25519 signature; before the ledger role, this row went in.
    const forged = await failureOf(
      t.db.appUrl,
      `INSERT INTO ledger_checkpoint (tree_size, root_hash, signed_at, key_name, key_version, body, signature) VALUES (${size}, ledger_subtree_hash(0, ${size}), now(), 'gatehouse-ledger', 1, 'forged', '\\x00')`,
    );
    expect(forged).toMatchObject({ code: '42501', message: 'permission denied for table ledger_checkpoint' });
    const blocks = Math.floor(size / 256) - 1;
    const node = await failureOf(t.db.appUrl, `INSERT INTO ledger_tree_node (level, idx, hash) VALUES (8, ${blocks}, ledger_subtree_hash(${blocks * 256}, ${(blocks + 1) * 256})) ON CONFLICT DO NOTHING`);
    expect(node).toMatchObject({ code: '42501', message: 'permission denied for table ledger_tree_node' });
    // The checkpointer, connected as the ledger role, signs that size, and the ledger verifies.
    expect((await t.ledger.checkpoint())?.treeSize).toBe(size);
    expect((await t.ledger.verify()).problems).toEqual([]);
  });

  it('can still read and append', async () => {
    const head = (await t.ledger.head()).size;
    const rows = await withPg(t.db.appUrl, (c) => c.query('SELECT count(*)::int AS n FROM ledger_entry'));
    expect(rows.rows[0].n).toBe(head);
    expect((await t.ledger.append({ action: 'system.probe.ran', actor: { kind: 'system', id: 'test' } })).seq).toBe(head);
  });
});

describe('the triggers', () => {
  for (const [table, column] of tables) {
    for (const [verb, sql] of rewrites(table, column)) {
      it(`refuse ${verb} on ${table} by the owner, who holds every privilege`, async () => {
        expect(await failureOf(t.db.ownerUrl, sql)).toMatchObject({ code: '42501', message: `the audit ledger is append-only: ${verb} on ${table} is refused` });
      });
    }
  }

  it('fire ALWAYS: a superuser session with session_replication_role = replica is still refused', async () => {
    for (const [verb, sql] of rewrites('ledger_entry', 'entry')) {
      expect(await failureOf(t.db.superuserUrl, sql, 'SET session_replication_role = replica'), verb).toMatchObject({
        message: `the audit ledger is append-only: ${verb} on ledger_entry is refused`,
      });
    }
  });

  it('are reported by verification when a superuser disables them', async () => {
    expect((await t.ledger.verify()).problems).toEqual([]);
    await withPg(t.db.superuserUrl, (c) => c.query('ALTER TABLE ledger_checkpoint DISABLE TRIGGER ledger_checkpoint_no_truncate'));
    try {
      const report = await t.ledger.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([{ kind: 'protection-missing', message: 'trigger ledger_checkpoint_no_truncate is disabled: ledger_checkpoint can be rewritten' }]);
    } finally {
      await withPg(t.db.superuserUrl, (c) => c.query('ALTER TABLE ledger_checkpoint ENABLE ALWAYS TRIGGER ledger_checkpoint_no_truncate'));
    }
  });

  it('are reported by verification when the refusing function is replaced by one that lets changes through', async () => {
    const original = await withPg(t.db.superuserUrl, async (c) => (await c.query("SELECT pg_get_functiondef('ledger_refuse_change'::regproc) AS def")).rows[0].def as string);
    await withPg(t.db.superuserUrl, (c) =>
      c.query(`CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$`),
    );
    try {
      const report = await t.ledger.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        { kind: 'protection-missing', message: "the function ledger_refuse_change() that guards the ledger's tables was replaced: they are no longer protected as created" },
      ]);
    } finally {
      await withPg(t.db.superuserUrl, (c) => c.query(original));
    }
    expect((await t.ledger.verify()).problems).toEqual([]);
  });

  it('are reported by verification when a trigger is re-created with WHEN (false)', async () => {
    const recreate = (when: string) =>
      withPg(t.db.superuserUrl, async (c) => {
        await c.query('DROP TRIGGER ledger_entry_no_update_or_delete ON ledger_entry');
        await c.query(`CREATE TRIGGER ledger_entry_no_update_or_delete BEFORE UPDATE OR DELETE ON ledger_entry FOR EACH ROW ${when} EXECUTE FUNCTION ledger_refuse_change()`);
        await c.query('ALTER TABLE ledger_entry ENABLE ALWAYS TRIGGER ledger_entry_no_update_or_delete');
      });
    await recreate('WHEN (false)');
    try {
      const report = await t.ledger.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ kind: 'protection-missing', message: expect.stringMatching(/^trigger ledger_entry_no_update_or_delete is not as created \(.*WHEN \(false\).*\): ledger_entry can be rewritten$/) });
    } finally {
      await recreate('');
    }
    expect((await t.ledger.verify()).problems).toEqual([]);
  });

  it('make verification report a privilege granted back to the application role', async () => {
    await withPg(t.db.superuserUrl, (c) => c.query('GRANT UPDATE ON ledger_entry TO gatehouse_app'));
    try {
      expect((await t.ledger.verify()).problems).toEqual([{ kind: 'protection-missing', message: 'the application role gatehouse_app holds UPDATE on ledger_entry' }]);
    } finally {
      await withPg(t.db.superuserUrl, (c) => c.query('REVOKE UPDATE ON ledger_entry FROM gatehouse_app'));
    }
  });

  it('make verification report the application role allowed to write checkpoints, or the ledger role to rewrite them', async () => {
    await withPg(t.db.superuserUrl, (c) => c.query('GRANT INSERT ON ledger_checkpoint TO gatehouse_app; GRANT DELETE ON ledger_tree_node TO gatehouse_ledger'));
    try {
      expect((await t.ledger.verify()).problems).toEqual([
        { kind: 'protection-missing', message: 'the application role gatehouse_app holds INSERT on ledger_checkpoint' },
        { kind: 'protection-missing', message: 'the ledger role gatehouse_ledger holds DELETE on ledger_tree_node' },
      ]);
    } finally {
      await withPg(t.db.superuserUrl, (c) => c.query('REVOKE INSERT ON ledger_checkpoint FROM gatehouse_app; REVOKE DELETE ON ledger_tree_node FROM gatehouse_ledger'));
    }
    expect((await t.ledger.verify()).problems).toEqual([]);
  });

  describe('the rows the ledger role may insert', () => {
    it('refuses a checkpoint beyond the ledger or not beyond the newest, and a subtree stored ahead of its entries; signing goes on', async () => {
      const head = (await t.ledger.head()).size;
      const latest = (await t.ledger.latestCheckpoint())!;
      const forge = (size: number) =>
        failureOf(t.db.ledgerUrl, `INSERT INTO ledger_checkpoint (tree_size, root_hash, signed_at, key_name, key_version, body, signature) VALUES (${size}, decode(repeat('00', 32), 'hex'), now(), 'gatehouse-ledger', 1, 'forged', '\\x00')`);
      expect(await forge(1e12)).toMatchObject({ code: '23514', message: `a ledger checkpoint must cover more entries than the newest (${latest.treeSize}) and no more than the ledger holds (${head}): 1000000000000 refused` });
      expect(await forge(latest.treeSize)).toMatchObject({ code: '23514' });
      const ahead = await failureOf(t.db.ledgerUrl, `INSERT INTO ledger_tree_node (level, idx, hash) VALUES (8, ${Math.ceil(head / 256) + 10}, decode(repeat('00', 32), 'hex'))`);
      expect(ahead).toMatchObject({ code: '23514', message: expect.stringMatching(/^a stored ledger subtree must lie within the \d+ entries the ledger holds/) });
      await appendSamples(t.ledger, 300, head);
      const signed = await t.ledger.checkpoint();
      expect(signed?.treeSize).toBe(head + 300);
      expect((await t.ledger.verify()).problems).toEqual([]);
    });

    it('make verification report the bounds switched off or their function replaced', async () => {
      await withPg(t.db.superuserUrl, (c) => c.query('ALTER TABLE ledger_tree_node DISABLE TRIGGER ledger_tree_node_within_ledger'));
      try {
        expect((await t.ledger.verify()).problems).toEqual([{ kind: 'protection-missing', message: 'trigger ledger_tree_node_within_ledger is disabled: ledger_tree_node takes rows beyond the ledger' }]);
      } finally {
        await withPg(t.db.superuserUrl, (c) => c.query('ALTER TABLE ledger_tree_node ENABLE ALWAYS TRIGGER ledger_tree_node_within_ledger'));
      }
      const original = await withPg(t.db.superuserUrl, async (c) => (await c.query("SELECT pg_get_functiondef('ledger_check_bounds'::regproc) AS def")).rows[0].def as string);
      await withPg(t.db.superuserUrl, (c) => c.query('CREATE OR REPLACE FUNCTION ledger_check_bounds() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$'));
      try {
        expect((await t.ledger.verify()).problems).toEqual([
          { kind: 'protection-missing', message: "the function ledger_check_bounds() that guards the ledger's tables was replaced: they are no longer protected as created" },
        ]);
      } finally {
        await withPg(t.db.superuserUrl, (c) => c.query(original));
      }
      expect((await t.ledger.verify()).problems).toEqual([]);
    });

    it('refuses a checkpoint whose root is not the ledger\'s, and a stored subtree whose hash is not its entries\' root', async () => {
      const head = (await t.ledger.head()).size;
      await appendSamples(t.ledger, 512, head);
      const latest = (await t.ledger.latestCheckpoint())!;
      // Within the bounds, but the root is made up.
      const size = latest.treeSize + 1;
      const forged = await failureOf(
        t.db.ledgerUrl,
        `INSERT INTO ledger_checkpoint (tree_size, root_hash, signed_at, key_name, key_version, body, signature) VALUES (${size}, decode(repeat('ab', 32), 'hex'), now(), 'gatehouse-ledger', 1, 'forged', '\\x00')`,
      );
      expect(forged).toMatchObject({ code: '23514', message: `a ledger checkpoint's root hash must be the root of the ledger's first ${size} entries: refused` });
      // A subtree the ledger has entries for, but not yet stored (the next block), with a made-up hash.
      const stored = await withPg(t.db.superuserUrl, (c) => c.query<{ blocks: string }>('SELECT coalesce(max(idx) + 1, 0) AS blocks FROM ledger_tree_node WHERE level = 8'));
      const blocks = stored.rows[0]!.blocks;
      const node = await failureOf(t.db.ledgerUrl, `INSERT INTO ledger_tree_node (level, idx, hash) VALUES (8, ${blocks}, decode(repeat('cd', 32), 'hex'))`);
      expect(node).toMatchObject({ code: '23514', message: `a stored ledger subtree's hash must be the root of the entries it covers: level 8, index ${blocks} refused` });
      // The real ones go in: signing goes on, and verification finds nothing wrong.
      const signed = await t.ledger.checkpoint();
      expect(signed?.treeSize).toBe(head + 512);
      expect((await t.ledger.verify()).problems).toEqual([]);
    });

    it('make verification report a replaced root function', async () => {
      const original = await withPg(t.db.superuserUrl, async (c) => (await c.query("SELECT pg_get_functiondef('ledger_subtree_hash'::regproc) AS def")).rows[0].def as string);
      await withPg(t.db.superuserUrl, (c) => c.query('CREATE OR REPLACE FUNCTION ledger_subtree_hash(lo bigint, hi bigint) RETURNS bytea LANGUAGE plpgsql STABLE STRICT AS $$ BEGIN RETURN NULL; END $$'));
      try {
        expect((await t.ledger.verify()).problems).toEqual([
          { kind: 'protection-missing', message: "the function ledger_subtree_hash() that guards the ledger's tables was replaced: they are no longer protected as created" },
        ]);
      } finally {
        await withPg(t.db.superuserUrl, (c) => c.query(original));
      }
      expect((await t.ledger.verify()).problems).toEqual([]);
    });
  });
});
