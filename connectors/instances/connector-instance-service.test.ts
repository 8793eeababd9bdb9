// Connector instances against real PostgreSQL and Vault: secrets go to Vault with check-and-set and
// nowhere else, PostgreSQL keeps the path and version, bad input changes nothing, and the factory
// builds a working connector from what is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../../shared/errors.js';
import { VaultSecretStore } from '../../shared/secrets/vault-store.js';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.js';
import { createTestDatabase, createTestVault, openOrm, withPg, type MikroORM, type TestDatabase, type TestVault } from '../../test/helpers/services.js';
import { createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { createBuiltinConnectorRegistry } from '../builtin-connectors.js';
import { requireCapability } from '../spi/connector.js';
import { createConnectorFactory } from './connector-factory.js';
import { createConnectorInstanceService, type ConnectorInstanceService } from './connector-instance-service.js';
import { createLedger, type Ledger } from '../../audit/index.js';
import { adminCaller, personCaller } from '../../test/helpers/service-callers.js';

describe('connector instances', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let orm: MikroORM;
  let target: PostgresTarget;
  let service: ConnectorInstanceService;
  let ledger: Ledger;
  const registry = createBuiltinConnectorRegistry();
  const admin = adminCaller();

  beforeAll(async () => {
    [db, vault, target] = await Promise.all([createTestDatabase(), createTestVault(), createPostgresTarget()]);
    orm = await openOrm(db.appUrl, 4);
    ledger = createLedger({ orm, signer: vault.store });
    service = createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger });
  });
  afterAll(async () => {
    await orm?.close(true);
    await target?.drop();
    await db?.drop();
  });

  /** The connector secret paths Vault holds (listed with the root token, behind Gatehouse's back). */
  const vaultPaths = async (): Promise<string[]> => {
    const res = await fetch(`${vault.address}/v1/${vault.kvMount}/metadata/gatehouse/connectors?list=true`, { headers: { 'X-Vault-Token': vault.rootToken } });
    if (res.status === 404) return [];
    return ((await res.json()) as { data: { keys: string[] } }).data.keys;
  };

  /** Every text in Gatehouse's database, to search for a secret value. */
  const databaseText = () =>
    withPg(db.superuserUrl, async (c) => {
      const rows = await c.query('SELECT row_to_json(t)::text AS t FROM connector_instance t UNION ALL SELECT row_to_json(o)::text FROM connector_operation o');
      return rows.rows.map((r: { t: string }) => r.t).join('\n');
    });

  it('keeps secret fields in Vault, settings and the version in PostgreSQL, and shows only which secrets are set', async () => {
    const view = await service.create({ name: 'pg-main', type: 'postgresql', description: 'the target', config: target.config() }, admin);
    expect(view).toMatchObject({ name: 'pg-main', type: 'postgresql', secretVersion: 1, secrets: { password: { set: true } } });
    expect(JSON.stringify(view)).not.toContain(target.admin.password);
    expect(view.config).not.toHaveProperty('password');

    const stored = await vault.store.readKv(`gatehouse/connectors/${view.id}`);
    expect(stored).toMatchObject({ version: 1, data: { password: target.admin.password } });
    const text = await databaseText();
    expect(text).toContain(view.id);
    expect(text).not.toContain(target.admin.password);
    const row = await withPg(db.superuserUrl, (c) => c.query('SELECT secret_path, secret_version, secret_fields FROM connector_instance WHERE id = $1', [view.id]));
    expect(row.rows[0]).toEqual({ secret_path: `gatehouse/connectors/${view.id}`, secret_version: 1, secret_fields: ['password'] });
  });

  it('builds a working connector from the stored settings and the recorded secret version', async () => {
    const view = await service.get('pg-main', admin);
    const factory = createConnectorFactory({ orm, secrets: vault.store, registry });
    const probe = await factory.withConnector(view.id, (c) => requireCapability(c, 'test').test());
    expect(probe.details.user).toBe(target.admin.user);
    // A newer version written behind Gatehouse's back is not used: the instance records version 1.
    await vault.store.writeKv(`gatehouse/connectors/${view.id}`, { password: 'not-the-password' }, { cas: 1 });
    const again = await factory.withConnector(view.id, (c) => requireCapability(c, 'test').test());
    expect(again.details.user).toBe(target.admin.user);
  });

  it('changes settings without touching Vault, and refuses a bad setting naming it', async () => {
    const before = await service.get('pg-main', admin);
    const updated = await service.update('pg-main', { config: { statementTimeoutMs: 5000 }, description: 'changed' }, admin);
    expect(updated).toMatchObject({ description: 'changed', secretVersion: before.secretVersion, config: { statementTimeoutMs: 5000 }, revision: before.revision + 1 });
    await expect(service.update('pg-main', { config: { port: 'five' } }, admin)).rejects.toMatchObject({ status: 400, field: 'config.port' });
    await expect(service.update('pg-main', { config: { colour: 'red' } }, admin)).rejects.toMatchObject({ status: 400, field: 'config.colour' });
    await expect(service.update('pg-main', { config: { host: null } }, admin)).rejects.toMatchObject({ status: 400, field: 'config.host' });
    expect((await service.get('pg-main', admin)).revision).toBe(updated.revision);
  });

  it('refuses to move the endpoint while the stored secret stays: the secret must be given again, and nothing changes', async () => {
    const before = await service.get('pg-main', admin);
    const entries = (await ledger.head()).size;
    const vaultVersion = async () => (await vault.store.readKvMetadata(`gatehouse/connectors/${before.id}`))!.currentVersion;
    const versionBefore = await vaultVersion();
    for (const [field, value] of [['host', 'attacker.example.com'], ['port', 5433], ['ssl', 'require']] as const) {
      const refused = await service.update('pg-main', { config: { [field]: value } }, admin).catch((e: GatehouseError) => e);
      expect(refused).toMatchObject({ status: 400, field: 'config.password' });
      expect((refused as GatehouseError).message).toMatch(new RegExp(`must be given again: ${field} changes where the connector's secrets are sent`));
    }
    const after = await service.get('pg-main', admin);
    expect(after).toEqual(before);
    expect((await ledger.head()).size).toBe(entries);
    expect(await vaultVersion()).toBe(versionBefore);
    // With the secret given again, the move is the admin's to make.
    const moved = await service.update('pg-main', { config: { host: '127.0.0.2', password: 'for-the-new-host' } }, admin);
    expect(moved).toMatchObject({ config: { host: '127.0.0.2' }, secretVersion: versionBefore + 1 });
    await service.update('pg-main', { config: { host: before.config.host, password: target.admin.password } }, admin);
  });

  it('replaces secrets with check-and-set on the version Vault holds, and records the new version', async () => {
    const current = (await vault.store.readKvMetadata(`gatehouse/connectors/${(await service.get('pg-main', admin)).id}`))!.currentVersion;
    const updated = await service.update('pg-main', { config: { password: target.admin.password } }, admin);
    expect(updated.secretVersion).toBe(current + 1);
    const factory = createConnectorFactory({ orm, secrets: vault.store, registry });
    expect((await factory.withConnector(updated.id, (c) => requireCapability(c, 'test').test())).details.user).toBe(target.admin.user);
  });

  it('refuses a stale revision with 409 and changes nothing', async () => {
    const view = await service.get('pg-main', admin);
    await expect(service.update('pg-main', { expectedRevision: view.revision - 1, description: 'stale' }, admin)).rejects.toMatchObject({ status: 409, field: 'expectedRevision' });
    expect((await service.get('pg-main', admin)).description).toBe(view.description);
  });

  it('refuses an invalid configuration, naming the field, and stores nothing anywhere', async () => {
    const bad = { ...target.config(), port: 70000 };
    await expect(service.create({ name: 'pg-bad', type: 'postgresql', config: bad }, admin)).rejects.toMatchObject({ status: 400, field: 'config.port' });
    const { password: _omit, ...noPassword } = target.config();
    await expect(service.create({ name: 'pg-bad', type: 'postgresql', config: noPassword }, admin)).rejects.toMatchObject({ status: 400, field: 'config.password' });
    await expect(service.create({ name: 'pg-bad', type: 'mainframe', config: {} }, admin)).rejects.toMatchObject({ status: 400, field: 'type' });
    expect((await service.list(admin)).map((c) => c.name)).toEqual(['pg-main']);
  });

  it('refuses a taken name with 409 and leaves no secret behind in Vault', async () => {
    await expect(service.create({ name: 'pg-main', type: 'postgresql', config: target.config() }, admin)).rejects.toMatchObject({ status: 409, field: 'name' });
    const listed = await withPg(db.superuserUrl, (c) => c.query('SELECT count(*)::int AS n FROM connector_instance'));
    expect(listed.rows[0].n).toBe(1);
    expect(await vaultPaths()).toHaveLength(1);
  });

  it('refuses a change of some secrets while others stay unsaid (Gatehouse never reads them back)', async () => {
    const http = await service.create({
      name: 'hooks',
      type: 'http',
      config: { baseUrl: 'https://hooks.example.com/api', auth: 'basic', username: 'svc', password: 'first-password', accounts: { search: { method: 'GET', path: '"/u"', items: 'items' }, map: '{"uid": id, "name": name}' } },
    }, admin);
    expect(http.secrets).toEqual({ token: { set: false }, password: { set: true } });
    await expect(service.update('hooks', { config: { token: 'a-token' } }, admin)).rejects.toMatchObject({ status: 400, field: 'config.password' });
    const switched = await service.update('hooks', { config: { auth: 'bearer', token: 'a-token', password: null, username: null } }, admin);
    expect(switched.secrets).toEqual({ token: { set: true }, password: { set: false } });
    expect(await vault.store.readKv(`gatehouse/connectors/${http.id}`)).toMatchObject({ data: { token: 'a-token' } });
    expect((await vault.store.readKv(`gatehouse/connectors/${http.id}`))!.data).not.toHaveProperty('password');
    // A settings change is checked with the stored secrets standing in: bearer without its token is refused.
    await expect(service.update('hooks', { config: { token: null } }, admin)).rejects.toMatchObject({ status: 400, field: 'config.token' });
    // A broken mapping is refused offline, naming the expression.
    await expect(service.update('hooks', { config: { accounts: { search: { method: 'GET', path: '"/u"', items: 'items[' }, map: '{}' } } }, admin)).rejects.toMatchObject({
      field: 'config.accounts.search.items',
    });
  });

  it('answers 503 and stores nothing when Vault cannot be reached', async () => {
    // A real Vault client whose connection runs through a proxy that is then shut: Vault is gone.
    const proxy = await startTcpProxy(new URL(vault.address));
    const store = await VaultSecretStore.connect({ address: proxy.url, token: vault.token, kvMount: vault.kvMount, transitMount: vault.transitMount, timeoutMs: 2000 });
    await proxy.stop();
    const offline = createConnectorInstanceService({ orm, secrets: store, registry, ledger });
    const err = await offline.create({ name: 'pg-offline', type: 'postgresql', config: target.config() }, admin).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatehouseError);
    expect(err).toMatchObject({ status: 503 });
    expect((await service.list(admin)).map((c) => c.name)).not.toContain('pg-offline');
    expect(await vaultPaths()).toHaveLength((await service.list(admin)).length);
  });

  it('records every configuration change in the ledger, never a secret, and keeps the login credential in step', async () => {
    const created = await service.create({ name: 'pg-ledger', type: 'postgresql', config: target.config() }, admin);
    await service.update('pg-ledger', { config: { statementTimeoutMs: 7000 } }, admin);
    await service.update('pg-ledger', { config: { password: target.admin.password } }, admin);
    const login = await withPg(db.superuserUrl, (c) => c.query('SELECT id, name, kind, secret_field, account_name FROM credential WHERE connector_id = $1', [created.id]));
    expect(login.rows).toEqual([{ id: expect.any(String), name: 'pg-ledger-login', kind: 'connector-login', secret_field: 'password', account_name: target.admin.user }]);
    await service.remove('pg-ledger', admin);
    expect((await withPg(db.superuserUrl, (c) => c.query('SELECT 1 FROM credential WHERE connector_id = $1', [created.id]))).rowCount).toBe(0);

    const page = await ledger.query({ subjectId: created.id, order: 'oldest' });
    expect(page.entries.map((e) => e.action)).toEqual(['connector.created', 'connector.updated', 'connector.updated', 'connector.deleted']);
    expect(page.entries.every((e) => e.actor.id === admin.id)).toBe(true);
    expect(page.entries[1]!.details).toMatchObject({ changedSettings: ['statementTimeoutMs'], secretsReplaced: false });
    expect(page.entries[2]!.details).toMatchObject({ changedSettings: [], secretsReplaced: true, secretPath: `gatehouse/connectors/${created.id}`, secretVersion: 2 });
    const credentialEntries = await ledger.query({ subjectId: login.rows[0].id as string, order: 'oldest' });
    expect(credentialEntries.entries.map((e) => e.action)).toEqual(['credential.created', 'credential.updated', 'credential.deleted']);
    const all = await withPg(db.superuserUrl, (c) => c.query('SELECT string_agg(entry::text, chr(10)) AS t FROM ledger_entry'));
    expect(all.rows[0].t).toContain(created.id);
    expect(all.rows[0].t).not.toContain(target.admin.password);
  });

  it('refuses a caller without the permission, changing nothing and recording nothing', async () => {
    const before = (await ledger.head()).size;
    const auditor = personCaller(['auditor']);
    await expect(service.create({ name: 'pg-refused', type: 'postgresql', config: target.config() }, auditor)).rejects.toThrow(/Cannot execute "create" on "Connector"/);
    await expect(service.update('pg-main', { description: 'nope' }, auditor)).rejects.toThrow(/Cannot execute "update" on "Connector"/);
    await expect(service.list(auditor)).rejects.toThrow(/Cannot execute "read" on "Connector"/);
    expect((await service.get('pg-main', admin)).description).not.toBe('nope');
    expect((await ledger.head()).size).toBe(before);
    expect(await vaultPaths()).toHaveLength((await service.list(admin)).length);
  });

  it('deletes an instance and destroys its secrets in Vault', async () => {
    const view = await service.create({ name: 'pg-gone', type: 'postgresql', config: target.config() }, admin);
    await service.remove('pg-gone', admin);
    await expect(service.get('pg-gone', admin)).rejects.toMatchObject({ status: 404 });
    expect(await vault.store.readKvMetadata(`gatehouse/connectors/${view.id}`)).toBeUndefined();
  });
});
