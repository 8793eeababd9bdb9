// The ledger against real PostgreSQL and Vault: appends form one gapless chain, even from several
// connections at once; an append joins the caller's transaction; bad input changes nothing.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, withPg, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, openAnotherLedger, sampleEntry, type TestLedger } from '../test/helpers/ledger.js';
import { GatehouseError } from '../shared/errors.js';
import { SystemCheck } from '../workflows/selfcheck/system-check.entity.js';
import { GENESIS_HASH, canonicalEntryJson, chainHash } from './ledger-entry-codec.js';
import type { LedgerEntry, NewLedgerEntry } from './ledger-types.js';

let vault: TestVault;
let t: TestLedger;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault, { poolMax: 10 });
});
afterAll(async () => {
  await t?.close();
});

/** Recomputes every hash from the entries themselves. */
function expectChain(entries: LedgerEntry[]) {
  let prev = GENESIS_HASH;
  entries.forEach((e, i) => {
    expect(e.seq).toBe(i);
    expect(e.prevHash).toBe(prev.toString('hex'));
    const { prevHash: _p, hash, ...rest } = e;
    expect(hash).toBe(chainHash(prev, canonicalEntryJson(rest)).toString('hex'));
    prev = Buffer.from(hash, 'hex');
  });
}

async function allEntries(): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await t.ledger.query({ order: 'oldest', limit: 500, ...(cursor ? { cursor } : {}) });
    out.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

const errorOf = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as GatehouseError);

describe('appending', () => {
  it('chains each entry to the one before with SHA-256 over the previous hash and its RFC 8785 JSON', async () => {
    const first = await t.ledger.append(sampleEntry(0));
    expect(first).toMatchObject({ seq: 0, prevHash: GENESIS_HASH.toString('hex'), action: 'scim.user.created' });
    expect(first.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const batch = await t.ledger.appendBatch([sampleEntry(1), sampleEntry(2), sampleEntry(3)]);
    expect(batch.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(batch[0]!.prevHash).toBe(first.hash);
    const stored = await allEntries();
    expect(stored).toEqual([first, ...batch]);
    expectChain(stored);
    // The stored text is the canonical form byte for byte: sorted keys, no whitespace.
    const raw = await withPg(t.db.superuserUrl, (c) => c.query<{ entry: string }>('SELECT entry FROM ledger_entry WHERE seq = 2'));
    expect(raw.rows[0]!.entry.startsWith('{"action":"access.change.decided","actor":{"display":"Okta (main)","id":"okta-main","kind":"idp"},"correlation":{"directoryId":')).toBe(true);
    expect(raw.rows[0]!.entry).toContain('"policy":{"id":"birthright","versionHash":"sha256:');
  });

  it('never lets a timestamp go backwards along the chain', async () => {
    const entries = await allEntries();
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.timestamp >= entries[i - 1]!.timestamp).toBe(true);
  });

  it('keeps one linear chain when several connections append at once: no fork, no gap', async () => {
    const before = (await t.ledger.head()).size;
    const writers = await Promise.all(Array.from({ length: 5 }, () => openAnotherLedger(t.db, vault, 4)));
    try {
      await Promise.all(
        writers.flatMap(({ ledger }, w) =>
          Array.from({ length: 4 }, async (_, lane) => {
            for (let i = 0; i < 10; i++) {
              if (i % 3 === 0) await ledger.appendBatch([sampleEntry(w * 100 + lane * 10 + i), sampleEntry(w * 100 + lane * 10 + i + 1000)]);
              else await ledger.append(sampleEntry(w * 100 + lane * 10 + i));
            }
          }),
        ),
      );
    } finally {
      await Promise.all(writers.map((w) => w.orm.close(true)));
    }
    const entries = await allEntries();
    // 5 writers x 4 lanes x (10 appends, 4 of them batches of two)
    expect(entries.length - before).toBe(5 * 4 * 14);
    expectChain(entries);
    const report = await t.ledger.verify();
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: entries.length });
  });

  it('reads entries back by filter, newest first, with a cursor', async () => {
    const page1 = await t.ledger.query({ actorKind: 'idp', action: 'scim.user.created', limit: 3 });
    expect(page1.entries).toHaveLength(3);
    expect(page1.entries.every((e) => e.actor.kind === 'idp' && e.action === 'scim.user.created')).toBe(true);
    expect(page1.entries[0]!.seq).toBeGreaterThan(page1.entries[2]!.seq);
    const page2 = await t.ledger.query({ actorKind: 'idp', action: 'scim.user.created', limit: 3, cursor: page1.nextCursor! });
    expect(page2.entries[0]!.seq).toBeLessThan(page1.entries[2]!.seq);
    const prefixed = await t.ledger.query({ action: 'access.change.*', limit: 500 });
    expect(new Set(prefixed.entries.map((e) => e.action))).toEqual(new Set(['access.change.planned', 'access.change.decided', 'access.change.applied']));
    const byWorkflow = await t.ledger.query({ workflowId: 'identity:okta:3', subjectType: 'identity', limit: 500 });
    expect(byWorkflow.entries.length).toBeGreaterThan(0);
    expect(byWorkflow.entries.every((e) => e.correlation?.workflowId === 'identity:okta:3')).toBe(true);
    const none = await t.ledger.query({ from: '2000-01-01T00:00:00Z', to: '2000-01-02T00:00:00Z' });
    expect(none).toEqual({ entries: [] });
  });
});

  it('stores exactly the bytes it hashed, whatever the text: quotes, escapes, control characters and any Unicode', async () => {
    // Anything but NUL and unpaired surrogates, which entries refuse.
    const text = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\0/g, '').replace(/[\uD800-\uDFFF]/g, ''));
    const tricky = ['"', '\\', '\\"', '\u2028\u2029', '\u0001\u001f\u007f', '{"a":[1]}', 'é e\u0301 𝄞 😀', '\\u0000'];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(text, fc.constantFrom(...tricky)), { minLength: 1, maxLength: 20 }), async (parts) => {
        const entries = parts.map(([a, b], i) => sampleEntry(i, { details: { a, b, [b]: a } }));
        const appended = await t.ledger.appendBatch(entries);
        const stored = await withPg(t.db.superuserUrl, async (c) => (await c.query<{ entry: string }>('SELECT entry FROM ledger_entry WHERE seq = ANY($1) ORDER BY seq', [appended.map((e) => e.seq)])).rows);
        stored.forEach((row, i) => {
          const { prevHash: _p, hash: _h, ...rest } = appended[i]!;
          expect(row.entry).toBe(canonicalEntryJson(rest));
        });
        for (const [i, e] of appended.entries()) expect((await t.ledger.get(e.seq)).details).toEqual(entries[i]!.details);
      }),
      { numRuns: 25 },
    );
    expect((await t.ledger.verify()).ok).toBe(true);
  });

