// `npm run bench:sync`: a sync flow copying 100,000 rows from one PostgreSQL table to another (upsert
// by key, incremental by a cursor column, the ledger on), run by a whole Gatehouse (API, embedded
// worker, Temporal, Vault), against the same copy done by a bare script with `pg` (keyset pages,
// batched upserts, nothing else), in the same run. Then a second run with nothing changed, and a run
// after 1% of the rows changed. Every copy is checked row for row before its figure is reported.
// Last, the cost of a governed write: GOVERNED people join over SCIM (an account each), and a flow
// grants each a group role through the gate (decided, recorded, applied by its own workflow); the
// figure is from the run's start until every grant is applied, per record, beside a data record's.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { report, startBenchServices, type BenchRow } from './lib.js';
import { createLogger } from '../server/logger.js';
import { startGatehouse } from '../server/server.js';
import { createPostgresTarget } from '../test/helpers/postgres-target.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, withPg } from '../test/helpers/services.js';
import { testCallers, type PersonCredentials } from '../test/helpers/test-callers.js';
import { publishPolicy } from '../test/helpers/publish-policy.js';

const ROWS = Number(process.env.BENCH_SYNC_ROWS ?? 100_000);
const GOVERNED = Number(process.env.BENCH_SYNC_GOVERNED ?? 100);
const PAGE = 5000;

const TABLES = `
  CREATE SCHEMA bench;
  CREATE SEQUENCE bench.change_seq;
  CREATE TABLE bench.src (id bigint PRIMARY KEY, email text NOT NULL, name text, amount numeric, active boolean NOT NULL, changed bigint NOT NULL DEFAULT nextval('bench.change_seq'));
  CREATE INDEX src_changed_idx ON bench.src (changed, id);
  CREATE FUNCTION bench.bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.changed := nextval('bench.change_seq'); RETURN NEW; END $$;
  CREATE TRIGGER src_changed BEFORE UPDATE ON bench.src FOR EACH ROW EXECUTE FUNCTION bench.bump();
  CREATE TABLE bench.dst (id bigint PRIMARY KEY, email text NOT NULL, name text, amount numeric, active boolean NOT NULL, changed bigint NOT NULL);
  CREATE TABLE bench.dst_bare (LIKE bench.dst INCLUDING ALL);`;

/** The bare copy: keyset pages by (changed, id), each upserted in one statement. */
async function bareCopy(url: string, after: [string, string] | null): Promise<{ rows: number; last: [string, string] | null }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let rows = 0;
  let last = after;
  try {
    for (;;) {
      const page = await client.query<{ id: string; email: string; name: string; amount: string; active: boolean; changed: string }>(
        `SELECT id, email, name, amount, active, changed FROM bench.src ${last ? 'WHERE (changed, id) > ($1::bigint, $2::bigint)' : ''} ORDER BY changed, id LIMIT ${PAGE}`,
        last ?? [],
      );
      if (!page.rows.length) break;
      await client.query(
        `INSERT INTO bench.dst_bare AS t SELECT * FROM jsonb_populate_recordset(NULL::bench.dst_bare, $1::jsonb)
         ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, amount = EXCLUDED.amount, active = EXCLUDED.active, changed = EXCLUDED.changed
         WHERE (t.email, t.name, t.amount, t.active, t.changed) IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.name, EXCLUDED.amount, EXCLUDED.active, EXCLUDED.changed)`,
        [JSON.stringify(page.rows)],
      );
      rows += page.rows.length;
      const end = page.rows.at(-1)!;
      last = [end.changed, end.id];
      if (page.rows.length < PAGE) break;
    }
  } finally {
    await client.end();
  }
  return { rows, last };
}

async function sameRows(url: string, table: string): Promise<void> {
  const diff = await withPg(url, (c) =>
    c.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT * FROM bench.src EXCEPT SELECT * FROM ${table}) d`),
  );
  const count = await withPg(url, (c) => c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`));
  if (diff.rows[0]!.n !== 0 || count.rows[0]!.n !== ROWS) throw new Error(`${table} is not a copy of bench.src: ${diff.rows[0]!.n} rows differ, ${count.rows[0]!.n} rows`);
}

