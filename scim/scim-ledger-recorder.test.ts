// Every SCIM change lands on the ledger exactly once, in outbox order, with the directory token as
// the actor, even with two processes recording at the same time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN, createTestDatabase, createTestVault, ledgerFor, openOrm, withPg, type MikroORM, type TestDatabase } from '../test/helpers/services.js';
import { createLogger } from '../server/logger.js';
import { createLedger, type Ledger } from '../audit/index.js';
import { createDirectoryService } from './directory-service.js';
import { poolOf } from './index.js';
import { createScimStore, type Actor, type ScimStore } from './scim-store.js';
import { createScimLedgerRecorder } from './scim-ledger-recorder.js';

const log = createLogger({ level: 'silent' });

describe('SCIM changes on the ledger', () => {
  let db: TestDatabase;
  let orms: MikroORM[];
  let ledger: Ledger;
  let vault: Awaited<ReturnType<typeof createTestVault>>;
  let store: ScimStore;
  let actor: Actor;

  beforeAll(async () => {
    db = await createTestDatabase();
    orms = [await openOrm(db.appUrl, 4), await openOrm(db.appUrl, 4)];
    vault = await createTestVault();
    await vault.store.ensureSigningKey('gatehouse-ledger');
    ledger = createLedger({ orm: orms[0]!, signer: vault.store });
    store = createScimStore({ pool: await poolOf(orms[0]!) });
    const d = await createDirectoryService({ orm: orms[0]!, ledger: await ledgerFor(orms[0]!) }).createDirectory('okta-prod', TEST_ADMIN);
    actor = { directoryId: d.id, tokenId: '00000000-0000-4000-8000-00000000000a' };
  });
  afterAll(async () => {
    for (const o of orms ?? []) await o.close(true);
    await db?.drop();
  });

  it('records each change once, in order, naming the token, the identity and what changed', async () => {
    const user = await store.createUser(actor, { userName: 'ada@example.com', active: true, externalId: 'okta-1' });
    await store.updateUser(actor, user.id, (cur) => ({ ...cur.resource, title: 'Engineer' }));
    await store.updateUser(actor, user.id, (cur) => ({ ...cur.resource, active: false }));
    await store.deleteUser(actor, user.id);

    const recorder = createScimLedgerRecorder({ orm: orms[0]!, ledger, log });
    expect(await recorder.recordOnce()).toBe(4);
    expect(await recorder.recordOnce()).toBe(0); // exactly once

    const { entries } = await ledger.query({ action: 'scim.*', order: 'oldest' });
    expect(entries.map((e) => e.action)).toEqual(['scim.user.created', 'scim.user.updated', 'scim.user.deactivated', 'scim.user.deleted']);
    for (const e of entries) {
      expect(e.actor).toEqual({ kind: 'idp', id: actor.tokenId });
      expect(e.subject).toEqual({ type: 'identity', id: user.id, display: 'ada@example.com' });
      expect(e.correlation).toEqual({ directoryId: actor.directoryId });
    }
    expect(entries[1]!.details).toMatchObject({ changedAttributes: ['title'], active: true, externalId: 'okta-1' });
    expect(entries[2]!.details).toMatchObject({ changedAttributes: ['active'], active: false });
    const marked = await withPg(db.superuserUrl, async (c) => (await c.query('SELECT ledger_seq::int AS s FROM scim_outbox ORDER BY seq')).rows.map((r: { s: number }) => r.s));
    expect(marked).toEqual(entries.map((e) => e.seq));
  });

  it('two processes recording at once put each change on the ledger once, in outbox order', async () => {
    for (let i = 0; i < 40; i++) await store.createUser(actor, { userName: `bulk${i}@example.com`, active: true });
    const recorders = orms.map((orm) => createScimLedgerRecorder({ orm, ledger: createLedger({ orm, signer: vault.store }), log, batchSize: 7 }));
    const drain = async (r: (typeof recorders)[number]) => {
      let total = 0;
      for (let i = 0; i < 50; i++) total += await r.recordOnce();
      return total;
    };
    const [a, b] = await Promise.all(recorders.map(drain));
    expect(a! + b!).toBe(40);
    const { entries } = await ledger.query({ action: 'scim.user.created', order: 'oldest', limit: 500 });
    const names = entries.map((e) => e.subject!.display).filter((n) => n!.startsWith('bulk'));
    expect(names).toEqual(Array.from({ length: 40 }, (_, i) => `bulk${i}@example.com`));
    expect((await ledger.verify()).ok).toBe(true);
  });
});