describe('appending inside the caller transaction', () => {
  const stateChange = (em: Parameters<Parameters<TestLedger['orm']['em']['transactional']>[0]>[0], id: string) =>
    em.create(SystemCheck, { id, workflowId: 'wf', runId: 'run', vaultSecretVersion: 1, secretStore: 'vault' });

  it('commits the state change and its entry together', async () => {
    const id = randomUUID();
    const entry = await t.orm.em.fork().transactional(async (em) => {
      stateChange(em, id);
      await em.flush();
      return t.ledger.append(sampleEntry(7, { details: { checkId: id } }), { em });
    });
    expect((await t.ledger.get(entry.seq)).details).toEqual({ checkId: id });
    const rows = await withPg(t.db.superuserUrl, (c) => c.query('SELECT 1 FROM system_check WHERE id = $1', [id]));
    expect(rows.rowCount).toBe(1);
  });

  it('rolls both back when the transaction fails after the append, and reuses the freed sequence number', async () => {
    const id = randomUUID();
    const before = await t.ledger.head();
    const failure = await errorOf(
      t.orm.em.fork().transactional(async (em) => {
        stateChange(em, id);
        await em.flush();
        await t.ledger.append(sampleEntry(8, { details: { checkId: id } }), { em });
        throw new Error('the connector call failed');
      }),
    );
    expect((failure as Error).message).toBe('the connector call failed');
    expect(await t.ledger.head()).toEqual(before);
    const rows = await withPg(t.db.superuserUrl, (c) => c.query('SELECT 1 FROM system_check WHERE id = $1', [id]));
    expect(rows.rowCount).toBe(0);
    const next = await t.ledger.append(sampleEntry(9));
    expect(next.seq).toBe(before.size);
    expect(next.prevHash).toBe(before.hash);
  });

  it('refuses an EntityManager that is not in a transaction', async () => {
    const err = await errorOf(t.ledger.append(sampleEntry(1), { em: t.orm.em.fork() }));
    expect(err).toBeInstanceOf(GatehouseError);
    expect(err!.message).toMatch(/inside em.transactional/);
  });

  it('refuses a REPEATABLE READ transaction, whose snapshot could predate the ledger lock', async () => {
    const before = await t.ledger.head();
    const err = await errorOf(
      t.orm.em.fork().transactional((em) => t.ledger.append(sampleEntry(1), { em }), { isolationLevel: 'repeatable read' as never }),
    );
    expect(err!.message).toMatch(/READ COMMITTED/);
    expect(await t.ledger.head()).toEqual(before);
  });
});

