// The SCIM outbound connector against a real SCIM service provider: Gatehouse's own SCIM endpoint
// (the real module and HTTP stack over PostgreSQL), provisioning into a second directory beside
// the one an identity provider fills. The contract, then what is particular to SCIM: the two
// directories stay apart, enterprise attributes and the manager round-trip, a PATCH is all or
// nothing, filters the provider cannot answer are still honoured, and the token lives in Vault.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeConnectorContract, expectNamedError } from '../contract/connector-contract.js';
import { startScimTestServer, type ScimTestServer, type TestDirectory } from '../../test/helpers/scim.js';
import { createTestVault } from '../../test/helpers/services.js';
import { adminCaller } from '../../test/helpers/service-callers.js';
import { createLedger } from '../../audit/index.js';
import { createBuiltinConnectorRegistry } from '../builtin-connectors.js';
import { createConnectorFactory } from '../instances/connector-factory.js';
import { createConnectorInstanceService } from '../instances/connector-instance-service.js';
import { requireCapability } from '../spi/connector.js';
import type { Account } from '../spi/objects.js';
import { scimConnectorType, type ScimConnector } from './index.js';

const build = (config: Record<string, unknown>) => scimConnectorType.create(scimConnectorType.validate(config), { label: 'scim-test' }) as ScimConnector;
const configFor = (s: ScimTestServer, d: TestDirectory, overrides: Record<string, unknown> = {}) => ({ baseUrl: s.base, token: d.token, pageSize: 2, ...overrides });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * STAND-IN for a provider's read-only token: Gatehouse's SCIM tokens may do everything in their
 * directory, so "a login without the privilege" cannot be caused against it for real. This is a
 * real HTTP gateway in front of it that passes reads and answers writes with 403, as providers with
 * scoped tokens do.
 */
async function readOnlyGateway(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(upstream);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(403, { 'content-type': 'application/scim+json' });
      res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '403', detail: 'this token may only read' }));
      return;
    }
    const forward = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A port where a server listened and stopped: the provider was really there and is no more. */
