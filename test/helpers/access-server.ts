// A running Gatehouse for the access API and inbox tests, set up the way an operator would: a
// connector to a real PostgreSQL target and a directory configured through the API, people pushed
// over SCIM by "the identity provider", and people signed in with those people's e-mails.
import { createLogger, type Logger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import type { Role } from '../../shared/auth/permissions.js';
import { createPostgresTarget, type PostgresTarget } from './postgres-target.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, sharedTestDataDir, testConfig, withPg, type MikroORM, type TestDatabase, type TestTemporal } from './services.js';
import { spawnTestWorker, type CliRun } from './cli.js';
import { TEST_ISSUER, testCallers, type PersonCredentials } from './test-callers.js';
import { waitUntil } from './access-world.js';
import { publishPolicy } from './publish-policy.js';

export interface ServerPerson {
  /** The directory identity id. */
  id: string;
  email: string;
  /** Signed in (absent for a non-human identity). */
  as?: PersonCredentials;
}

export interface AccessServer {
  gatehouse: RunningGatehouse;
  db: TestDatabase;
  orm: MikroORM;
  temporal: TestTemporal;
  target: PostgresTarget;
  connector: { id: string; name: string };
  directoryId: string;
  admin: PersonCredentials;
  api<T = Record<string, unknown>>(as: PersonCredentials | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  person(key: string, spec: { name: string; roles?: Role[]; department?: string; manager?: ServerPerson; userType?: string; signIn?: boolean }): Promise<ServerPerson>;
  publish(yaml: string): Promise<string>;
  /** Waits until a request reaches one of these statuses (as the admin sees it). */
  waitForStatus(requestId: string, statuses: string[]): Promise<Record<string, unknown>>;
  membershipsOf(roleName: string): Promise<string[]>;
  /** A worker as a process of its own (`gatehouse worker`), for a server started with GATEHOUSE_EMBEDDED_WORKER=false. */
  spawnWorker(env?: Record<string, string>): CliRun;
  close(): Promise<void>;
}

/** `log`: where the server logs (by default nowhere); a test that reads the logs passes its own. */
export async function startAccessServer(overrides: Record<string, string> = {}, options: { log?: Logger } = {}): Promise<AccessServer> {
  const [db, vault, temporal, target] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
  const gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, overrides), options.log ?? createLogger({ level: 'silent' }), { announce: () => undefined });
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

  const connectorName = `pg-${target.tag}`;
  const connector = await api<{ id: string }>(admin, 'POST', '/api/connectors', { name: connectorName, type: 'postgresql', config: target.config() });
  if (connector.status !== 201) throw new Error(`creating the connector failed: ${JSON.stringify(connector.body)}`);
  const directory = await api<{ directory: { id: string } }>(admin, 'POST', '/api/directories', { name: `acme-${target.tag}`, signInIssuers: [TEST_ISSUER] });
  const token = await api<{ secret: string }>(admin, 'POST', `/api/directories/${directory.body.directory.id}/tokens`, { label: 'test IdP' });

  const server: AccessServer = {
    gatehouse,
    db,
    orm,
    temporal,
    target,
    connector: { id: connector.body.id, name: connectorName },
    directoryId: directory.body.directory.id,
    admin,
    api,

    async person(key, spec) {
      const email = `${key}@acme-${target.tag}.test`;
      const res = await fetch(`${gatehouse.url}/scim/v2/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.body.secret}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify({
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
          userName: email,
          displayName: spec.name,
          emails: [{ value: email, primary: true }],
          userType: spec.userType ?? 'Employee',
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { ...(spec.department ? { department: spec.department } : {}), ...(spec.manager ? { manager: { value: spec.manager.id } } : {}) },
        }),
      });
      if (res.status !== 201) throw new Error(`SCIM create failed: ${await res.text()}`);
      const id = ((await res.json()) as { id: string }).id;
      if (spec.signIn === false) return { id, email };
      return { id, email, as: await callers.person(spec.roles ?? [], spec.name, email) };
    },

    publish(yaml) {
      return publishPolicy(api, admin, secondAdmin, yaml);
    },

    waitForStatus(requestId, statuses) {
      return waitUntil(`request ${requestId} to be ${statuses.join(' or ')}`, async () => {
        const r = await api<{ status: string }>(admin, 'GET', `/api/requests/${requestId}`);
        return r.status === 200 && statuses.includes(r.body.status) ? (r.body as Record<string, unknown>) : undefined;
      });
    },

    async membershipsOf(roleName) {
      return withPg(target.superuserUrl, async (c) =>
        (
          await c.query<{ rolname: string }>(
            'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1',
            [roleName],
          )
        ).rows.map((r) => r.rolname),
      );
    },

    spawnWorker(env = {}) {
      return spawnTestWorker({ db, vault, temporal, dataDir: sharedTestDataDir() }, env);
    },

    async close() {
      await orm.close(true);
      await gatehouse.stop();
      await temporal.close();
      await target.drop();
      await db.drop();
    },
  };
  return server;
}

/** The HR object classes sync flow tests read and write: `people` (by its `changed` cursor) and `people-copy` (writable). */
export const HR_CLASSES = [
  { name: 'people', schema: 'hr', table: 'people', cursor: 'changed' },
  { name: 'people-copy', schema: 'hr', table: 'people_copy', writable: true },
];

/** A PostgreSQL connector `hr-<tag>` on the server's target database with these object classes. Returns its name. */
export async function createHrConnector(s: AccessServer, objectClasses: Record<string, unknown>[] = HR_CLASSES): Promise<string> {
  const name = `hr-${s.target.tag}`;
  const created = await s.api(s.admin, 'POST', '/api/connectors', { name, type: 'postgresql', config: { ...s.target.config(), objectClasses } });
  if (created.status !== 201) throw new Error(`creating connector ${name} failed: ${created.status} ${JSON.stringify(created.body)}`);
  return name;
}
