// The connector API through the real HTTP app (createApp), PostgreSQL, Vault, and a Temporal worker
// that runs the probe. The app here signs every request in as an admin (`asAdmin`), so the handlers
// can be exercised without an OpenID Provider; who may call each route is the authorization
// matrix's test, against the real sign-in.
import http from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { createApp } from '../../server/app.js';
import { createLogger } from '../../server/logger.js';
import type { Authorize } from '../../server/http/mount-routes.js';
import { createTemporalProbe } from '../../server/connector-module.js';
import { createConnectorTestActivities } from '../../workflows/connector-test/activities.js';
import {
  connectTestTemporal,
  createTestDatabase,
  createTestVault,
  createTestWorker,
  openOrm,
  withPg,
  type MikroORM,
  type TestDatabase,
  type TestTemporal,
  type TestVault,
} from '../../test/helpers/services.js';
import { historyText } from '../../test/helpers/temporal-history.js';
import { createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { createBuiltinConnectorRegistry } from '../builtin-connectors.js';
import { createConnectorFactory } from './connector-factory.js';
import { createConnectorInstanceService } from './connector-instance-service.js';
import { connectorRoutes } from './connector-routes.js';
import { createLedger, type Ledger } from '../../audit/index.js';
import { adminCaller } from '../../test/helpers/service-callers.js';

/** Puts an admin on every request, as sign-in would for an admin's session. */
const admin = adminCaller();
const asAdmin: Authorize = (req) => {
  req.principal = { kind: 'human', id: admin.id, roles: ['admin'] };
  req.ability = admin.ability;
};

describe('connector API', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let orm: MikroORM;
  let worker: Worker;
  let running: Promise<void>;
  let server: http.Server;
  let base: string;
  const logLines: string[] = [];
  const registry = createBuiltinConnectorRegistry();
  let ledger: Ledger;

  beforeAll(async () => {
    [db, vault, temporal, target] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
    orm = await openOrm(db.appUrl, 4);
    const factory = createConnectorFactory({ orm, secrets: vault.store, registry });
    worker = await createTestWorker(temporal, createConnectorTestActivities({ factory }));
    running = worker.run();
    ledger = createLedger({ orm, signer: vault.store });
    const service = createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger });
    const log = createLogger({
      level: 'trace',
      destination: new Writable({
        write(chunk: Buffer, _enc, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    });
    // No policy is published here, so no admin change needs approval: governed calls go on.
    const app = createApp({ log, routes: connectorRoutes({ service, probe: createTemporalProbe({ client: temporal.client, taskQueue: temporal.taskQueue }), ledger }), authorize: asAdmin, govern: async () => ({ proceed: true }) });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server?.close();
    worker?.shutdown();
    await running;
    await temporal?.close();
    await orm?.close(true);
    await target?.drop();
    await db?.drop();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  it('lists the connector types with their schemas, secret fields marked', async () => {
    const res = await call('GET', '/api/connector-types');
    expect(res.status).toBe(200);
    const types = res.body!.types as { type: string; secretFields: string[]; configSchema: { properties: Record<string, { secret?: boolean; writeOnly?: boolean }> } }[];
    expect(types.map((t) => t.type).sort()).toEqual(['file', 'http', 'ldap', 'postgresql', 'scim']);
    const pg = types.find((t) => t.type === 'postgresql')!;
    expect(pg.secretFields).toEqual(['password']);
    expect(pg.configSchema.properties.password).toMatchObject({ secret: true, writeOnly: true });
    expect(pg.configSchema.properties.host!.secret).toBeUndefined();
  });

  it('validates offline, naming the failing field', async () => {
    expect((await call('POST', '/api/connector-types/postgresql/validate', { config: target.config() })).body).toMatchObject({ valid: true, type: 'postgresql' });
    const bad = await call('POST', '/api/connector-types/postgresql/validate', { config: { ...target.config(), ssl: 'sometimes' } });
    expect(bad.status).toBe(400);
    expect(bad.body!.error).toMatchObject({ code: 'invalid_request', field: 'config.ssl' });
    expect((await call('POST', '/api/connector-types/nope/validate', { config: {} })).body!.error).toMatchObject({ field: 'type' });
  });

  it('creates an instance: 201 with the secret marked set, never its value, in the body or the logs', async () => {
    const res = await call('POST', '/api/connectors', { name: 'pg-api', type: 'postgresql', config: target.config() });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/connectors/${res.body!.id as string}`);
    expect(res.body).toMatchObject({ name: 'pg-api', secrets: { password: { set: true } }, secretVersion: 1 });
    expect(res.text).not.toContain(target.admin.password);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('')).not.toContain(target.admin.password);
  });

  it('refuses bad input with the field named and changes nothing', async () => {
    const missing = await call('POST', '/api/connectors', { name: 'pg-bad', type: 'postgresql', config: { host: 'db' } });
    expect(missing.status).toBe(400);
    expect(missing.body!.error).toMatchObject({ field: 'config.database' });
    const badName = await call('POST', '/api/connectors', { name: 'PG Bad', type: 'postgresql', config: target.config() });
    expect(badName.body!.error).toMatchObject({ field: 'name' });
    expect((await call('POST', '/api/connectors', { name: 'pg-api', type: 'postgresql', config: target.config() })).status).toBe(409);
    expect(((await call('GET', '/api/connectors')).body!.connectors as { name: string }[]).map((c) => c.name)).toEqual(['pg-api']);
  });

  it('shows an instance by name or id, and 404 for neither', async () => {
    const byName = await call('GET', '/api/connectors/pg-api');
    expect(byName.status).toBe(200);
    expect((await call('GET', `/api/connectors/${byName.body!.id as string}`)).body).toMatchObject({ name: 'pg-api' });
    expect((await call('GET', '/api/connectors/nothing-here')).status).toBe(404);
  });

  it('probes the target from a worker, and the password never enters Temporal history', async () => {
    const res = await call('POST', '/api/connectors/pg-api/test');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ connector: 'pg-api', outcome: { ok: true, probe: { system: 'PostgreSQL', details: { user: target.admin.user } } } });
    const text = await historyText(temporal.client.workflow.getHandle(res.body!.workflowId as string));
    expect(text).toContain(target.admin.user); // the history is really searched
    const recorded = await ledger.query({ action: 'connector.tested', workflowId: res.body!.workflowId as string });
    expect(recorded.entries).toEqual([expect.objectContaining({ actor: expect.objectContaining({ id: admin.id }), details: { ok: true, system: 'PostgreSQL' } })]);
    expect(text).not.toContain(target.admin.password);
  });

  it('changes the secret through PATCH, and the probe then reports the named error', async () => {
    const patched = await call('PATCH', '/api/connectors/pg-api', { config: { password: 'a-wrong-password' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ secretVersion: 2 });
    expect(patched.text).not.toContain('a-wrong-password');
    const probe = await call('POST', '/api/connectors/pg-api/test');
    expect(probe.body!.outcome).toMatchObject({ ok: false, error: { code: 'InvalidCredential' } });
    const text = await historyText(temporal.client.workflow.getHandle(probe.body!.workflowId as string));
    expect(text).not.toContain('a-wrong-password');
    const stored = await withPg(db.superuserUrl, (c) => c.query('SELECT row_to_json(t)::text AS t FROM connector_instance t'));
    expect(JSON.stringify(stored.rows)).not.toContain('a-wrong-password');
  });

  it('deletes an instance: 204, then 404', async () => {
    expect((await call('DELETE', '/api/connectors/pg-api')).status).toBe(204);
    expect((await call('GET', '/api/connectors/pg-api')).status).toBe(404);
  });

  it('declares read:Connector on every read and manage:Connector on every change', () => {
    const routes = connectorRoutes({ service: createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger }), probe: async () => ({ workflowId: '', outcome: { ok: true, probe: { system: '', details: {} } } }), ledger });
    for (const r of routes) {
      const changes = r.method !== 'get' && !r.path.endsWith('/validate');
      expect(r.access, `${r.method} ${r.path}`).toEqual({ action: changes ? 'manage' : 'read', subject: 'Connector' });
    }
  });
});
