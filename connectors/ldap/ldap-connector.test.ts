// The LDAP connector against a real OpenLDAP slapd started by this suite: the contract, then what
// is particular to LDAP (schema discovery, directory-side hashing, groupOfNames' last member,
// renames that keep the uid, deleted accounts leaving their groups).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'ldapts';
import { describeConnectorContract, expectNamedError } from '../contract/connector-contract.js';
import { startSlapd, type Slapd } from '../../test/helpers/slapd.js';
import { sharedTestDataDir } from '../../test/helpers/services.js';
import { ldapConnectorType, type LdapConnector } from './index.js';

const SEED = (suffix: string) => `
dn: uid=seed,ou=people,${suffix}
objectClass: inetOrgPerson
uid: seed
cn: Seed Person
sn: Person

dn: cn=engineers,ou=groups,${suffix}
objectClass: groupOfNames
cn: engineers
description: Engineering
member: uid=seed,ou=people,${suffix}

dn: cn=admins,ou=groups,${suffix}
objectClass: groupOfNames
cn: admins
member: uid=seed,ou=people,${suffix}
`;

const configFor = (s: Slapd, overrides: Record<string, unknown> = {}) => ({
  url: s.url,
  bindDn: s.admin.dn,
  bindPassword: s.admin.password,
  usersDn: s.usersDn,
  groupsDn: s.groupsDn,
  privilegedGroups: ['admins'],
  ...overrides,
});
const build = (config: Record<string, unknown>) => ldapConnectorType.create(ldapConnectorType.validate(config), { label: 'ldap-test' }) as LdapConnector;

async function canBind(url: string, dn: string, password: string): Promise<boolean> {
  const client = new Client({ url });
  try {
    await client.bind(dn, password);
    return true;
  } catch {
    return false;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function uuidOf(connector: LdapConnector, groupName: string): Promise<string> {
  for await (const e of connector.searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: groupName } })) return e.uid;
  throw new Error(`no group ${groupName}`);
}

let slapd: Slapd;
let counter = 0;

describeConnectorContract('ldap', {
  async setup() {
    slapd = await startSlapd({ seedLdif: SEED('dc=example,dc=org'), parentDir: sharedTestDataDir() });
    const connector = build(configFor(slapd));
    const tag = randomUUID().slice(0, 8);
    return {
      connector,
      namePrefix: `acct-${tag}-`,
      newAccount: () => {
        const n = ++counter;
        return { name: `acct-${tag}-${n}`, attributes: { cn: [`Account ${n}`], sn: [`Number ${n}`], mail: [`acct${n}@example.org`] } };
      },
      // inetOrgPerson requires sn: the directory refuses the entry (objectClassViolation).
      rejectedAccount: () => ({ name: `acct-${tag}-${++counter}`, attributes: { cn: ['No Surname'] } }),
      entitlementUid: await uuidOf(connector, 'engineers'),
      missingUid: randomUUID(),
      update: {
        deltas: [
          { attribute: 'mail', op: 'replace', values: ['changed@example.org'] },
          { attribute: 'telephoneNumber', op: 'add', values: ['+1 555 0100', '+1 555 0101'] },
        ],
        expect: (account) => {
          expect(account.attributes.mail).toEqual(['changed@example.org']);
          expect([...account.attributes.telephoneNumber!].sort()).toEqual(['+1 555 0100', '+1 555 0101']);
        },
      },
      wrongPassword: async () => build(configFor(slapd, { bindPassword: 'not-the-password' })),
      stoppedServer: async () => {
        const other = await startSlapd({ parentDir: sharedTestDataDir() });
        await other.stop();
        return build(configFor(slapd, { url: other.url, connectTimeoutMs: 2000 }));
      },
      lowPrivilege: async () => build(configFor(slapd, { bindDn: slapd.reader.dn, bindPassword: slapd.reader.password })),
      canLogIn: (account, password) => canBind(slapd.url, `uid=${account.name},${slapd.usersDn}`, password),
    };
  },
  teardown: async () => slapd?.stop(),
});

