// A whole Gatehouse for the joiner-mover-leaver tests, set up as an operator would: the server
// (SCIM, API, dispatcher; the worker in-process unless a test runs it as a process of its own), a
// PostgreSQL target and an OpenLDAP target reached through their connectors (secrets in Vault), a
// directory with a token, and an admin. People are pushed over SCIM through the real HTTP endpoint.
import { Client as LdapClient } from 'ldapts';
import type pg from 'pg';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { createPostgresTarget, type PostgresTarget } from './postgres-target.js';
import { startSlapd, type Slapd } from './slapd.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, sharedTestDataDir, testConfig, withPg, type MikroORM, type TestDatabase, type TestTemporal, type TestVault } from './services.js';
import { TEST_ISSUER, testCallers, type PersonCredentials } from './test-callers.js';
import { waitUntil } from './access-world.js';
import { publishPolicy } from './publish-policy.js';
import { spawnTestWorker, type CliRun } from './cli.js';

const LDAP_SEED = (suffix: string) => `
dn: uid=seed,ou=people,${suffix}
objectClass: inetOrgPerson
uid: seed
cn: Seed Person
sn: Person

dn: cn=engineers,ou=groups,${suffix}
objectClass: groupOfNames
cn: engineers
member: uid=seed,ou=people,${suffix}

dn: cn=finance,ou=groups,${suffix}
objectClass: groupOfNames
cn: finance
member: uid=seed,ou=people,${suffix}

dn: cn=vpn,ou=groups,${suffix}
objectClass: groupOfNames
cn: vpn
member: uid=seed,ou=people,${suffix}
`;

export interface PersonInput {
  key: string;
  name: string;
  department?: string;
  title?: string;
  userType?: string;
  manager?: string;
  active?: boolean;
}

export interface RunBody {
  id: string;
  kind: string;
  status: string;
  identityId?: string;
  eventId?: string;
  eventKind?: string;
  steps: { changeId: string; kind: string; connectorName: string; entitlementId?: string; status: string; compensation?: string; error?: { type: string; message: string } }[];
  error?: { type: string; message: string };
  timeline?: { seq: number; action: string; correlation?: { changeId?: string }; details?: Record<string, unknown> }[];
  workflow?: { status: string };
}

export interface JmlWorld {
  gatehouse: RunningGatehouse;
  db: TestDatabase;
  vault: TestVault;
  orm: MikroORM;
  temporal: TestTemporal;
  pg: PostgresTarget;
  ldap: Slapd;
  /** Connector instance names and ids. */
  connectors: { pg: { id: string; name: string }; ldap: { id: string; name: string } };
  directoryId: string;
  admin: PersonCredentials;
  /** The target's names of the people-to-be: unique per world (roles are cluster-wide). */
  login(key: string): string;
  api<T = Record<string, unknown>>(as: PersonCredentials | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  scim(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** POST /scim/v2/Users as the identity provider; returns the identity id. */
  join(p: PersonInput): Promise<string>;
  /** PATCH /scim/v2/Users/:id with replace operations. */
  patch(id: string, operations: { op: 'replace' | 'add' | 'remove'; path?: string; value?: unknown }[]): Promise<void>;
  publish(yaml: string): Promise<string>;
  runsOf(identityId: string): Promise<RunBody[]>;
  run(id: string): Promise<RunBody>;
  /** Waits for the n-th run (1-based, oldest first) of the identity to end. */
  waitForRun(identityId: string, n?: number, timeoutMs?: number): Promise<RunBody>;
  pgGroupsOf(login: string): Promise<string[]>;
  pgRoleExists(login: string): Promise<boolean>;
  pgCanLogIn(login: string): Promise<boolean>;
  pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T>;
  ldapGroupsOf(login: string): Promise<string[]>;
  ldapAccount(login: string): Promise<{ exists: boolean; locked: boolean }>;
  ldapRoot<T>(fn: (c: LdapClient) => Promise<T>): Promise<T>;
  /** A worker as a process of its own (`gatehouse worker`), pointed at this world's services. */
  spawnWorker(): CliRun;
  close(): Promise<void>;
}

export async function startJmlWorld(options: { embeddedWorker?: boolean } = {}): Promise<JmlWorld> {
  const [db, vault, temporal, pg, ldap] = await Promise.all([
    createTestDatabase(),
    createTestVault(),
    connectTestTemporal(),
    createPostgresTarget(),
    startSlapd({ seedLdif: LDAP_SEED('dc=example,dc=org'), parentDir: sharedTestDataDir() }),
  ]);
  const config = { IDENTITY_EVENT_POLL_MS: '100', RECONCILE_INTERVAL_MINUTES: '10080', GATEHOUSE_EMBEDDED_WORKER: options.embeddedWorker === false ? 'false' : 'true' };
  const gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, config), createLogger({ level: 'silent' }), { announce: () => undefined });
  const orm = await openOrm(db.appUrl, 2);
  const callers = testCallers(orm);
  const admin = await callers.person(['admin'], 'Ada Admin');
  // Approves publications after the first (the policy's default needs a second admin), made when first needed.
  let second: Promise<PersonCredentials> | undefined;
  const secondAdmin = () => (second ??= callers.person(['admin'], 'Bea Second-Admin'));

