// The outbox dispatcher against real PostgreSQL, with a consumer of this test's own that records
// each delivery in a table: ordering per identity, two processes competing, a failed delivery, and
// a process whose connection dies mid-delivery.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Pool } from 'pg';
import { TEST_ADMIN, createTestDatabase, ledgerFor, openOrm, withPg, type MikroORM, type TestDatabase } from '../test/helpers/services.js';
import { createLogger } from '../server/logger.js';
import { createDirectoryService } from './directory-service.js';
import { identityEventSchema, type IdentityEvent } from './identity-event.js';
import { poolOf } from './index.js';
import { createOutboxDispatcher, type OutboxDispatcher } from './outbox-dispatcher.js';
import { createScimStore, type Actor, type ScimStore } from './scim-store.js';
import { createScimLedgerRecorder } from './scim-ledger-recorder.js';
import { createLedger } from '../audit/index.js';
import { createTestVault } from '../test/helpers/services.js';

const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('outbox dispatcher', () => {
  let db: TestDatabase;
  let orms: MikroORM[];
  let pools: Pool[];
  let store: ScimStore;
  let actor: Actor;
  let running: OutboxDispatcher[] = [];
  let recordOnLedger: () => Promise<number>;

  const sql = <R = Record<string, unknown>>(text: string, values: unknown[] = []) => withPg(db.superuserUrl, async (c) => (await c.query(text, values)).rows as R[]);

  beforeAll(async () => {
    db = await createTestDatabase();
    // Two connection pools: two server processes as far as PostgreSQL can tell.
    orms = [await openOrm(db.appUrl, 4), await openOrm(db.appUrl, 4)];
    pools = await Promise.all(orms.map(poolOf));
    store = createScimStore({ pool: pools[0]! });
    const vault = await createTestVault();
    const ledgerRecorder = createScimLedgerRecorder({ orm: orms[0]!, ledger: createLedger({ orm: orms[0]!, signer: vault.store }), log });
    recordOnLedger = async () => {
      let total = 0;
      for (let n = await ledgerRecorder.recordOnce(); n > 0; n = await ledgerRecorder.recordOnce()) total += n;
      return total;
    };
    await sql(`CREATE TABLE test_delivery (n bigserial PRIMARY KEY, consumer text NOT NULL, event_id uuid NOT NULL, seq bigint NOT NULL, identity_key text NOT NULL, kind text NOT NULL)`);
    await sql('GRANT SELECT, INSERT ON test_delivery TO gatehouse_app; GRANT USAGE ON SEQUENCE test_delivery_n_seq TO gatehouse_app');
  });
  afterAll(async () => {
    for (const o of orms ?? []) await o.close(true);
    await db?.drop();
  });
  beforeEach(async () => {
    await sql('DELETE FROM scim_outbox; DELETE FROM test_delivery');
    const d = await createDirectoryService({ orm: orms[0]!, ledger: await ledgerFor(orms[0]!) }).createDirectory(`outbox-${Math.random().toString(36).slice(2)}`, TEST_ADMIN);
    actor = { directoryId: d.id, tokenId: '00000000-0000-4000-8000-000000000001' };
  });
  afterEach(async () => {
    for (const d of running) await d.stop();
    running = [];
  });

  /** The test's consumer: records the delivery, as a JML workflow start would. */
  const recorder = (consumer: string, pool: Pool) => async (event: IdentityEvent) => {
    identityEventSchema.parse(event);
    await pool.query('INSERT INTO test_delivery (consumer, event_id, seq, identity_key, kind) VALUES ($1, $2, $3, $4, $5)', [consumer, event.id, event.seq, event.identityKey, event.kind]);
  };

  /** Users with several changes each, and a group whose membership touches them. */
  async function produce(users: number, updatesEach: number): Promise<number> {
    const ids: string[] = [];
    for (let i = 0; i < users; i++) ids.push((await store.createUser(actor, { userName: `user${i}@example.com`, active: true })).id);
    // Consecutive changes to the same person, so one round could see several of their events.
    for (const id of ids) {
      for (let round = 0; round < updatesEach; round++) await store.updateUser(actor, id, (cur) => ({ ...cur.resource, title: `title ${round}`, active: round % 2 === 0 }));
    }
    const group = await store.createGroup(actor, { displayName: 'Everyone' }, ids.slice(0, 5).map((value) => ({ value })));
    await store.updateGroup(actor, group.id, (cur) => ({ resource: cur.resource, memberChanges: [{ kind: 'remove', ids: [ids[0]!] }] }), { returnMembers: false });
    await store.deleteUser(actor, ids[1]!);
    // The dispatcher delivers only what is on the ledger.
    await recordOnLedger();
    return Number((await sql<{ n: string }>('SELECT count(*) AS n FROM scim_outbox'))[0]!.n);
  }

  async function waitUntilDelivered(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const [row] = await sql<{ n: string }>('SELECT count(*) AS n FROM scim_outbox WHERE delivered_at IS NULL');
      if (row!.n === '0') return;
      await sleep(50);
    }
    throw new Error('the outbox did not drain');
  }

  async function deliveries() {
    return sql<{ consumer: string; event_id: string; seq: string; identity_key: string; kind: string }>('SELECT consumer, event_id, seq, identity_key, kind FROM test_delivery ORDER BY n');
  }

  function expectOrderedPerIdentity(rows: { seq: string; identity_key: string }[]): void {
    const last = new Map<string, bigint>();
    for (const r of rows) {
      const seq = BigInt(r.seq);
      const prev = last.get(r.identity_key);
      if (prev !== undefined) expect(seq > prev, `${r.identity_key}: seq ${seq} delivered after ${prev}`).toBe(true);
      last.set(r.identity_key, seq);
    }
  }

  it('delivers every event exactly once, in order per identity, with two processes competing', async () => {
    const total = await produce(12, 3);
    expect(total).toBeGreaterThan(12 * 4);
    // Later events finish faster: any two events of one identity delivered together would swap.
    const jitter = (deliver: (e: IdentityEvent) => Promise<void>) => async (e: IdentityEvent) => {
      await sleep(Math.max(0, 20 - (Number(e.seq) % 20)) + Math.random() * 3);
      await deliver(e);
    };
    running = pools.map((pool, i) =>
      createOutboxDispatcher({ pool, log, deliver: jitter(recorder(`process-${i}`, pool)), batchSize: 8, pollIntervalMs: 10, name: `dispatcher-${i}` }),
    );
    await Promise.all(running.map((d) => d.start()));
    await waitUntilDelivered();

    const rows = await deliveries();
    expect(rows).toHaveLength(total);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(total);
    expectOrderedPerIdentity(rows);
    // Both processes took part.
    expect(new Set(rows.map((r) => r.consumer))).toEqual(new Set(['process-0', 'process-1']));
    // The events carry what a consumer needs, in the order things happened to each person.
    const kindsOfSecondUser = rows.filter((r) => r.identity_key === rows.find((x) => x.kind === 'deleted')!.identity_key).map((r) => r.kind);
    expect(kindsOfSecondUser).toEqual(['created', 'updated', 'deactivated', 'reactivated', 'updated', 'deleted']);
  });

  it('delivers nothing that is not on the ledger yet', async () => {
    await store.createUser(actor, { userName: 'not-yet-recorded@example.com', active: true });
    const dispatcher = createOutboxDispatcher({ pool: pools[0]!, log, deliver: recorder('process-0', pools[0]!), pollIntervalMs: 10 });
    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 0, failed: 0 });
    expect(await recordOnLedger()).toBe(1);
    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 1, failed: 0 });
  });

  it('retries a failed delivery later and holds back only that identity', async () => {
    const a = (await store.createUser(actor, { userName: 'a@example.com' })).id;
    const b = (await store.createUser(actor, { userName: 'b@example.com' })).id;
    await store.updateUser(actor, a, (c) => ({ ...c.resource, title: 'a2' }));
    await store.updateUser(actor, b, (c) => ({ ...c.resource, title: 'b2' }));
    await recordOnLedger();
    let failures = 0;
    const record = recorder('only', pools[0]!);
    const dispatcher = createOutboxDispatcher({
      pool: pools[0]!,
      log,
      retryBaseMs: 200,
      deliver: async (e) => {
        if (e.resourceId === a && e.kind === 'created' && failures === 0) {
          failures++;
          throw new Error('the consumer is unavailable');
        }
        await record(e);
      },
    });

    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 1, failed: 1 });
    const [failed] = await sql<{ attempts: number; last_error: string; delivered_at: Date | null }>("SELECT attempts, last_error, delivered_at FROM scim_outbox WHERE payload->>'resourceId' = $1 AND kind = 'created'", [a]);
    expect(failed).toMatchObject({ attempts: 1, last_error: 'the consumer is unavailable', delivered_at: null });
    // b moves on; a's later event waits behind its failed first one.
    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 1, failed: 0 });
    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 0, failed: 0 });
    expect((await deliveries()).map((r) => [r.identity_key.endsWith(b) ? 'b' : 'a', r.kind])).toEqual([
      ['b', 'created'],
      ['b', 'updated'],
    ]);

    await sleep(250);
    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 1, failed: 0 });
    expect(await dispatcher.dispatchOnce()).toEqual({ delivered: 1, failed: 0 });
    const rows = await deliveries();
    expect(rows.filter((r) => r.identity_key.endsWith(a)).map((r) => r.kind)).toEqual(['created', 'updated']);
    expectOrderedPerIdentity(rows);
    const [retried] = await sql<{ attempts: number; last_error: string | null }>("SELECT attempts, last_error FROM scim_outbox WHERE payload->>'resourceId' = $1 AND kind = 'created'", [a]);
    expect(retried).toEqual({ attempts: 2, last_error: null });
  });

  it('redelivers the events of a process whose connection died mid-delivery', async () => {
    await produce(3, 1);
    const started: string[] = [];
    const release: (() => void)[] = [];
    const stuck = createOutboxDispatcher({
      pool: pools[1]!,
      log,
      deliveryTimeoutMs: 120_000,
      deliver: (e) =>
        new Promise<void>((resolve) => {
          started.push(e.id);
          release.push(resolve);
        }),
    });
    const stuckRound = stuck.dispatchOnce().then(
      () => 'committed',
      () => 'failed',
    );
    while (!started.length) await sleep(10);
    // The process is gone: PostgreSQL ends its session and releases its row locks.
    const killed = await sql<{ pid: number }>("SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'", [db.name]);
    expect(killed).toHaveLength(1);

    const other = createOutboxDispatcher({ pool: pools[0]!, log, deliver: recorder('survivor', pools[0]!), pollIntervalMs: 10 });
    running = [other];
    await other.start();
    await waitUntilDelivered();
    release.forEach((r) => r());
    expect(await stuckRound).toBe('failed');

    const rows = await deliveries();
    const delivered = new Set(rows.map((r) => r.event_id));
    for (const id of started) expect(delivered.has(id)).toBe(true);
    expect(rows.every((r) => r.consumer === 'survivor')).toBe(true);
    expectOrderedPerIdentity(rows);
  });
});