describe('bad input', () => {
  const cases: [string, unknown, string][] = [
    ['an action that is not a dotted verb', { ...sampleEntry(1), action: 'UserCreated' }, 'entry.action'],
    ['an unknown actor kind', { ...sampleEntry(1), actor: { kind: 'robot', id: 'x' } }, 'entry.actor.kind'],
    ['an empty actor id', { ...sampleEntry(1), actor: { kind: 'human', id: '' } }, 'entry.actor.id'],
    ['an unknown field', { ...sampleEntry(1), colour: 'red' }, 'entry'],
    ['a password in the details', { ...sampleEntry(1), details: { connector: { password: 'hunter2' } } }, 'entry.details.connector.password'],
    ['an API key in the details', { ...sampleEntry(1), details: { api_key: 'k' } }, 'entry.details.api_key'],
    ['a Date in the details', { ...sampleEntry(1), details: { at: new Date() } }, 'entry.details.at'],
    ['a NUL character', { ...sampleEntry(1), details: { name: 'a\u0000b' } }, 'entry.details.name'],
    ['an unpaired surrogate', { ...sampleEntry(1), subject: { type: 'identity', id: 'x\ud800' } }, 'entry.subject.id'],
    ['oversized details', { ...sampleEntry(1), details: { blob: 'x'.repeat(70_000) } }, 'entry.details'],
    ['a policy without its version hash', { ...sampleEntry(1), policy: { id: 'p' } }, 'entry.policy.versionHash'],
  ];
  for (const [what, input, field] of cases) {
    it(`refuses ${what}, naming ${field}, and appends nothing`, async () => {
      const before = await t.ledger.head();
      const err = await errorOf(t.ledger.append(input as NewLedgerEntry));
      expect(err).toBeInstanceOf(GatehouseError);
      expect(err).toMatchObject({ code: 'invalid_request', field });
      expect(await t.ledger.head()).toEqual(before);
    });
  }

  it('refuses a whole batch when one entry is bad, naming its index', async () => {
    const before = await t.ledger.head();
    const err = await errorOf(t.ledger.appendBatch([sampleEntry(1), { ...sampleEntry(2), details: { token: 'abc' } }]));
    expect(err).toMatchObject({ code: 'invalid_request', field: 'entries[1].details.token' });
    expect(await t.ledger.head()).toEqual(before);
  });

  it('accepts references to secrets (paths and versions), which are not secrets', async () => {
    const e = await t.ledger.append(sampleEntry(3, { action: 'secret.rotated', details: { secretPath: 'gatehouse/connectors/github', secretVersion: 4, tokenId: 'tok_1' } }));
    expect(e.details).toEqual({ secretPath: 'gatehouse/connectors/github', secretVersion: 4, tokenId: 'tok_1' });
  });
});

describe('larger ledgers', () => {
  it('appends thousands in batches and verifies them', async () => {
    const before = (await t.ledger.head()).size;
    await appendSamples(t.ledger, 3000, 10_000);
    expect((await t.ledger.head()).size).toBe(before + 3000);
    const progress: number[] = [];
    const report = await t.ledger.verify({ onProgress: (done) => progress.push(done) });
    expect(report).toMatchObject({ ok: true, entries: before + 3000, problems: [] });
    expect(progress[progress.length - 1]).toBe(before + 3000);
  });
});
