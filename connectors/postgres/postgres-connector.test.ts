// The PostgreSQL connector against a real PostgreSQL: the contract, then what is particular to
// PostgreSQL (SCRAM verifiers, table privileges, session ending, grants made by someone else).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeConnectorContract, expectNamedError } from '../contract/connector-contract.js';
import { createPostgresTarget, canLogInToPostgres, stoppedPostgres, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { withPg } from '../../test/helpers/services.js';
import { postgresConnectorType, type PostgresConnector } from './index.js';

let target: PostgresTarget;
let counter = 0;
const build = (config: Record<string, unknown>) => postgresConnectorType.create(postgresConnectorType.validate(config), { label: 'pg-test' }) as PostgresConnector;

describeConnectorContract('postgresql', {
  async setup() {
    target = await createPostgresTarget();
    const connector = build(target.config());
    const analysts = await withPg(target.superuserUrl, (c) => c.query<{ oid: string }>('SELECT oid::text FROM pg_roles WHERE rolname = $1', [target.groups.analysts]));
    return {
      connector,
      namePrefix: `acct_${target.tag}_`,
      newAccount: () => ({ name: `acct_${target.tag}_${++counter}`, attributes: { comment: ['made by the contract'] } }),
      // The server refuses a connection limit beyond its integer range (SQLSTATE 22003).
      rejectedAccount: () => ({ name: `acct_${target.tag}_${++counter}`, attributes: { connectionLimit: [3_000_000_000] } }),
      entitlementUid: `role:${analysts.rows[0]!.oid}`,
      missingUid: '4294967000',
      update: {
        deltas: [
          { attribute: 'connectionLimit', op: 'replace', values: [7] },
          { attribute: 'comment', op: 'replace', values: ['changed'] },
        ],
        expect: (account) => {
          expect(account.attributes.connectionLimit).toEqual([7]);
          expect(account.attributes.comment).toEqual(['changed']);
        },
      },
      wrongPassword: async () => build(target.config({ password: 'not-the-password' })),
      stoppedServer: async () => build({ ...target.config(), ...(await stoppedPostgres()), connectTimeoutMs: 3000 }),
      lowPrivilege: async () => build(target.config({ user: target.reader.user, password: target.reader.password })),
      canLogIn: (account, password) => canLogInToPostgres(target, account.name, password),
    };
  },
  teardown: async () => target?.drop(),
});

describe('postgresql connector, beyond the contract', () => {
  let t: PostgresTarget;
  let connector: PostgresConnector;
  const ctx = () => ({ idempotencyKey: `pg:${randomUUID()}` });
  const name = () => `acct_${t.tag}_x${++counter}`;

  beforeAll(async () => {
    t = await createPostgresTarget();
    connector = build(t.config());
  });
  afterAll(async () => {
    await connector?.close();
    await t?.drop();
  });

  it('stores a SCRAM verifier, never the password, and the password then logs in', async () => {
    const password = `S3cret-${randomUUID()}`;
    const account = await connector.createAccount({ name: name() }, ctx(), { password });
    const stored = await withPg(t.superuserUrl, (c) => c.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE oid = $1::oid', [account.uid]));
    expect(stored.rows[0]!.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(stored.rows[0]!.rolpassword).not.toContain(password);
    expect(await canLogInToPostgres(t, account.name, password)).toBe(true);
    expect(await canLogInToPostgres(t, account.name, 'wrong')).toBe(false);
  });

  it('grants and revokes table privileges as entitlements', async () => {
    const account = await connector.createAccount({ name: name() }, ctx());
    const privileges = [];
    for await (const e of connector.searchEntitlements({ filter: { op: 'eq', attribute: 'kind', value: 'privilege' } })) privileges.push(e);
    const select = privileges.find((e) => e.name === 'public.orders:SELECT')!;
    expect(select).toBeDefined();
    expect(await connector.grant(account.uid, select.uid, ctx())).toEqual({ changed: true });
    const check = (role: string) =>
      withPg(t.superuserUrl, (c) => c.query<{ ok: boolean }>("SELECT has_table_privilege($1, 'public.orders', 'SELECT') AS ok", [role]));
    expect((await check(account.name)).rows[0]!.ok).toBe(true);
    expect(await connector.grant(account.uid, select.uid, ctx())).toEqual({ changed: false });
    expect((await connector.getAccount(account.uid, { includeEntitlements: true })).entitlements).toEqual([select.uid]);
    expect(await connector.revoke(account.uid, select.uid, ctx())).toEqual({ changed: true });
    expect((await check(account.name)).rows[0]!.ok).toBe(false);
  });

  it('deletes an account that holds table privileges (they go first, in the same transaction)', async () => {
    const account = await connector.createAccount({ name: name() }, ctx());
    const [select] = await collectEntitlements(connector, 'public.customers:SELECT');
    await connector.grant(account.uid, select!.uid, ctx());
    await connector.deleteAccount(account.uid, ctx());
    const left = await withPg(t.superuserUrl, (c) => c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [account.name]));
    expect(left.rowCount).toBe(0);
  });

  it('refuses to report a revoke it could not make (a grant by another role) and changes nothing', async () => {
    const account = await connector.createAccount({ name: name() }, ctx());
    // A superuser grants the membership behind the connector's back.
    await withPg(t.superuserUrl, (c) => c.query(`GRANT ${c.escapeIdentifier(t.groups.auditors)} TO ${c.escapeIdentifier(account.name)}`));
    const [auditors] = await collectEntitlements(connector, t.groups.auditors);
    await expectNamedError(connector.revoke(account.uid, auditors!.uid, ctx()), 'PermissionDenied');
    expect((await connector.getAccount(account.uid, { includeEntitlements: true })).entitlements).toContain(auditors!.uid);
  });

  it('rolls back a multi-part update when one part is refused', async () => {
    const account = await connector.createAccount({ name: name(), attributes: { comment: ['before'] } }, ctx());
    await expectNamedError(
      connector.updateAccount(account.uid, [
        { attribute: 'comment', op: 'replace', values: ['after'] },
        { attribute: 'name', op: 'replace', values: ['pg_reserved_name'] },
      ], ctx()),
      'Rejected',
    );
    expect((await connector.getAccount(account.uid)).attributes.comment).toEqual(['before']);
    // A rename the server refuses (the name is taken) is rolled back with the rest.
    const other = await connector.createAccount({ name: name() }, ctx());
    await expectNamedError(
      connector.updateAccount(account.uid, [
        { attribute: 'comment', op: 'replace', values: ['after'] },
        { attribute: 'name', op: 'replace', values: [other.name] },
      ], ctx()),
      'AlreadyExists',
    );
    expect(await connector.getAccount(account.uid)).toMatchObject({ name: account.name, attributes: { comment: ['before'] } });
  });

  it('ends the open sessions of an account it disables, when it holds pg_signal_backend', async () => {
    await withPg(t.superuserUrl, (c) => c.query(`GRANT pg_signal_backend TO ${c.escapeIdentifier(t.admin.user)}`));
    const password = `Pw-${randomUUID()}`;
    const account = await connector.createAccount({ name: name() }, ctx(), { password });
    const { default: pg } = await import('pg');
    const session = new pg.Client({ host: t.host, port: t.port, database: t.database, user: account.name, password, ssl: false });
    const ended = new Promise<Error>((resolve) => session.on('error', resolve));
    await session.connect();
    await connector.setAccountEnabled(account.uid, false, ctx());
    const err = await ended;
    expect(err.message).toMatch(/terminat/i);
    await session.end().catch(() => undefined);
  });

  it('rotates its own password: the new one logs in, the old one no longer does', async () => {
    const self = build(t.config());
    const next = `Rotated-${randomUUID()}`;
    await self.applyCredential({ kind: 'self' }, ctx(), next);
    await self.verifyCredential({ kind: 'self' }, next);
    await expectNamedError(self.verifyCredential({ kind: 'self' }, t.admin.password), 'InvalidCredential');
    await self.close();
    t.admin.password = next;
    await connector.close();
    connector = build(t.config());
    expect((await connector.test()).details.user).toBe(t.admin.user);
  });

  it('refuses a password PostgreSQL would normalise, before sending anything', async () => {
    const n = name();
    await expectNamedError(connector.createAccount({ name: n }, ctx(), { password: 'pässwörd' }), 'Rejected');
    const left = await withPg(t.superuserUrl, (c) => c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [n]));
    expect(left.rowCount).toBe(0);
  });
});

async function collectEntitlements(connector: PostgresConnector, entitlementName: string) {
  const out = [];
  for await (const e of connector.searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: entitlementName } })) out.push(e);
  return out;
}