  const api = async <T>(as: PersonCredentials | undefined, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gatehouse.url}${path}`, {
      method,
      headers: { ...(as ? as.headers() : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };
  const created = async (what: string, p: Promise<{ status: number; body: Record<string, unknown> }>) => {
    const r = await p;
    if (r.status !== 201) throw new Error(`${what} failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  const pgName = `pg-${pg.tag}`;
  const ldapName = `ldap-${pg.tag}`;
  const pgConnector = await created('the PostgreSQL connector', api(admin, 'POST', '/api/connectors', { name: pgName, type: 'postgresql', config: pg.config() }));
  const ldapConnector = await created(
    'the LDAP connector',
    api(admin, 'POST', '/api/connectors', { name: ldapName, type: 'ldap', config: { url: ldap.url, bindDn: ldap.admin.dn, bindPassword: ldap.admin.password, usersDn: ldap.usersDn, groupsDn: ldap.groupsDn } }),
  );
  const directory = (await created('the directory', api(admin, 'POST', '/api/directories', { name: `acme-${pg.tag}`, signInIssuers: [TEST_ISSUER] }))) as { directory: { id: string } };
  const token = (await created('the SCIM token', api(admin, 'POST', `/api/directories/${directory.directory.id}/tokens`, { label: 'test IdP' }))) as { secret: string };