/** Birthright accounts on bench-db for everyone; grants of the group from sync flows allowed. */
function governedPolicy(group: string): string {
  return `apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: bench-governed
rules:
  - id: accounts
    match: { sources: [jml], kinds: [create-account] }
    effect: allow
  - id: sync-grants
    match: { sources: [sync], kinds: [grant], entitlements: ["bench-db:${group}"] }
    effect: allow
targets:
  - { connector: bench-db }
birthright:
  accounts:
    - { connector: bench-db, name: "{localPart}" }
  rules:
    - id: everyone
      accounts: [bench-db]
`;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const services = await startBenchServices();
  const rows: BenchRow[] = [];
  try {
    const [db, vault, temporal, target] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
    await withPg(target.superuserUrl, async (c) => {
      await c.query(TABLES);
      await c.query(`GRANT USAGE ON SCHEMA bench TO ${c.escapeIdentifier(target.admin.user)}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA bench TO ${c.escapeIdentifier(target.admin.user)}`);
      await c.query(`INSERT INTO bench.src (id, email, name, amount, active) SELECT n, 'person' || n || '@corp.example', 'Person ' || n, (n % 1000) + 0.25, n % 7 <> 0 FROM generate_series(1, ${ROWS}) n`);
      await c.query('ANALYZE bench.src');
    });

    // The bare script, first: what the machine can do without Gatehouse.
    let started = performance.now();
    const bare = await bareCopy(target.superuserUrl, null);
    const bareMs = performance.now() - started;
    await sameRows(target.superuserUrl, 'bench.dst_bare');
    rows.push({ name: `bare pg copy (${ROWS} rows, pages of ${PAGE})`, value: ROWS / (bareMs / 1000), unit: 'records/s', extra: { seconds: bareMs / 1000 } });

    const gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { LOG_LEVEL: 'warn' }), createLogger({ level: 'warn' }), { announce: () => undefined });
    const orm = await openOrm(db.appUrl, 2);
    const admin: PersonCredentials = await testCallers(orm).person(['admin'], 'Bench Admin');
    const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(`${gatehouse.url}${path}`, { method, headers: { ...admin.headers(), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, body: (await res.json()) as T };
    };
    try {
      const connector = await api('POST', '/api/connectors', {
        name: 'bench-db',
        type: 'postgresql',
        config: {
          ...target.config(),
          objectClasses: [
            { name: 'src', schema: 'bench', table: 'src', cursor: 'changed' },
            { name: 'dst', schema: 'bench', table: 'dst', writable: true },
          ],
        },
      });
      if (connector.status !== 201) throw new Error(`creating the connector failed: ${JSON.stringify(connector.body)}`);
      const flow = `apiVersion: gatehouse.dev/v1\nkind: Flow\nname: bench-copy\nsource: { connector: bench-db, objectClass: src, pageSize: ${PAGE} }\ntarget: { connector: bench-db, objectClass: dst }\n`;
      const published = await api('POST', '/api/flows', { document: flow });
      if (published.status !== 201) throw new Error(`publishing the flow failed: ${JSON.stringify(published.body)}`);

      const runOnce = async () => {
        const t0 = performance.now();
        const run = await api<{ id: string; error?: string }>('POST', '/api/flows/bench-copy/runs');
        if (run.status !== 202) throw new Error(`starting the run failed: ${JSON.stringify(run.body)}`);
        for (;;) {
          const r = await api<{ status: string; read: number; created: number; updated: number; unchanged: number; pages: number; error?: string }>('GET', `/api/flows/bench-copy/runs/${run.body.id}`);
          if (r.body.status === 'failed') throw new Error(`the run failed: ${r.body.error}`);
          if (r.body.status === 'succeeded') return { ms: performance.now() - t0, ...r.body };
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };

      const first = await runOnce();
      await sameRows(target.superuserUrl, 'bench.dst');
      rows.push({
        name: `Gatehouse flow, first run (${ROWS} rows)`,
        value: ROWS / (first.ms / 1000),
        unit: 'records/s',
        target: '>= 10000, within 3x of bare',
        extra: { seconds: first.ms / 1000, pages: first.pages, created: first.created, ratio_to_bare: first.ms / bareMs },
      });

      const second = await runOnce();
      rows.push({ name: 'Gatehouse flow, second run (nothing changed)', value: second.ms, unit: 'ms', extra: { read: second.read, written: second.created + second.updated } });

      const changed = Math.max(1, Math.floor(ROWS / 100));
      await withPg(target.superuserUrl, (c) => c.query(`UPDATE bench.src SET name = name || ' (moved)' WHERE id % 100 = 0`));
      started = performance.now();
      await bareCopy(target.superuserUrl, bare.last);
      const bareDeltaMs = performance.now() - started;
      const third = await runOnce();
      await sameRows(target.superuserUrl, 'bench.dst');
      rows.push({ name: `bare pg copy, ${changed} changed rows`, value: bareDeltaMs, unit: 'ms' });
      rows.push({ name: `Gatehouse flow, ${changed} changed rows`, value: third.ms, unit: 'ms', extra: { read: third.read, updated: third.updated } });

      // Governed writes: people with an account on bench-db, then one grant each, through the gate.
      const asAdmin = async <T>(_as: PersonCredentials | undefined, method: string, path: string, body?: unknown) => api<T>(method, path, body);
      let secondAdmin: Promise<PersonCredentials> | undefined;
      await publishPolicy(asAdmin, admin, () => (secondAdmin ??= testCallers(orm).person(['admin'], 'Bench Second Admin')), governedPolicy(target.groups.analysts));
      const directory = await api<{ directory: { id: string } }>('POST', '/api/directories', { name: 'bench-idp' });
      const token = await api<{ secret: string }>('POST', `/api/directories/${directory.body.directory.id}/tokens`, { label: 'bench' });
      const userName = (i: number) => `g${i}_${target.tag}@bench.test`;
      for (let i = 0; i < GOVERNED; i++) {
        const res = await fetch(`${gatehouse.url}/scim/v2/Users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token.body.secret}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: userName(i), active: true, name: { givenName: 'G', familyName: String(i) } }),
        });
        if (res.status !== 201) throw new Error(`SCIM create failed: ${res.status} ${await res.text()}`);
      }
      const count = async (sql: string) => Number((await orm.em.fork().getConnection().execute<{ n: string }[]>(sql))[0]!.n);
      await until(`${GOVERNED} accounts`, async () => (await count('SELECT count(*) AS n FROM identity_account')) >= GOVERNED, 600_000);
      await withPg(target.superuserUrl, async (c) => {
        await c.query("CREATE TABLE bench.grants (id int PRIMARY KEY, person text NOT NULL, grp text NOT NULL, changed bigint NOT NULL DEFAULT nextval('bench.change_seq'))");
        await c.query(`GRANT SELECT ON bench.grants TO ${c.escapeIdentifier(target.admin.user)}`);
        await c.query('INSERT INTO bench.grants (id, person, grp) SELECT i, $1 || i || $2, $3 FROM generate_series(0, $4 - 1) i', [`g`, `_${target.tag}@bench.test`, target.groups.analysts, GOVERNED]);
      });
      const hr = await api('POST', '/api/connectors', { name: 'bench-hr', type: 'postgresql', config: { ...target.config(), objectClasses: [{ name: 'grants', schema: 'bench', table: 'grants', cursor: 'changed' }] } });
      if (hr.status !== 201) throw new Error(`creating the HR connector failed: ${JSON.stringify(hr.body)}`);
      const grantFlow = `apiVersion: gatehouse.dev/v1\nkind: Flow\nname: bench-grants\nsource: { connector: bench-hr, objectClass: grants, pageSize: 500 }\ntarget: { connector: bench-db, objectClass: memberships }\nmapping: '{ "subject": person, "entitlement": grp }'\nplan: { maxAccessChanges: ${GOVERNED} }\n`;
      const grantPublished = await api('POST', '/api/flows', { document: grantFlow });
      if (grantPublished.status !== 201) throw new Error(`publishing the grants flow failed: ${JSON.stringify(grantPublished.body)}`);
      const g0 = performance.now();
      const grantRun = await api<{ id: string }>('POST', '/api/flows/bench-grants/runs');
      if (grantRun.status !== 202) throw new Error(`starting the grants run failed: ${JSON.stringify(grantRun.body)}`);
      await until('the grants run to end', async () => {
        const r = await api<{ status: string; error?: string; accessChanges: { total: number } }>('GET', `/api/flows/bench-grants/runs/${grantRun.body.id}`);
        if (r.body.status === 'failed') throw new Error(`the grants run failed: ${r.body.error}`);
        return r.body.status === 'succeeded' && r.body.accessChanges.total === GOVERNED;
      }, 600_000);
      const proposedMs = performance.now() - g0;
      await until(`${GOVERNED} grants applied`, async () => (await count(`SELECT count(*) AS n FROM access_change WHERE status = 'applied' AND change ->> 'source' = 'sync'`)) >= GOVERNED, 600_000);
      const governedMs = performance.now() - g0;
      const members = await withPg(target.superuserUrl, (c) => c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = $1', [target.groups.analysts]));
      if (members.rows[0]!.n < GOVERNED) throw new Error(`only ${members.rows[0]!.n} of ${GOVERNED} are members of ${target.groups.analysts}`);
      rows.push({
        name: `governed write: ${GOVERNED} grants through the gate (run start to all applied), per record`,
        value: governedMs / GOVERNED,
        unit: 'ms/record',
        extra: { seconds: governedMs / 1000, grants_per_second: GOVERNED / (governedMs / 1000), run_seconds: proposedMs / 1000, data_record_ms: first.ms / ROWS },
      });
    } finally {
      await orm.close(true);
      await gatehouse.stop();
      await temporal.close();
      await target.drop();
      await db.drop();
    }
  } finally {
    await services.stop();
  }
  report('sync', rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
