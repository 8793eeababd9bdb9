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

/** The HR table as a writable object class with a cursor, and its view as a read-only snapshot. */
const HR_CLASSES = [
  { name: 'people', schema: 'hr', table: 'people', cursor: 'changed', writable: true },
  { name: 'people-emails', schema: 'hr', table: 'people_emails', key: ['employee_id'] },
];
let people = 0;

describeConnectorContract('postgresql', {
  async setup() {
    target = await createPostgresTarget();
    const connector = build({ ...target.config(), objectClasses: HR_CLASSES });
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
      objects: {
        objectClass: 'people',
        newRecord: () => {
          const n = ++people;
          return { employee_id: `E${String(n).padStart(5, '0')}`, email: `person${n}@corp.example`, display_name: `Person ${n}`, salary: '1234.50', badge: n, start_date: '2026-01-05', profile: { team: 'core', tags: ['a'] } };
        },
        changed: (record) => ({ ...record, display_name: `${String(record.display_name)} (changed)` }),
      },
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

describe('postgresql object classes, beyond the contract', () => {
  let t: PostgresTarget;
  let connector: PostgresConnector;
  const ctx = () => ({ idempotencyKey: `pg:${randomUUID()}` });
  const readAll = async (c: PostgresConnector, objectClass: string, cursor?: string, pageSize = 2) => {
    const batches = [];
    for await (const b of c.readObjects(objectClass, { ...(cursor ? { cursor } : {}), pageSize })) batches.push(b);
    return batches;
  };

  beforeAll(async () => {
    t = await createPostgresTarget();
    connector = build({ ...t.config(), objectClasses: HR_CLASSES });
  });
  afterAll(async () => {
    await connector?.close();
    await t?.drop();
  });

  it('describes each column as a field, and the identity column as not writable', async () => {
    const [cls] = await connector.objectClasses();
    expect(cls).toMatchObject({ name: 'people', source: 'hr.people', kind: 'data', key: ['employee_id'], cursor: 'changed', writable: true });
    const field = (n: string) => cls!.fields.find((f) => f.name === n);
    expect(field('salary')).toMatchObject({ type: 'number', nullable: true, writable: true });
    expect(field('start_date')).toMatchObject({ type: 'date' });
    expect(field('profile')).toMatchObject({ type: 'json' });
    expect(field('email')).toMatchObject({ type: 'string', nullable: false });
    expect(field('row_id')).toMatchObject({ type: 'integer', writable: false });
    await expectNamedError(connector.upsertObjects('people', [{ employee_id: 'X1', email: 'x@corp.example', row_id: 5 }], ctx()), 'Rejected');
  });

  it('reads big numbers exactly (as strings when a number cannot hold them) and times in UTC', async () => {
    await withPg(t.superuserUrl, (c) =>
      c.query("SET TimeZone = 'Europe/Paris'; INSERT INTO hr.people (employee_id, email, salary, badge, start_date) VALUES ('BIG', 'big@corp.example', 12345678901234567890.125, 9007199254740993, '2026-03-01')"),
    );
    const records = (await readAll(connector, 'people', undefined, 100)).flatMap((b) => b.records);
    expect(records.find((r) => r.employee_id === 'BIG')).toMatchObject({ salary: '12345678901234567890.125', badge: '9007199254740993', start_date: '2026-03-01' });
  });

  it('reads rows that share a cursor value across pages, each once', async () => {
    // Written behind the connector's back with one cursor value for all (a bulk load in one transaction does that).
    await withPg(t.superuserUrl, (c) => c.query("INSERT INTO hr.people (employee_id, email, changed) SELECT 'TIE' || n, 'tie' || n || '@corp.example', 1000000 FROM generate_series(1, 5) n"));
    const batches = await readAll(connector, 'people', undefined, 2);
    const ties = batches.flatMap((b) => b.records).filter((r) => String(r.employee_id).startsWith('TIE')).map((r) => r.employee_id);
    expect(ties).toEqual(['TIE1', 'TIE2', 'TIE3', 'TIE4', 'TIE5']);
  });

  it('keeps the fields a record leaves out, even NOT NULL ones, and refuses a new record without them', async () => {
    await connector.upsertObjects('people', [{ employee_id: 'P1', email: 'p1@corp.example', display_name: 'One' }], ctx());
    expect(await connector.upsertObjects('people', [{ employee_id: 'P1', display_name: 'Uno' }], ctx())).toEqual({ created: 0, updated: 1, unchanged: 0 });
    const row = await withPg(t.superuserUrl, (c) => c.query("SELECT email, display_name, active FROM hr.people WHERE employee_id = 'P1'"));
    expect(row.rows[0]).toEqual({ email: 'p1@corp.example', display_name: 'Uno', active: true });
    const refused = await expectNamedError(connector.upsertObjects('people', [{ employee_id: 'P2', display_name: 'Two' }], ctx()), 'Rejected');
    expect(refused.message).toMatch(/"email"/);
  });

  it('reads a view as a snapshot that starts again when complete, and never writes it', async () => {
    const batches = await readAll(connector, 'people-emails', undefined, 1000);
    expect(batches.at(-1)!.complete).toBe(true);
    const again = await readAll(connector, 'people-emails', batches.at(-1)!.cursor, 1000);
    expect(again.flatMap((b) => b.records)).toEqual(batches.flatMap((b) => b.records));
    const refused = await expectNamedError(connector.upsertObjects('people-emails', [{ employee_id: 'V1', email: 'v@corp.example' }], ctx()), 'Rejected');
    expect(refused.message).toContain('not writable');
    // A cursor from one class is refused on another.
    await expectNamedError(readAll(connector, 'people', batches.at(-1)!.cursor), 'Rejected');
  });

  it('declares reading and writing only as its configuration allows', () => {
    expect(postgresConnectorType.capabilitiesFor({})).not.toContain('readObjects');
    const readOnly = postgresConnectorType.capabilitiesFor({ objectClasses: [HR_CLASSES[1]] });
    expect(readOnly).toContain('readObjects');
    expect(readOnly).not.toContain('writeObjects');
    expect(postgresConnectorType.capabilitiesFor({ objectClasses: HR_CLASSES })).toContain('writeObjects');
  });

  it('names what is wrong with a class: no key, a nullable cursor, a writable table without a unique key, a second class of one name', async () => {
    const tryClass = async (objectClass: Record<string, unknown>) => {
      const c = build({ ...t.config(), objectClasses: [{ name: 'c', schema: 'hr', ...objectClass }] });
      try {
        return (await expectNamedError(c.objectClasses(), 'Rejected')).message;
      } finally {
        await c.close();
      }
    };
    expect(await tryClass({ table: 'no_key' })).toContain('hr.no_key has no primary key; name its key columns in "key"');
    expect(await tryClass({ table: 'people', cursor: 'display_name' })).toContain('the cursor column display_name must be NOT NULL');
    expect(await tryClass({ table: 'people', key: ['email'], writable: true })).toContain('writing needs a unique index on exactly (email)');
    expect(await tryClass({ table: 'nowhere' })).toContain('there is no table or view hr.nowhere');
    expect(() => postgresConnectorType.validate({ ...t.config(), objectClasses: [HR_CLASSES[0], HR_CLASSES[0]] })).toThrow(/objectClasses\[1\]\.name/);
    // The connector's own memberships (its grants, written through the access gate) keep their name.
    expect(() => postgresConnectorType.validate({ ...t.config(), objectClasses: [{ ...HR_CLASSES[0], name: 'memberships' }] })).toThrow(/objectClasses\[0\]\.name: memberships is the name of the connector's own memberships/);
  });
});

async function collectEntitlements(connector: PostgresConnector, entitlementName: string) {
  const out = [];
  for await (const e of connector.searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: entitlementName } })) out.push(e);
  return out;
}