  const scim = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gatehouse.url}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token.secret}`, ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  const login = (key: string) => `${key}_${pg.tag}`;
  const ldapUser = (l: string) => `uid=${l},${ldap.usersDn}`;
  const withLdap = async <T>(fn: (c: LdapClient) => Promise<T>) => {
    const c = new LdapClient({ url: ldap.url });
    try {
      await c.bind(ldap.admin.dn, ldap.admin.password);
      return await fn(c);
    } finally {
      await c.unbind().catch(() => undefined);
    }
  };
  const pgAdminUrl = () => {
    const u = new URL(pg.superuserUrl);
    u.username = pg.admin.user;
    u.password = pg.admin.password;
    return u.toString();
  };

  const world: JmlWorld = {
    gatehouse,
    db,
    vault,
    orm,
    temporal,
    pg,
    ldap,
    connectors: { pg: { id: String(pgConnector.id), name: pgName }, ldap: { id: String(ldapConnector.id), name: ldapName } },
    directoryId: directory.directory.id,
    admin,
    login,
    api,
    scim,

    async join(p) {
      const userName = `${login(p.key)}@acme.test`;
      const [given, ...rest] = p.name.split(' ');
      const res = await scim('POST', '/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
        userName,
        name: { givenName: given, familyName: rest.join(' ') || given },
        displayName: p.name,
        emails: [{ value: userName, primary: true }],
        userType: p.userType ?? 'Employee',
        active: p.active ?? true,
        ...(p.title ? { title: p.title } : {}),
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { ...(p.department ? { department: p.department } : {}), ...(p.manager ? { manager: { value: p.manager } } : {}) },
      });
      if (res.status !== 201) throw new Error(`SCIM create failed: ${res.status} ${JSON.stringify(res.body)}`);
      return String(res.body.id);
    },

    async patch(id, operations) {
      const res = await scim('PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: operations });
      if (res.status !== 200 && res.status !== 204) throw new Error(`SCIM patch failed: ${res.status} ${JSON.stringify(res.body)}`);
    },

    publish(yaml) {
      return publishPolicy(api, admin, secondAdmin, yaml);
    },

    async runsOf(identityId) {
      const res = await api<{ runs: RunBody[] }>(admin, 'GET', `/api/runs?identity=${identityId}&limit=200`);
      if (res.status !== 200) throw new Error(`listing runs failed: ${JSON.stringify(res.body)}`);
      return res.body.runs.reverse();
    },

    async run(id) {
      const res = await api<RunBody>(admin, 'GET', `/api/runs/${id}`);
      if (res.status !== 200) throw new Error(`reading run ${id} failed: ${JSON.stringify(res.body)}`);
      return res.body;
    },

    waitForRun(identityId, n = 1, timeoutMs = 120_000) {
      return waitUntil(
        `run ${n} of ${identityId} to end`,
        async () => {
          const run = (await world.runsOf(identityId))[n - 1];
          return run && run.status !== 'running' ? world.run(run.id) : undefined;
        },
        timeoutMs,
      );
    },

    async pgGroupsOf(l) {
      return withPg(pg.superuserUrl, async (c) =>
        (await c.query<{ rolname: string }>('SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1', [l])).rows.map((r) => r.rolname),
      );
    },
    async pgRoleExists(l) {
      return withPg(pg.superuserUrl, async (c) => ((await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [l])).rowCount ?? 0) > 0);
    },
    async pgCanLogIn(l) {
      return withPg(pg.superuserUrl, async (c) => (await c.query<{ ok: boolean }>('SELECT rolcanlogin AND rolconnlimit <> 0 AS ok FROM pg_roles WHERE rolname = $1', [l])).rows[0]?.ok ?? false);
    },
    pgAdmin: (fn) => withPg(pgAdminUrl(), fn),

    async ldapGroupsOf(l) {
      return withLdap(async (c) => {
        const { searchEntries } = await c.search(ldap.groupsDn, { scope: 'one', filter: `(member=${ldapUser(l)})`, attributes: ['cn'] });
        return searchEntries.map((e) => String(e.cn)).sort();
      });
    },
    async ldapAccount(l) {
      return withLdap(async (c) => {
        try {
          const { searchEntries } = await c.search(ldapUser(l), { scope: 'base', attributes: ['pwdAccountLockedTime'] });
          const locked = searchEntries[0]?.pwdAccountLockedTime;
          return { exists: searchEntries.length > 0, locked: Array.isArray(locked) ? locked.length > 0 : Boolean(locked) };
        } catch (err) {
          if ((err as { code?: number }).code === 32) return { exists: false, locked: false };
          throw err;
        }
      });
    },
    ldapRoot: withLdap,

    spawnWorker() {
      return spawnTestWorker({ db, vault, temporal, dataDir: sharedTestDataDir() });
    },

    async close() {
      await orm.close(true);
      await gatehouse.stop();
      await temporal.close();
      await ldap.stop();
      await pg.drop();
      await db.drop();
    },
  };
  return world;
}

/** A policy with birthright on both targets: everyone gets accounts; Engineering and Finance get their groups. */
export function birthrightPolicy(w: JmlWorld, extra: { rules?: string; birthrightRules?: string; targets?: string } = {}): string {
  const pg = w.connectors.pg.name;
  const ldap = w.connectors.ldap.name;
  return `
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: jml-test
rules:
  - id: birthright
    match: { sources: [jml, reconcile], kinds: [create-account, enable, grant] }
    effect: allow
${extra.rules ?? ''}
targets:
  - { connector: ${pg} }
  - { connector: ${ldap} }
${extra.targets ?? ''}
birthright:
  accounts:
    - { connector: ${pg}, name: "{localPart}" }
    - { connector: ${ldap}, name: "{localPart}", attributes: { cn: ["{displayName}"], sn: ["{familyName}"], mail: ["{email}"] } }
  rules:
    - id: everyone
      accounts: [${pg}, ${ldap}]
      entitlements: ["${ldap}:vpn"]
    - id: engineering
      when: { departments: [Engineering] }
      entitlements: ["${pg}:${w.pg.groups.analysts}", "${ldap}:engineers"]
    - id: finance
      when: { departments: [Finance] }
      entitlements: ["${pg}:${w.pg.groups.auditors}", "${ldap}:finance"]
${extra.birthrightRules ?? ''}
`;
}
