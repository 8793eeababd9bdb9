// Credentials and the NHI inventory through the real server (its worker included), over real
// PostgreSQL, Temporal, Vault and a target cluster: the inventory with its filters and exports, bad
// query parameters refused naming the parameter, rotation on demand through the API, the rotation
// schedule that follows a credential's max-age policy (a Temporal Schedule, triggered for real), and
// then a search of every place a secret must never be: every PostgreSQL table as text (the ledger
// included), the ledger as the API serves it, the server's logs and Temporal's history.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleNotFoundError } from '@temporalio/client';
import { parse as parseCsv } from 'csv-parse/sync';
import type { RotationOutcome } from '../../connectors/credentials/rotation-types.js';
import { CSV_COLUMNS } from '../../connectors/credentials/inventory-service.js';
import { createLogger } from '../../server/logger.js';
import { checkEveryMinutes, reconcileRotationSchedules, createTemporalRotations, scheduleIdOf } from '../../server/rotation-scheduling.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { canLogInToPostgres, createPostgresTarget, type PostgresTarget } from '../helpers/postgres-target.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, withPg, type MikroORM, type TestDatabase, type TestTemporal, type TestVault } from '../helpers/services.js';
import { historyText } from '../helpers/temporal-history.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

describe('credentials and the inventory through the API', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let gatehouse: RunningGatehouse;
  let orm: MikroORM;
  let admin: PersonCredentials;
  let auditor: PersonCredentials;
  let credentialId: string;
  const logs: string[] = [];
  const ROLE = () => `svc_api_${target.tag}`;
  const FIRST_SECRET = 'First-Api-Passw0rd-7c1';
  const rotatedSecrets: string[] = [];
  const rotationWorkflows: string[] = [];

  beforeAll(async () => {
    [db, vault, temporal, target] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
    // Every log line the server writes, at the most talkative level, to search for secrets later.
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    gatehouse = await startGatehouse(testConfig({ db, vault, temporal }), createLogger({ level: 'debug', destination: sink }), { announce: () => undefined });
    orm = await openOrm(db.appUrl, 2);
    const callers = testCallers(orm);
    [admin, auditor] = await Promise.all([callers.person(['admin']), callers.person(['auditor'])]);

    const adminUrl = new URL(target.superuserUrl);
    adminUrl.username = target.admin.user;
    adminUrl.password = target.admin.password;
    await withPg(adminUrl.toString(), (c) => c.query(`CREATE ROLE ${c.escapeIdentifier(ROLE())} LOGIN PASSWORD ${c.escapeLiteral(FIRST_SECRET)}`));
    const connector = await call(admin, 'POST', '/api/connectors', { name: 'pg-api', type: 'postgresql', config: target.config() });
    expect(connector.status).toBe(201);
  });

  afterAll(async () => {
    await orm?.close(true);
    await gatehouse?.stop();
    await temporal?.close();
    await target?.drop();
    await db?.drop();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of many shapes, checked by the assertions
  async function call(who: PersonCredentials, method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; text: string; json: any }> {
    const res = await fetch(`${gatehouse.url}${path}`, {
      method,
      headers: { ...who.headers(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  const schedule = () => temporal.client.schedule.getHandle(scheduleIdOf(credentialId));

  it('registers a service account credential with a max-age policy, and a Temporal Schedule follows that policy', async () => {
    const res = await call(admin, 'POST', '/api/credentials', { name: 'api-reports', connector: 'pg-api', account: { name: ROLE() }, secret: FIRST_SECRET, maxAgeDays: 30, consumers: [{ kind: 'application', name: 'reports' }] });
    expect(res.status).toBe(201);
    credentialId = res.json.id;
    expect(res.json).toMatchObject({ name: 'api-reports', source: 'managed', maxAgeDays: 30, rotation: { rotatable: true, scheduleId: scheduleIdOf(credentialId) } });
    expect(res.text).not.toContain(FIRST_SECRET);

    const every = async () => ((await schedule().describe()).spec.intervals?.[0]?.every as number | undefined);
    expect(await every()).toBe(checkEveryMinutes(30) * 60_000);
    expect((await call(admin, 'PATCH', `/api/credentials/${credentialId}`, { maxAgeDays: 3 })).status).toBe(200);
    expect(await every()).toBe(checkEveryMinutes(3) * 60_000);
    // No policy, no schedule; the policy back, the schedule back.
    expect((await call(admin, 'PATCH', `/api/credentials/${credentialId}`, { maxAgeDays: null })).json.rotation.scheduleId).toBeNull();
    await expect(schedule().describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect((await call(admin, 'PATCH', `/api/credentials/${credentialId}`, { maxAgeDays: 30 })).status).toBe(200);
    // A schedule lost behind Gatehouse's back is made again by the reconciler.
    await schedule().delete();
    await reconcileRotationSchedules({ orm, client: temporal.client, schedules: createTemporalRotations({ client: temporal.client, taskQueue: gatehouse.runtime.config.TEMPORAL_TASK_QUEUE }), taskQueue: gatehouse.runtime.config.TEMPORAL_TASK_QUEUE });
    expect(await every()).toBe(checkEveryMinutes(30) * 60_000);
  });

  it('lists the inventory with filters, and refuses a bad query parameter naming it', async () => {
    const all = await call(auditor, 'GET', '/api/inventory/credentials');
    expect(all.status).toBe(200);
    expect(all.json.items.map((i: { name: string }) => i.name)).toEqual(expect.arrayContaining(['api-reports', 'pg-api-login']));
    const filtered = await call(auditor, 'GET', '/api/inventory/credentials?connector=pg-api&kind=service-account&source=managed');
    expect(filtered.json.items.map((i: { name: string }) => i.name)).toEqual(['api-reports']);
    // Nobody owns it yet: a finding.
    const unowned = await call(auditor, 'GET', '/api/inventory/credentials?finding=no-owner&q=api-reports');
    expect(unowned.json.items).toEqual([expect.objectContaining({ name: 'api-reports', ownerActive: null, findings: expect.arrayContaining(['no-owner']) })]);
    expect((await call(auditor, 'GET', '/api/inventory/credentials?finding=privileged&q=api-reports')).json.items).toEqual([]);

    for (const [query, field] of [
      ['finding=stale', 'finding'],
      ['kind=robot', 'kind'],
      ['owner=alice', 'owner'],
      ['includeHumans=yes', 'includeHumans'],
      ['colour=red', 'colour'],
    ] as const) {
      const res = await call(auditor, 'GET', `/api/inventory/credentials?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json.error, query).toMatchObject({ code: 'invalid_request', field: expect.stringContaining(field) });
    }
  });

  it('exports the inventory as CSV with a header row and as JSON, each as a download with a file name', async () => {
    const csv = await call(auditor, 'GET', '/api/inventory/credentials/export?format=csv&connector=pg-api');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="?credential-inventory-\d{4}-\d{2}-\d{2}\.csv"?$/);
    const rows = parseCsv(csv.text) as string[][];
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.slice(1).map((r) => r[3]).sort()).toEqual(['api-reports', 'pg-api-login']);

    const json = await call(auditor, 'GET', '/api/inventory/credentials/export?format=json&connector=pg-api&kind=service-account');
    expect(json.headers.get('content-disposition')).toMatch(/^attachment; filename="?credential-inventory-\d{4}-\d{2}-\d{2}\.json"?$/);
    expect(json.json.items.map((i: { name: string }) => i.name)).toEqual(['api-reports']);
    expect((await call(auditor, 'GET', '/api/inventory/credentials/export?format=xml')).json.error).toMatchObject({ field: 'format' });
  });

  it('rotates on demand: the worker runs the rotation, the target and Vault take the new password together', async () => {
    const res = await call(admin, 'POST', `/api/credentials/${credentialId}/rotate`, { justification: 'test on demand' });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ workflowId: `rotation:${credentialId}`, started: true });
    const outcome = (await temporal.client.workflow.getHandle(res.json.workflowId).result()) as RotationOutcome;
    expect(outcome).toMatchObject({ status: 'succeeded', version: 2 });
    rotationWorkflows.push(res.json.workflowId);
    const now = (await vault.store.readKv(`gatehouse/credentials/${credentialId}`))!;
    rotatedSecrets.push(now.data.password!);
    expect(await canLogInToPostgres(target, ROLE(), now.data.password!)).toBe(true);
    expect(await canLogInToPostgres(target, ROLE(), FIRST_SECRET)).toBe(false);
    const item = (await call(auditor, 'GET', `/api/credentials/${credentialId}`)).json;
    expect(item).toMatchObject({ vault: { version: 2 }, rotation: { inProgress: null, last: { status: 'succeeded', reason: 'on-demand' } } });
  });

  it('rotates from its schedule once the credential is older than nine tenths of its max age', async () => {
    // Not due yet: the scheduled run looks and leaves it.
    const run = async () => {
      const before = (await schedule().describe()).info.numActionsTaken;
      await schedule().trigger();
      let workflowId = '';
      await expect
        .poll(async () => {
          const info = (await schedule().describe()).info;
          workflowId = info.recentActions.at(-1)?.action.workflow.workflowId ?? '';
          return info.numActionsTaken;
        }, { timeout: 20_000, interval: 200 })
        .toBeGreaterThan(before);
      return { workflowId, outcome: (await temporal.client.workflow.getHandle(workflowId).result()) as RotationOutcome };
    };
    const early = await run();
    expect(early.outcome).toMatchObject({ status: 'skipped', why: expect.stringContaining('not due until') });
    // Twenty-eight days later (as far as the secret's age goes): due, and rotated.
    await withPg(db.superuserUrl, (c) => c.query(`UPDATE credential SET secret_updated_at = now() - interval '28 days' WHERE id = $1`, [credentialId]));
    const due = await run();
    expect(due.workflowId).toMatch(new RegExp(`^rotation:${credentialId}:scheduled`));
    expect(due.outcome).toMatchObject({ status: 'succeeded', version: 3 });
    rotationWorkflows.push(due.workflowId);
    const now = (await vault.store.readKv(`gatehouse/credentials/${credentialId}`))!;
    rotatedSecrets.push(now.data.password!);
    expect(await canLogInToPostgres(target, ROLE(), now.data.password!)).toBe(true);
    expect((await call(auditor, 'GET', `/api/credentials/${credentialId}`)).json.rotation.last).toMatchObject({ status: 'succeeded', reason: 'schedule' });
  });

  it('leaves no rotated secret (nor the first one) in PostgreSQL, the ledger, the server logs or Temporal history', async () => {
    const secrets = [FIRST_SECRET, ...rotatedSecrets];
    expect(secrets).toHaveLength(3);
    // Every table of Gatehouse's database, each row as text.
    const dump = await withPg(db.superuserUrl, async (c) => {
      const tables = (await c.query<{ s: string; t: string }>(`SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)).rows;
      expect(tables.map((t) => t.t)).toEqual(expect.arrayContaining(['ledger_entry', 'credential', 'connector_instance', 'credential_rotation_step', 'discovered_account']));
      const parts: string[] = [];
      for (const { s, t } of tables) parts.push(...(await c.query<{ r: string }>(`SELECT x::text AS r FROM ${c.escapeIdentifier(s)}.${c.escapeIdentifier(t)} x`)).rows.map((r) => r.r));
      return parts.join('\n');
    });
    expect(dump).toContain(credentialId); // really searched
    // The ledger as the API serves it.
    const ledger = (await call(auditor, 'GET', '/api/audit/entries?limit=500')).text;
    expect(ledger).toContain('secret.rotated');
    const log = logs.join('');
    expect(log).toContain(`/api/credentials/${credentialId}/rotate`);
    let history = '';
    for (const id of rotationWorkflows) history += await historyText(temporal.client.workflow.getHandle(id));
    expect(history).toContain('rotationStore');
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(ledger).not.toContain(secret);
      expect(log).not.toContain(secret);
      expect(history).not.toContain(secret);
    }
  });
});
