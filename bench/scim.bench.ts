// `npm run bench:scim`: the SCIM endpoint of the real server (started as `gatehouse start` in its own
// process) over real PostgreSQL with 100,000 users seeded in one INSERT … SELECT, under 32 concurrent
// connections from autocannon: userName lookups, 100-item pages, creates, and PATCH deactivations.
// Reports requests/s, p50 and p99 latency, errors, and the server's memory.
import autocannon from 'autocannon';
import { startBenchServices, report, type BenchRow } from './lib.js';
import { cpuSecondsOf, memoryOf, prepareScimBench, startBenchServer, type BenchServer } from './bench-server.js';
import { suffix, withPg } from '../test/helpers/services.js';

const USERS = 100_000;
const GROUPS = 100;
const CONNECTIONS = 32;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

async function load(name: string, url: string, token: string, request: autocannon.Request, seconds = DURATION_S): Promise<autocannon.Result> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' },
    requests: [request],
  });
  console.log(`${name}: ${result.requests.average} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}`);
  return result;
}

const services = await startBenchServices();
let server: BenchServer | undefined;
const rows: BenchRow[] = [];
try {
  // A directory and its token, as an operator makes them.
  const { db, vault, temporal, port, config, directoryId, token } = await prepareScimBench('bench');

  // 100,000 users and 100 groups (each user in one) in a few statements, not 100,000 requests.
  const seeded = Date.now();
  await withPg(db.ownerUrl, async (c) => {
    await c.query(
      `INSERT INTO scim_user (id, directory_id, resource, created_at, last_modified)
       SELECT gen_random_uuid(), $1, jsonb_build_object(
                'userName', 'user' || n || '@example.com',
                'externalId', 'ext-' || n,
                'name', jsonb_build_object('givenName', 'Given' || n, 'familyName', 'Family' || (n % 977)),
                'displayName', 'User ' || n,
                'active', true,
                'emails', jsonb_build_array(jsonb_build_object('value', 'user' || n || '@example.com', 'type', 'work', 'primary', true)),
                'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', jsonb_build_object('department', 'Dept ' || (n % 40), 'employeeNumber', n::text)),
              date_trunc('milliseconds', now()), date_trunc('milliseconds', now())
         FROM generate_series(1, $2::int) AS n`,
      [directoryId, USERS],
    );
    await c.query(
      `INSERT INTO scim_group (id, directory_id, resource, created_at, last_modified)
       SELECT gen_random_uuid(), $1, jsonb_build_object('displayName', 'Group ' || n), now(), now() FROM generate_series(0, $2::int - 1) AS n`,
      [directoryId, GROUPS],
    );
    await c.query(
      `INSERT INTO scim_group_member (directory_id, group_id, member_id, member_type)
       SELECT $1, g.id, u.id, 'User'
         FROM (SELECT id, row_number() OVER (ORDER BY seq) AS n FROM scim_user WHERE directory_id = $1) u
         JOIN (SELECT id, row_number() OVER (ORDER BY seq) - 1 AS n FROM scim_group WHERE directory_id = $1) g ON g.n = u.n % $2`,
      [directoryId, GROUPS],
    );
    // What autovacuum does for settled tables; it lets the listing index answer without the heap.
    for (const table of ['scim_user', 'scim_group', 'scim_group_member']) await c.query(`VACUUM ANALYZE ${table}`);
  });
  const seedSeconds = (Date.now() - seeded) / 1000;
  console.log(`seeded ${USERS} users and ${GROUPS} groups in ${seedSeconds.toFixed(1)} s`);
  const ids = await withPg(db.ownerUrl, async (c) => (await c.query<{ id: string }>('SELECT id FROM scim_user WHERE directory_id = $1 ORDER BY seq', [directoryId])).rows.map((r) => r.id));

  // The plan PostgreSQL picks for Okta's lookup at this size (no hints).
  const plan = await withPg(db.ownerUrl, async (c) =>
    (await c.query(`EXPLAIN SELECT r.id FROM scim_user r WHERE r.directory_id = $1 AND lower(r.user_name COLLATE pg_c_utf8) = lower($2::text COLLATE pg_c_utf8)`, [directoryId, 'user4242@example.com'])).rows
      .map((r: Record<string, string>) => r['QUERY PLAN'])
      .join('\n'),
  );
  console.log(`userName lookup plan:\n${plan}`);

  // The real server, as `gatehouse start` runs it, in its own process.
  server = await startBenchServer({ port, config, db, vault });
  const { url, child } = server;
  const idle = memoryOf(child.pid!);

  const lookup = (): autocannon.Request => ({
    method: 'GET',
    setupRequest: (req) => ({ ...req, path: `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "user${1 + Math.floor(Math.random() * USERS)}@example.com"`)}` }),
  });
  const page = (): autocannon.Request => ({
    method: 'GET',
    setupRequest: (req) => ({ ...req, path: `/scim/v2/Users?startIndex=${1 + Math.floor(Math.random() * (USERS - 100))}&count=100` }),
  });
  let created = 0;
  const create = (): autocannon.Request => ({
    method: 'POST',
    path: '/scim/v2/Users',
    setupRequest: (req) => ({
      ...req,
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: `new${++created}-${suffix()}@example.com`,
        name: { givenName: 'New', familyName: 'Hire' },
        emails: [{ value: `new${created}@example.com`, type: 'work', primary: true }],
        active: true,
      }),
    }),
  });
  let next = 0;
  const deactivate = (): autocannon.Request => ({
    method: 'PATCH',
    setupRequest: (req) => ({ ...req, path: `/scim/v2/Users/${ids[next++ % ids.length]}`, body: JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] }) }),
  });

  const scenarios: { name: string; request: () => autocannon.Request; target?: string; check?: (r: autocannon.Result) => string | undefined }[] = [
    // The admin app's HTTP stack alone (security headers, request logging, Express), for comparison:
    // SCIM requests take the same headers and log but not Express's router.
    { name: 'GET /healthz (admin app via Express, no database)', request: () => ({ method: 'GET', path: '/healthz' }) },
    { name: 'GET /Users?filter=userName eq "…"', request: lookup, target: '>= 3000 req/s, p99 <= 25 ms', check: (r) => (r.requests.average >= 3000 && r.latency.p99 <= 25 ? undefined : 'missed') },
    { name: 'GET /Users?startIndex=…&count=100', request: page },
    { name: 'POST /Users', request: create, target: '>= 500 req/s', check: (r) => (r.requests.average >= 500 ? undefined : 'missed') },
    { name: 'PATCH /Users/{id} (deactivate, no path)', request: deactivate },
  ];
  // BENCH_ONLY=<text> runs only the scenarios whose name contains it.
  for (const s of scenarios.filter((x) => !process.env.BENCH_ONLY || x.name.includes(process.env.BENCH_ONLY))) {
    await load(`${s.name} (warm-up)`, url, token, s.request(), 3);
    const cpuBefore = cpuSecondsOf(child.pid!);
    const r = await load(s.name, url, token, s.request());
    const cpuPerRequestUs = ((cpuSecondsOf(child.pid!) - cpuBefore) / Math.max(1, r.requests.total)) * 1e6;
    const mem = memoryOf(child.pid!);
    rows.push({
      name: s.name,
      value: r.requests.average,
      unit: 'req/s',
      ...(s.target ? { target: s.target } : {}),
      extra: { p50_ms: r.latency.p50, p99_ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts, server_cpu_us_per_req: cpuPerRequestUs, rss_mb: mem.rssMb, ...(s.check ? { result: s.check(r) ?? 'met' } : {}) },
    });
  }
  const end = memoryOf(child.pid!);
  rows.push({ name: 'server memory: RSS idle after start', value: idle.rssMb, unit: 'MB' });
  rows.push({ name: 'server memory: RSS after the runs / peak', value: end.rssMb, unit: 'MB', extra: { peak_mb: end.peakMb } });
  rows.push({ name: `seed ${USERS} users + ${GROUPS} groups + memberships`, value: seedSeconds, unit: 's' });
  report('scim', rows);
  const eventsRow = await withPg(db.ownerUrl, async (c) => (await c.query<{ n: string }>('SELECT count(*) AS n FROM scim_outbox')).rows[0]!.n);
  console.log(`identity events written to the outbox during the run: ${eventsRow}`);

  await server.stop();
  server = undefined;
  await temporal.close();
  await db.drop();
} finally {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  await services.stop();
}
