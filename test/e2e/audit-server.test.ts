// The ledger inside a running Gatehouse: the checkpointer runs beside the server, the public keys
// are served without sign-in, the rest of the audit API waits for sign-in (401 until it lands), and
// every audit route is in the OpenAPI document; its health is in /metrics for a monitoring token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, type MikroORM, type TestDatabase, type TestTemporal, type TestVault } from '../helpers/services.js';
import { sampleEntry } from '../helpers/ledger.js';
import { createLedger, type Ledger } from '../../audit/ledger-service.js';
import { checkCheckpoint } from '../../audit/checkpoint-note.js';
import { testCallers } from '../helpers/test-callers.js';

let db: TestDatabase;
let vault: TestVault;
let temporal: TestTemporal;
let gatehouse: RunningGatehouse;
let orm: MikroORM;
let ledger: Ledger;

beforeAll(async () => {
  [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
  gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { LEDGER_CHECKPOINT_EVERY_ENTRIES: '5', LEDGER_CHECKPOINT_INTERVAL_SECONDS: '3600' }), createLogger({ level: 'silent' }));
  // Another module's view: an appender of its own on the same database.
  orm = await openOrm(db.appUrl, 2);
  ledger = createLedger({ orm, signer: vault.store });
});

afterAll(async () => {
  await gatehouse?.stop();
  await orm?.close(true);
  await temporal?.close();
  await db?.drop();
});

describe('the ledger in a running Gatehouse', () => {
  it('is checkpointed by the server once enough entries arrive', async () => {
    await ledger.appendBatch([0, 1, 2, 3, 4, 5].map((i) => sampleEntry(i)));
    const deadline = Date.now() + 30_000;
    let latest = await ledger.latestCheckpoint();
    while (!latest && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      latest = await ledger.latestCheckpoint();
    }
    expect(latest).toMatchObject({ treeSize: 6, keyName: 'gatehouse-ledger' });
    // The server ensured the signing key at start, and the checkpoint verifies with its public key.
    expect(checkCheckpoint(latest!, await ledger.publicKeys(), await ledger.origin())).toBeUndefined();
  });

  it("exports the ledger's health as Prometheus metrics to a monitoring token, and to nobody signed out", async () => {
    expect((await fetch(`${gatehouse.url}/metrics`)).status).toBe(401);
    const monitoring = await testCallers(orm).token(['read:System'], 'prometheus');
    const res = await fetch(`${gatehouse.url}/metrics`, { headers: monitoring.headers() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const head = (await ledger.head()).size;
    expect(value('gatehouse_ledger_entries')).toBe(head);
    expect(value('gatehouse_ledger_checkpoint_entries')).toBe((await ledger.latestCheckpoint())!.treeSize);
    expect(value('gatehouse_ledger_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(value('gatehouse_ledger_checkpoint_late')).toBe(0);
    expect(text).toMatch(/^gatehouse_process_cpu_seconds_total /m);
  });

  it('serves the public keys to anyone', async () => {
    const res = await fetch(`${gatehouse.url}/api/audit/keys`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ keyName: 'gatehouse-ledger', algorithm: 'ed25519', keys: [{ version: 1 }] });
  });

  it('answers 401 for the query and export until sign-in is in place', async () => {
    expect((await fetch(`${gatehouse.url}/api/audit/entries`)).status).toBe(401);
    const exp = await fetch(`${gatehouse.url}/api/audit/exports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(exp.status).toBe(401);
  });

  it('lists the audit routes in /api/openapi.json', async () => {
    const doc = (await (await fetch(`${gatehouse.url}/api/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/audit/keys', '/api/audit/entries', '/api/audit/exports', '/api/audit/entries/{seq}/inclusion-proof', '/api/audit/consistency-proof']));
  });
});