describe('ldap connector, beyond the contract', () => {
  let s: Slapd;
  let connector: LdapConnector;
  const ctx = () => ({ idempotencyKey: `ldap:${randomUUID()}` });
  const account = (n = ++counter) => ({ name: `x-${n}`, attributes: { cn: [`X ${n}`], sn: ['X'] } });

  beforeAll(async () => {
    s = await startSlapd({ seedLdif: SEED('dc=example,dc=org'), parentDir: sharedTestDataDir() });
    connector = build(configFor(s));
  });
  afterAll(async () => {
    await connector?.close();
    await s?.stop();
  });

  it("discovers inetOrgPerson's attributes from the directory's own schema", async () => {
    const schema = await connector.schema();
    const byName = new Map(schema.account.attributes.map((a) => [a.name, a]));
    expect(byName.get('sn')).toMatchObject({ required: true, multiValued: true });
    expect(byName.get('cn')).toMatchObject({ required: true });
    expect(byName.get('mail')).toMatchObject({ required: false });
    expect(byName.get('displayName')).toMatchObject({ multiValued: false });
    expect(byName.has('userPassword')).toBe(false);
    expect(schema.entitlement.kinds).toEqual(['group']);
  });

  it('lets the directory hash the password (never clear text) and never returns it', async () => {
    const password = `Pw-${randomUUID()}`;
    const created = await connector.createAccount(account(), ctx(), { password });
    expect(JSON.stringify(created)).not.toMatch(/userPassword/i);
    const raw = new Client({ url: s.url });
    await raw.bind(s.admin.dn, s.admin.password);
    const { searchEntries } = await raw.search(`uid=${created.name},${s.usersDn}`, { scope: 'base', attributes: ['userPassword'] });
    await raw.unbind();
    expect(String(searchEntries[0]!.userPassword)).toMatch(/^\{SSHA\}/);
    expect(await canBind(s.url, `uid=${created.name},${s.usersDn}`, password)).toBe(true);
  });

  it('keeps a groupOfNames valid when its last member is revoked, and drops the placeholder on the next grant', async () => {
    const raw = new Client({ url: s.url });
    await raw.bind(s.admin.dn, s.admin.password);
    await raw.add(`cn=solo,${s.groupsDn}`, { objectClass: ['groupOfNames'], cn: ['solo'], member: ['cn=gatehouse-empty-group-placeholder'] });
    const solo = await uuidOf(connector, 'solo');
    const a = await connector.createAccount(account(), ctx());
    expect(await connector.grant(a.uid, solo, ctx())).toEqual({ changed: true });
    const members = async () => {
      const r = await raw.search(`cn=solo,${s.groupsDn}`, { scope: 'base', attributes: ['member'] });
      return ([] as string[]).concat(r.searchEntries[0]!.member as string | string[]);
    };
    expect(await members()).toEqual([`uid=${a.name},${s.usersDn}`]);
    expect(await connector.revoke(a.uid, solo, ctx())).toEqual({ changed: true });
    expect(await members()).toEqual(['cn=gatehouse-empty-group-placeholder']);
    expect((await connector.getAccount(a.uid, { includeEntitlements: true })).entitlements).toEqual([]);
    await raw.unbind();
  });

  it('renames an account without changing its uid', async () => {
    const a = await connector.createAccount(account(), ctx());
    const renamed = await connector.updateAccount(a.uid, [{ attribute: 'name', op: 'replace', values: [`renamed-${counter}`] }], ctx());
    expect(renamed).toMatchObject({ uid: a.uid, name: `renamed-${counter}` });
    await expectNamedError(connector.updateAccount(a.uid, [{ attribute: 'name', op: 'replace', values: ['y'] }, { attribute: 'mail', op: 'add', values: ['y@x'] }], ctx()), 'Rejected');
  });

  it('applies all deltas of an update or none', async () => {
    const a = await connector.createAccount({ ...account(), attributes: { cn: ['A'], sn: ['A'], mail: ['a@example.org'] } }, ctx());
    // displayName is single-valued: the second part is refused, so the first must not stick.
    await expectNamedError(
      connector.updateAccount(a.uid, [
        { attribute: 'mail', op: 'replace', values: ['b@example.org'] },
        { attribute: 'displayName', op: 'replace', values: ['one', 'two'] },
      ], ctx()),
      'Rejected',
    );
    expect((await connector.getAccount(a.uid)).attributes.mail).toEqual(['a@example.org']);
  });

  it('marks members of privileged groups', async () => {
    const a = await connector.createAccount(account(), ctx());
    await connector.grant(a.uid, await uuidOf(connector, 'admins'), ctx());
    expect((await connector.getAccount(a.uid, { includeEntitlements: true })).privileged).toBe(true);
  });

  it('rotates its own service password and logs in with the new one', async () => {
    const self = build(configFor(s));
    const next = `Rotated-${randomUUID()}`;
    await self.applyCredential({ kind: 'self' }, ctx(), next);
    await self.verifyCredential({ kind: 'self' }, next);
    await expectNamedError(self.verifyCredential({ kind: 'self' }, s.admin.password), 'InvalidCredential');
    await self.close();
    s.admin.password = next;
    await connector.close();
    connector = build(configFor(s));
    expect((await connector.test()).details.boundAs).toBe(s.admin.dn);
  });
});