async function stoppedServerUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/scim/v2`;
}

let server: ScimTestServer;
let downstream: TestDirectory;
let gateway: { url: string; close(): Promise<void> } | undefined;
let counter = 0;

describeConnectorContract('scim', {
  async setup() {
    server = await startScimTestServer();
    await server.directory('okta'); // the identity provider's directory, which the connector must never touch
    downstream = await server.directory('downstream-app');
    const group = await server.request<{ id: string }>(downstream.token, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'engineers' });
    const tag = randomUUID().slice(0, 8);
    return {
      connector: build(configFor(server, downstream)),
      namePrefix: `acct-${tag}-`,
      newAccount: () => {
        const n = ++counter;
        return { name: `acct-${tag}-${n}`, attributes: { email: [`acct${n}@example.org`], displayName: [`Account ${n}`], givenName: ['Account'], familyName: [String(n)] } };
      },
      // Gatehouse refuses attributes that are not in its schema, naming them (400 invalidSyntax).
      rejectedAccount: () => ({ name: `acct-${tag}-${++counter}`, attributes: { favouriteColour: ['teal'] } }),
      entitlementUid: group.body.id,
      missingUid: randomUUID(),
      update: {
        deltas: [
          { attribute: 'displayName', op: 'replace', values: ['Changed Name'] },
          { attribute: 'email', op: 'replace', values: ['changed@example.org', 'second@example.org'] },
          { attribute: 'department', op: 'replace', values: ['Finance'] },
        ],
        expect: (account: Account) =>
          expect(account.attributes).toMatchObject({ displayName: ['Changed Name'], email: ['changed@example.org', 'second@example.org'], department: ['Finance'] }),
      },
      wrongPassword: async () => build(configFor(server, downstream, { token: 'gh_scim_not-the-token' })),
      stoppedServer: async () => build({ baseUrl: await stoppedServerUrl(), token: downstream.token }),
      lowPrivilege: async () => {
        gateway = await readOnlyGateway(server.base);
        return build({ baseUrl: gateway.url, token: downstream.token });
      },
    };
  },
  teardown: async () => {
    await gateway?.close();
    await server?.close();
  },
});

describe('scim connector, beyond the contract', () => {
  let s: ScimTestServer;
  let idp: TestDirectory;
  let app: TestDirectory;
  let connector: ScimConnector;
  const key = () => ({ idempotencyKey: `scim:${randomUUID()}` });

  beforeAll(async () => {
    s = await startScimTestServer();
    idp = await s.directory('entra');
    app = await s.directory('payroll-app');
    connector = build(configFor(s, app, { privilegedGroups: ['Payroll Admins'] }));
  });
  afterAll(async () => s?.close());

  it('provisions into its own directory only: the identity provider’s directory neither sees nor shows its users', async () => {
    await s.request(idp.token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'alice@corp.example' });
    const made = await connector.createAccount({ name: 'alice@corp.example', attributes: { email: ['alice@corp.example'] } }, key());
    // The same userName in two directories: two different users.
    const seenByIdp = await s.request<{ totalResults: number; Resources: { id: string }[] }>(idp.token, 'GET', '/Users?filter=userName%20eq%20%22alice@corp.example%22');
    expect(seenByIdp.body.totalResults).toBe(1);
    expect(seenByIdp.body.Resources[0]!.id).not.toBe(made.uid);
    const all = await collect(connector.searchAccounts());
    expect(all.map((a) => a.uid)).toEqual([made.uid]);
    const rows = await s.sql<{ directory_id: string }>('SELECT directory_id FROM scim_user WHERE id = $1', [made.uid]);
    expect(rows).toEqual([{ directory_id: app.id }]);
  });

  it('never sends a request outside its base URL, whatever id it is handed', async () => {
    // `..` is a dot segment even percent-encoded; /Users/.. would be the base URL's parent collection.
    for (const uid of ['..', '.', '%2e%2e']) {
      await expect(connector.getAccount(uid), uid).rejects.toThrow(/would leave the base URL|not found|no User/i);
    }
    await expect(connector.getAccount('..')).rejects.toThrow(/would leave the base URL.*nothing was sent/);
  });

  it('round-trips enterprise attributes and the manager, and finds by them', async () => {
    const boss = await connector.createAccount({ name: 'boss@corp.example', attributes: { displayName: ['The Boss'] } }, key());
    const worker = await connector.createAccount({ name: 'worker@corp.example', attributes: { department: ['Payroll'], employeeNumber: ['E-17'], manager: [boss.uid], title: ['Clerk'] } }, key());
    expect(worker.attributes).toMatchObject({ department: ['Payroll'], employeeNumber: ['E-17'], manager: [boss.uid], title: ['Clerk'] });
    const stored = await s.sql<{ resource: Record<string, unknown> }>('SELECT resource FROM scim_user WHERE id = $1', [worker.uid]);
    expect(stored[0]!.resource['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']).toMatchObject({ department: 'Payroll', manager: { value: boss.uid } });
    const byDepartment = await collect(connector.searchAccounts({ filter: { op: 'eq', attribute: 'department', value: 'payroll' } }));
    expect(byDepartment.map((a) => a.uid)).toEqual([worker.uid]);
    // An attribute the provider does not filter on is still honoured, in memory.
    const notBoss = await collect(connector.searchAccounts({ filter: { op: 'and', filters: [{ op: 'sw', attribute: 'name', value: 'worker' }, { op: 'ne', attribute: 'favourite', value: 'x' }] } }));
    expect(notBoss.map((a) => a.uid)).toEqual([worker.uid]);
  });

  it('applies a PATCH all or nothing: one refused delta leaves the user as it was', async () => {
    const user = await connector.createAccount({ name: 'atomic@corp.example', attributes: { displayName: ['Before'] } }, key());
    const err = await expectNamedError(
      connector.updateAccount(user.uid, [{ attribute: 'displayName', op: 'replace', values: ['After'] }, { attribute: 'favouriteColour', op: 'replace', values: ['teal'] }], key()),
      'Rejected',
    );
    expect(err.message).toMatch(/400/);
    expect((await connector.getAccount(user.uid)).attributes.displayName).toEqual(['Before']);
  });

  it('provisions groups, marks members of privileged groups, and keeps a password out of error messages', async () => {
    const admins = await connector.createEntitlement({ name: 'Payroll Admins' }, key());
    expect(admins.privileged).toBe(true);
    const user = await connector.createAccount({ name: 'admin@corp.example', attributes: {} }, key(), { password: 'Sup3r-Secret-Value' });
    await connector.grant(user.uid, admins.uid, key());
    expect(await connector.getAccount(user.uid, { includeEntitlements: true })).toMatchObject({ entitlements: [admins.uid], privileged: true });
    const refused = await expectNamedError(connector.createAccount({ name: 'admin2@corp.example', attributes: { favouriteColour: ['x'] } }, key(), { password: 'Sup3r-Secret-Value' }), 'Rejected');
    expect(refused.message).not.toContain('Sup3r-Secret-Value');
    // Gatehouse discards passwords sent over SCIM: nothing of it is stored.
    expect(JSON.stringify(await s.sql('SELECT resource FROM scim_user WHERE directory_id = $1', [app.id]))).not.toContain('Sup3r-Secret-Value');
  });

  it('refuses plain http to anything but this machine, offline, naming the field', () => {
    expect(() => scimConnectorType.validate({ baseUrl: 'http://scim.example.com/scim/v2', token: 't' })).toThrow(expect.objectContaining({ field: 'config.baseUrl' }));
    expect(() => scimConnectorType.validate({ baseUrl: 'https://scim.example.com/scim/v2' })).toThrow(expect.objectContaining({ field: 'config.token' }));
  });

  it('runs as a configured instance: its token in Vault, read by the factory at call time', async () => {
    const vault = await createTestVault();
    const registry = createBuiltinConnectorRegistry();
    const service = createConnectorInstanceService({ orm: s.orm, secrets: vault.store, registry, ledger: createLedger({ orm: s.orm, signer: vault.store }) });
    const view = await service.create({ name: 'payroll-scim', type: 'scim', config: configFor(s, app) }, adminCaller());
    expect(view).toMatchObject({ secrets: { token: { set: true } }, capabilities: expect.arrayContaining(['manageEntitlements', 'grantRevoke']) });
    expect(JSON.stringify(view)).not.toContain(app.token);
    const factory = createConnectorFactory({ orm: s.orm, secrets: vault.store, registry });
    const probe = await factory.withConnector(view.id, (c) => requireCapability(c, 'test').test());
    expect(probe).toMatchObject({ system: 'SCIM 2.0', details: { patch: true, filter: true } });
  });
});
