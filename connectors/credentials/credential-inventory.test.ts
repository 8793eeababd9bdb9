// Managed credentials and the NHI inventory against real PostgreSQL (Gatehouse's database with the
// SCIM directories the owners live in, and a target cluster), Vault, Temporal and the ledger:
// registering with the secret going to Vault only, owners checked against the directories, what
// each role sees and may rotate (nhi-owners: only their own), every finding caused by the facts it
// names, discovery through a connector and through Vault's metadata, the exports, and a leaver's
// non-human identities handed to their manager or flagged orphaned.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseCsv } from 'csv-parse/sync';
import { createLedger, type Ledger } from '../../audit/index.js';
import { createUserService } from '../../server/auth/user-service.js';
import { createOwnerDirectory } from '../../server/owner-directory.js';
import { createTemporalRotations, scheduleIdOf } from '../../server/rotation-scheduling.js';
import { createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { startScimTestServer, type ScimTestServer, type TestDirectory } from '../../test/helpers/scim.js';
import { adminCaller, personCaller } from '../../test/helpers/service-callers.js';
import { connectTestTemporal, createTestVault, withPg, type TestTemporal, type TestVault } from '../../test/helpers/services.js';
import { createBuiltinConnectorRegistry } from '../builtin-connectors.js';
import { createConnectorFactory } from '../instances/connector-factory.js';
import { createConnectorInstanceService, type ConnectorInstanceService } from '../instances/connector-instance-service.js';
import { createCredentialService, type CredentialService } from './credential-service.js';
import { createInventoryScanner, type InventoryScanner } from './inventory-scan.js';
import { createInventoryService, type InventoryService } from './inventory-service.js';
import { inventoryQuery, type InventoryItem } from './inventory-types.js';

describe('credentials and the NHI inventory', () => {
  let scim: ScimTestServer;
  let idp: TestDirectory;
  let vault: TestVault;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let ledger: Ledger;
  let connectors: ConnectorInstanceService;
  let credentials: CredentialService;
  let inventory: InventoryService;
  let scanner: InventoryScanner;
  let pgConnectorId: string;
  const registry = createBuiltinConnectorRegistry();
  const admin = adminCaller();
  const auditor = personCaller(['auditor']);
  const people: Record<'alice' | 'bob' | 'carol' | 'manager' | 'dave', { id: string; ref: { directoryId: string; userId: string } }> = {} as never;
  let aliceOwner: ReturnType<typeof personCaller>;
  let bobOwner: ReturnType<typeof personCaller>;
  const q = (raw: Record<string, string> = {}) => inventoryQuery.parse(raw);
  const scanActor = { kind: 'workflow' as const, id: 'inventory-scan:test' };

  beforeAll(async () => {
    [scim, vault, temporal, target] = await Promise.all([startScimTestServer(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
    const orm = scim.orm;
    idp = await scim.directory('okta');
    const user = async (userName: string, extra: Record<string, unknown> = {}) =>
      (await scim.request<{ id: string }>(idp.token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'], userName, emails: [{ value: userName, type: 'work', primary: true }], ...extra })).body.id;
    const managerId = await user('mona.manager@corp.example');
    for (const [key, name, extra] of [
      ['manager', 'mona.manager@corp.example', null],
      ['alice', 'alice@corp.example', { 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { manager: { value: managerId } } }],
      ['bob', 'bob@corp.example', {}],
      ['carol', 'carol@corp.example', {}],
      ['dave', 'dave@corp.example', {}],
    ] as const) {
      const id = key === 'manager' ? managerId : await user(name, extra ?? {});
      people[key] = { id, ref: { directoryId: idp.id, userId: id } };
    }
    // Alice and Bob sign in to Gatehouse as nhi-owners, with the addresses the directory knows them by.
    const users = createUserService({ orm, events: { record: async () => undefined } });
    const signIn = async (email: string) => (await users.recordSignIn({ issuer: 'https://idp.test.example', subject: randomUUID(), email, roles: ['nhi-owner'] })).id;
    aliceOwner = personCaller(['nhi-owner'], await signIn('Alice@Corp.Example'));
    bobOwner = personCaller(['nhi-owner'], await signIn('bob@corp.example'));

    ledger = createLedger({ orm, signer: vault.store });
    const owners = createOwnerDirectory({ orm });
    connectors = createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger });
    credentials = createCredentialService({ orm, secrets: vault.store, ledger, owners, rotations: createTemporalRotations({ client: temporal.client, taskQueue: temporal.taskQueue }) });
    inventory = createInventoryService({ orm, registry, owners, unusedDays: 90, defaultMaxAgeDays: 90, scheduleIdOf });
    scanner = createInventoryScanner({ orm, secrets: vault.store, factory: createConnectorFactory({ orm, secrets: vault.store, registry }), registry, owners, ledger });
    pgConnectorId = (await connectors.create({ name: 'pg-inventory', type: 'postgresql', config: { ...target.config(), ignoredRoles: [] } }, admin)).id;
    // On the target: two service accounts, one privileged, and a person's own account.
    await withPg(target.superuserUrl, async (c) => {
      await c.query(`CREATE ROLE ${c.escapeIdentifier(`svc_reports_${target.tag}`)} LOGIN PASSWORD 'Reports-Passw0rd'`);
      await c.query(`CREATE ROLE ${c.escapeIdentifier(`svc_ops_${target.tag}`)} LOGIN CREATEROLE PASSWORD 'Ops-Passw0rd'`);
      await c.query(`CREATE ROLE ${c.escapeIdentifier('carol@corp.example')} LOGIN`);
    });
  });

  afterAll(async () => {
    await withPg(target.superuserUrl, (c) => c.query(`DROP ROLE IF EXISTS ${c.escapeIdentifier('carol@corp.example')}`)).catch(() => undefined);
    await temporal?.close();
    await scim?.close();
    await target?.drop();
  });

  const register = (name: string, extra: Record<string, unknown> = {}) =>
    credentials.register({ name, connector: 'pg-inventory', account: { name: `svc_reports_${target.tag}` }, secret: 'Reports-Passw0rd', owners: [people.alice.ref], ...extra }, admin);
  const names = (items: InventoryItem[]) => items.map((i) => i.name).sort();
  const sql = <R = Record<string, unknown>>(text: string, values: unknown[] = []) => scim.sql<R>(text, values);

  it('registers a service account credential: its value only in Vault, the rest in PostgreSQL, the act in the ledger', async () => {
    const { id } = await register('reports-db', { maxAgeDays: 30, consumers: [{ kind: 'application', name: 'reporting' }] });
    expect(await vault.store.readKv(`gatehouse/credentials/${id}`)).toMatchObject({ version: 1, data: { password: 'Reports-Passw0rd' } });
    const dump = JSON.stringify(await sql('SELECT row_to_json(c) FROM credential c'));
    expect(dump).toContain(id);
    expect(dump).not.toContain('Reports-Passw0rd');
    const entry = (await ledger.query({ subjectId: id })).entries[0]!;
    expect(entry).toMatchObject({ action: 'credential.created', actor: { id: admin.id }, details: { secretPath: `gatehouse/credentials/${id}`, secretVersion: 1, maxAgeDays: 30 } });
    expect(JSON.stringify(entry)).not.toContain('Reports-Passw0rd');
    expect(await sql('SELECT from_owner, to_owner, reason FROM credential_owner_change WHERE credential_id = $1', [id])).toEqual([{ from_owner: null, to_owner: people.alice.ref, reason: 'assigned' }]);
  });

  it('refuses bad input naming the field, and stores nothing', async () => {
    const before = (await sql<{ n: number }>('SELECT count(*)::int AS n FROM credential'))[0]!.n;
    await expect(register('orphan-owner', { owners: [{ directoryId: idp.id, userId: randomUUID() }] })).rejects.toMatchObject({ status: 400, field: 'owners[0]' });
    await expect(register('db-login')).rejects.toMatchObject({ status: 400, field: 'name' });
    await expect(register('no-connector', { connector: 'nope' })).rejects.toMatchObject({ status: 400, field: 'connector' });
    await expect(register('bad-age', { maxAgeDays: 0 })).rejects.toMatchObject({ status: 400, field: 'maxAgeDays' });
    await expect(register('reports-db')).rejects.toMatchObject({ status: 409 });
    await expect(credentials.register({ name: 'by-auditor', connector: 'pg-inventory', account: { name: 'x' }, secret: 's' }, auditor)).rejects.toThrow(/Cannot execute "create" on "Credential"/);
    expect((await sql<{ n: number }>('SELECT count(*)::int AS n FROM credential'))[0]!.n).toBe(before);
    expect((await vault.store.listKv('gatehouse/credentials')).length).toBe(before - 1); // one connector login has no path here
  });

  it('shows an nhi-owner only what they own, lets them rotate it, and nothing of the rest', async () => {
    const bobs = await register('bobs-db', { owners: [people.bob.ref], account: { uid: '1' } });
    const mine = names(await inventory.list(q(), aliceOwner));
    expect(mine).toEqual(['reports-db']);
    expect(names(await inventory.list(q(), bobOwner))).toEqual(['bobs-db']);
    const everything = names(await inventory.list(q({ source: 'managed' }), auditor));
    expect(everything).toEqual(expect.arrayContaining(['bobs-db', 'pg-inventory-login', 'reports-db']));

    await expect(inventory.item(bobs.id, aliceOwner)).rejects.toMatchObject({ status: 404 });
    await expect(credentials.requestRotation(bobs.id, {}, aliceOwner)).rejects.toMatchObject({ status: 404 });
    await expect(credentials.requestRotation(bobs.id, {}, auditor)).rejects.toThrow(/Cannot execute "rotate" on "Credential"/);
    const item = (await inventory.list(q(), bobOwner))[0]!;
    expect(item.canRotate).toBe(true);
    const started = await credentials.requestRotation(bobs.id, { justification: 'I think it leaked' }, bobOwner);
    expect(started).toEqual({ workflowId: `rotation:${bobs.id}`, started: true });
    // No worker on this suite's queue: the rotation waits, and its request is on record.
    await temporal.client.workflow.getHandle(started.workflowId).terminate('test: only the request is under test');
    expect((await ledger.query({ action: 'secret.rotation.requested', subjectId: bobs.id })).entries[0]).toMatchObject({ actor: { id: bobOwner.id }, details: { justification: 'I think it leaked' } });
    await credentials.remove(bobs.id, admin);
  });

  it('flags each finding from its facts', async () => {
    const owned = await register('aged-db', { account: { uid: '2' }, owners: [people.carol.ref, people.dave.ref], maxAgeDays: 10, consumers: [{ kind: 'application', name: 'a' }, { kind: 'workflow', name: 'b' }] });
    const unowned = await register('unowned-db', { account: { uid: '3' }, owners: [] });
    await sql(`UPDATE credential SET secret_updated_at = now() - interval '11 days' WHERE id = $1`, [owned.id]);
    // Carol is deactivated in the directory; Dave is deleted from it.
    await scim.request(idp.token, 'PATCH', `/Users/${people.carol.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    await scim.request(idp.token, 'DELETE', `/Users/${people.dave.id}`);
    const aged = await inventory.item(owned.id, admin);
    expect(aged.findings).toEqual(['no-owner', 'owner-inactive', 'owner-gone', 'over-max-age', 'shared']); // nobody active is left to own it
    expect(aged.owners.map((o) => o.status)).toEqual(['inactive', 'gone']);
    expect(aged.ownerActive).toBe(false);
    expect(aged.ageDays).toBe(11);
    expect(aged.rotation).toMatchObject({ rotatable: true, scheduleId: scheduleIdOf(owned.id) });
    expect((await inventory.item(unowned.id, admin)).findings).toEqual(['no-owner']);
    expect(names(await inventory.list(q({ finding: 'owner-gone,owner-inactive' }), admin))).toEqual(['aged-db']);
    await expect(Promise.resolve().then(() => q({ finding: 'stale' }))).rejects.toMatchObject({ issues: [expect.objectContaining({ path: ['finding'] })] });
  });

  it("discovers the target's accounts through the connector: non-human ones listed, people's left out, privileged ones flagged", async () => {
    const result = await scanner.scanConnector(pgConnectorId, randomUUID(), scanActor);
    expect(result).toMatchObject({ status: 'succeeded' });
    expect(result.accounts).toBeGreaterThan(result.nonHuman);
    const found = await inventory.list(q({ connector: 'pg-inventory', q: target.tag }), admin);
    const ops = found.find((i) => i.name === `svc_ops_${target.tag}`)!;
    expect(ops).toMatchObject({ source: 'discovered', kind: 'account', privileged: true, owners: [], findings: expect.arrayContaining(['no-owner', 'privileged']) });
    // The registered credential and its account are one item, with what the scan learned about the account.
    expect(found.filter((i) => i.account?.name === `svc_reports_${target.tag}`)).toEqual([expect.objectContaining({ name: 'reports-db', source: 'managed', account: { uid: expect.stringMatching(/^\d+$/), name: `svc_reports_${target.tag}`, enabled: true } })]);
    // The connector's own login (CREATEROLE) is privileged, and Gatehouse has used it.
    const login = (await inventory.list(q({ source: 'managed', connector: 'pg-inventory', kind: 'connector-login' }), admin))[0]!;
    expect(login).toMatchObject({ name: 'pg-inventory-login', privileged: true, lastUsedAt: expect.any(String), usedBy: [{ kind: 'connector', name: 'pg-inventory' }] });
    // Carol's own account is a person's, not a non-human identity.
    expect(found.map((i) => i.name)).not.toContain('carol@corp.example');
    const withHumans = await inventory.list(q({ connector: 'pg-inventory', includeHumans: 'true', q: 'carol@' }), admin);
    expect(withHumans.map((i) => i.name)).toEqual(['carol@corp.example']);
    expect((await ledger.query({ action: 'inventory.scanned', subjectId: pgConnectorId })).entries[0]!.details).toMatchObject({ accounts: result.accounts, nonHuman: result.nonHuman });
  });

  it("discovers secrets nothing refers to through Vault's metadata, and learns when each secret in use was written", async () => {
    const stray = `gatehouse/credentials/${randomUUID()}`;
    await vault.store.writeKv(stray, { password: 'left-behind' });
    const { id } = await register('vault-timed', { account: { uid: '4' }, owners: [] });
    await sql(`UPDATE credential SET secret_updated_at = '2001-01-01' WHERE id = $1`, [id]);
    const result = await scanner.scanVault(randomUUID(), scanActor);
    expect(result.unreferenced).toBe(1);
    const item = (await inventory.list(q({ source: 'vault' }), admin))[0]!;
    expect(item).toMatchObject({ id: `vault:${stray}`, kind: 'secret', owners: [], findings: ['no-owner'], vault: { path: stray, version: 1 } });
    expect(JSON.stringify(item)).not.toContain('left-behind');
    const meta = await vault.store.readKvMetadata(`gatehouse/credentials/${id}`);
    expect((await inventory.item(id, admin)).lastRotatedAt).toBe(new Date(meta!.versions[0]!.createdTime).toISOString());
    expect(await inventory.list(q({ source: 'vault' }), aliceOwner)).toEqual([]);
  });

  it('exports the same list as CSV (formula-safe) and JSON', async () => {
    await withPg(target.superuserUrl, (c) => c.query(`CREATE ROLE ${c.escapeIdentifier(`=cmd|calc_${target.tag}`)} LOGIN`));
    await scanner.scanConnector(pgConnectorId, randomUUID(), scanActor);
    const query = q({ connector: 'pg-inventory', q: target.tag });
    const csv = await inventory.export(query, 'csv', admin);
    expect(csv).toMatchObject({ contentType: 'text/csv; charset=utf-8', filename: expect.stringMatching(/^credential-inventory-\d{4}-\d{2}-\d{2}\.csv$/) });
    const rows = parseCsv(csv.body, { columns: true }) as Record<string, string>[];
    const listed = await inventory.list(query, admin);
    expect(rows.map((r) => r.id).sort()).toEqual(listed.map((i) => i.id).sort());
    expect(rows.find((r) => r.name?.includes('calc'))!.name).toBe(`'=cmd|calc_${target.tag}`);
    expect(rows.find((r) => r.name === `svc_ops_${target.tag}`)).toMatchObject({ privileged: 'true', findings: expect.stringContaining('privileged') });
    const json = JSON.parse((await inventory.export(query, 'json', admin)).body) as { items: InventoryItem[]; findings: Record<string, string> };
    expect(json.items.map((i) => i.id).sort()).toEqual(listed.map((i) => i.id).sort());
    expect(Object.keys(json.findings)).toContain('over-max-age');
    await withPg(target.superuserUrl, (c) => c.query(`DROP ROLE ${c.escapeIdentifier(`=cmd|calc_${target.tag}`)}`));
  });

  describe("a leaver's non-human identities", () => {
    it('go to their manager, or are flagged orphaned when there is none, once; co-owned ones stay with the co-owners', async () => {
      const solo = await register('alice-solo', { account: { uid: '10' }, owners: [people.alice.ref] });
      const shared = await register('alice-shared', { account: { uid: '11' }, owners: [people.alice.ref, people.bob.ref] });
      const bobsOnly = await register('bob-solo', { account: { uid: '12' }, owners: [people.bob.ref] });
      const actor = { kind: 'workflow' as const, id: 'identity:okta:alice' };

      const handed = await credentials.handOverFromLeaver(people.alice.ref, people.manager.ref, actor);
      expect(handed).toEqual([
        { credentialId: shared.id, name: 'alice-shared', outcome: 'co-owned' },
        { credentialId: solo.id, name: 'alice-solo', outcome: 'reassigned', to: people.manager.ref },
        { credentialId: (await inventory.item('reports-db', admin)).id, name: 'reports-db', outcome: 'reassigned', to: people.manager.ref },
      ]);
      expect((await inventory.item(solo.id, admin)).owners).toEqual([expect.objectContaining({ userId: people.manager.id, status: 'active' })]);
      expect((await inventory.item(shared.id, admin)).owners.map((o) => o.userId)).toEqual([people.bob.id]);
      // Idempotent: a second call (a retried activity) changes nothing and answers the same.
      const before = (await ledger.head()).size;
      expect(await credentials.handOverFromLeaver(people.alice.ref, people.manager.ref, actor)).toEqual(handed);
      expect((await ledger.head()).size).toBe(before);

      // Bob has no manager: what he alone owns is orphaned.
      expect(await credentials.handOverFromLeaver(people.bob.ref, null, actor)).toEqual([
        { credentialId: shared.id, name: 'alice-shared', outcome: 'orphaned' },
        { credentialId: bobsOnly.id, name: 'bob-solo', outcome: 'orphaned' },
      ]);
      expect((await inventory.item(bobsOnly.id, admin)).findings).toContain('no-owner');
      const orphaned = await ledger.query({ action: 'credential.orphaned', subjectId: bobsOnly.id });
      expect(orphaned.entries[0]).toMatchObject({ actor, details: { leaver: people.bob.ref, outcome: 'orphaned', owners: [] } });
      expect((await ledger.query({ action: 'credential.owner.reassigned', subjectId: solo.id })).entries[0]!.details).toMatchObject({ manager: people.manager.ref });

      // A manager who is deactivated (Carol, since the findings test) takes nothing over: orphaned.
      const erin = await register('erin-solo', { account: { uid: '13' }, owners: [people.manager.ref] });
      expect(await credentials.handOverFromLeaver(people.manager.ref, people.carol.ref, actor)).toEqual(
        expect.arrayContaining([{ credentialId: erin.id, name: 'erin-solo', outcome: 'orphaned' }]),
      );
    });
  });
});
