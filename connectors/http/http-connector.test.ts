// The HTTP/webhook connector against a real HTTP user directory this suite runs as the target: the
// contract, then what is particular to declarative HTTP (the Idempotency-Key reaching the target,
// requests that stay under the base URL, bounded JSONata, offline validation of the mapping).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../../shared/errors.js';
import { describeConnectorContract, expectNamedError } from '../contract/connector-contract.js';
import { startUserDirectoryServer, type UserDirectoryServer } from '../../test/helpers/user-directory-server.js';
import { directoryConfig, tokenCredentials } from '../../test/helpers/user-directory-config.js';
import { httpConnectorType, type HttpConnector } from './index.js';

const build = (config: Record<string, unknown>) => httpConnectorType.create(httpConnectorType.validate(config), { label: 'http-test' }) as HttpConnector;

let server: UserDirectoryServer;
let counter = 0;

describeConnectorContract('http', {
  async setup() {
    server = await startUserDirectoryServer();
    const tag = randomUUID().slice(0, 8);
    return {
      connector: build(directoryConfig(server)),
      namePrefix: `acct-${tag}-`,
      newAccount: () => {
        const n = ++counter;
        return { name: `acct-${tag}-${n}`, attributes: { email: [`acct${n}@example.org`], displayName: [`Account ${n}`] } };
      },
      // The directory requires a valid email and answers 400.
      rejectedAccount: () => ({ name: `acct-${tag}-${++counter}`, attributes: { email: ['not-an-address'] } }),
      entitlementUid: 'g-engineers',
      missingUid: 'u-missing',
      update: {
        deltas: [
          { attribute: 'email', op: 'replace', values: ['changed@example.org'] },
          { attribute: 'displayName', op: 'replace', values: ['Changed'] },
        ],
        expect: (account) => expect(account.attributes).toMatchObject({ email: ['changed@example.org'], displayName: ['Changed'] }),
      },
      wrongPassword: async () => build(directoryConfig(server, 'not-the-token')),
      stoppedServer: async () => {
        const other = await startUserDirectoryServer();
        await other.stop();
        return build(directoryConfig(other));
      },
      lowPrivilege: async () => build(directoryConfig(server, server.tokens.reader)),
      canLogIn: async (account, password) => {
        const res = await fetch(`${server.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userName: account.name, password }) });
        return res.status === 200;
      },
    };
  },
  teardown: async () => server?.stop(),
});

describe('http connector, beyond the contract', () => {
  let s: UserDirectoryServer;
  let connector: HttpConnector;
  beforeAll(async () => {
    s = await startUserDirectoryServer();
    connector = build(directoryConfig(s));
  });
  afterAll(async () => s?.stop());

  it('sends the idempotency key, so a retried create is answered, not repeated, by the target', async () => {
    const ctx = { idempotencyKey: `http:${randomUUID()}` };
    const input = { name: `retry-${++counter}`, attributes: { email: ['r@example.org'] } };
    const first = await connector.createAccount!(input, ctx);
    const again = await connector.createAccount!(input, ctx);
    expect(again.uid).toBe(first.uid);
    expect([...s.users.values()].filter((u) => u.userName === input.name)).toHaveLength(1);
    expect(s.idempotencyKeys.filter((k) => k === ctx.idempotencyKey)).toHaveLength(2);
  });

  it('refuses a path that would leave the base URL, before sending anything', async () => {
    const evil = build(directoryConfig(s, s.tokens.admin, { accounts: { ...directoryConfig(s).accounts, get: { method: 'GET', path: '"/../admin/" & uid' } } }));
    await expect(evil.getAccount!('x')).rejects.toThrow(/must evaluate to a path under the base URL/);
    const other = build(directoryConfig(s, s.tokens.admin, { accounts: { ...directoryConfig(s).accounts, get: { method: 'GET', path: '"//evil.example/" & uid' } } }));
    await expect(other.getAccount!('x')).rejects.toThrow(GatehouseError);
    // URL parsing reads %2e as a dot: encoded dot segments climb just the same.
    for (const path of ['"/%2e%2e/admin/" & uid', '"/%2E%2e/admin/" & uid', '"/.%2e/admin/" & uid', '"/users/" & uid']) {
      const encoded = build(directoryConfig(s, s.tokens.admin, { accounts: { ...directoryConfig(s).accounts, get: { method: 'GET', path } } }));
      await expect(encoded.getAccount!(path.includes('uid') && path.startsWith('"/users') ? '%2e%2e' : 'x'), path).rejects.toThrow(/must evaluate to a path under the base URL/);
    }
  });

  it('stops a mapping that runs away', async () => {
    const runaway = build(directoryConfig(s, s.tokens.admin, { accounts: { ...directoryConfig(s).accounts, get: { method: 'GET', path: '($f := function($n) { $f($n + 1) }; $f(0))' } } }));
    await expect(runaway.getAccount!('x')).rejects.toThrow(/deeper than|longer than/);
  });

  it('declares only the capabilities its settings configure', () => {
    const base = directoryConfig(s);
    const readOnly = build({ ...base, accounts: { search: base.accounts.search, map: base.accounts.map }, entitlements: {} });
    expect([...readOnly.capabilities].sort()).toEqual(['searchAccounts', 'sync', 'test']);
    expect(httpConnectorType.capabilitiesFor({ accounts: {}, entitlements: {} })).not.toContain('grantRevoke');
  });

  it('validates offline, naming the expression that does not compile and the setting that is missing', () => {
    const base = directoryConfig(s);
    const broken = { ...base, accounts: { ...base.accounts, create: { method: 'POST', path: '"/users"', body: '{ "userName": ' } } };
    expect(() => httpConnectorType.validate(broken)).toThrow(expect.objectContaining({ field: 'config.accounts.create.body' }));
    expect(() => httpConnectorType.validate({ ...base, token: undefined })).toThrow(expect.objectContaining({ field: 'config.token' }));
    expect(() => httpConnectorType.validate({ ...base, baseUrl: 'http://directory.example.com/api' })).toThrow(expect.objectContaining({ field: 'config.baseUrl' }));
    expect(() => httpConnectorType.validate({ ...base, accounts: { ...base.accounts, delete: { method: 'PURGE', path: '"/x"' } } })).toThrow(
      expect.objectContaining({ field: 'config.accounts.delete.method' }),
    );
  });

  it('rotates its own token two-phase: the new one is issued beside the old, works, and the old is revoked', async () => {
    // A directory of its own: this test revokes the admin token the others use.
    const s = await startUserDirectoryServer();
    const c = build(directoryConfig(s, s.tokens.admin, { credentials: tokenCredentials }));
    expect(c.capabilities.has('rotateCredential')).toBe(true);
    expect(c.credentials).toEqual({ model: 'dual', source: 'target' });
    const applied = await c.applyCredential!({ kind: 'self' }, { idempotencyKey: `rot:${randomUUID()}` });
    expect(applied).toEqual({ credentialId: expect.stringMatching(/^t-\d+$/), secret: expect.any(String) });
    // Both work until the old is revoked.
    await c.verifyCredential!({ kind: 'self' }, applied.secret!);
    await c.verifyCredential!({ kind: 'self' }, s.tokens.admin);
    const renewed = build(directoryConfig(s, applied.secret!, { credentials: tokenCredentials }));
    expect(await renewed.retireCredential!({ kind: 'self' }, 't-admin', { idempotencyKey: `rot:${randomUUID()}` })).toEqual({ changed: true });
    await expectNamedError(c.verifyCredential!({ kind: 'self' }, s.tokens.admin), 'InvalidCredential');
    expect(await renewed.retireCredential!({ kind: 'self' }, 't-admin', { idempotencyKey: `rot:${randomUUID()}` })).toEqual({ changed: false });
    await s.stop();
  });

  it('maps a target that refuses to revoke to a named error, and refuses a given secret or a broken mapping', async () => {
    const c = build(directoryConfig(s, s.tokens.admin, { credentials: tokenCredentials }));
    const applied = await c.applyCredential!({ kind: 'self' }, { idempotencyKey: `rot:${randomUUID()}` });
    s.lockedTokens.add(applied.credentialId);
    await expectNamedError(c.retireCredential!({ kind: 'self' }, applied.credentialId, { idempotencyKey: `rot:${randomUUID()}` }), 'Rejected');
    expect(s.issued.has(applied.credentialId)).toBe(true);
    s.lockedTokens.delete(applied.credentialId);
    await expectNamedError(c.applyCredential!({ kind: 'self' }, { idempotencyKey: `rot:${randomUUID()}` }, 'chosen-by-me'), 'Rejected');
    const broken = build(directoryConfig(s, applied.secret!, { credentials: { ...tokenCredentials, map: '{ "id": id }' } }));
    const err = await broken.applyCredential!({ kind: 'self' }, { idempotencyKey: `rot:${randomUUID()}` }).catch((e: unknown) => e);
    expect(err).toMatchObject({ field: 'config.credentials.map' });
    // A mapping that fails on the new credential names where it failed, never the credential.
    const casting = build(directoryConfig(s, applied.secret!, { credentials: { ...tokenCredentials, map: '{ "id": id, "secret": $number(token) }' } }));
    const castErr = await casting.applyCredential!({ kind: 'self' }, { idempotencyKey: `rot:${randomUUID()}` }).catch((e: unknown) => e);
    expect(castErr).toMatchObject({ field: 'config.credentials.map', message: expect.stringMatching(/the mapping failed \(JSONata D\d{4} at character \d+/) });
    const tokens = [...s.issued.values()].map((t) => t.token);
    expect(tokens.length).toBeGreaterThan(2);
    for (const token of tokens) expect(JSON.stringify(castErr) + String((castErr as Error).message)).not.toContain(token);
    expect(() => httpConnectorType.validate({ ...directoryConfig(s), auth: 'basic', username: 'u', password: 'p', token: undefined, credentials: tokenCredentials })).toThrow(
      expect.objectContaining({ field: 'config.credentials' }),
    );
  });

  it('maps a status the target uses differently, through the instance overrides', async () => {
    const c = build(directoryConfig(s, s.tokens.admin, { errors: { '404': 'Rejected' } }));
    await expectNamedError(c.getAccount!('u-none'), 'Rejected');
  });
});
