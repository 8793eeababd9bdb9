// `npm run bench:scim-limits`: the heaviest SCIM requests the server accepts under its default limits
// (1 MiB bodies, 1,000 PATCH operations, 1,000 Bulk operations, 256 values per attribute), each sent
// to the real server while a second loop keeps asking /healthz. A request that held the event loop
// (one PATCH adding 20,000 e-mails once held every request for 27 s) shows as /healthz latency.
// Reports each request's time and /healthz p50/max while it runs, beside /healthz on an idle server.
import { startBenchServices, percentile, report, type BenchRow } from './lib.js';
import { prepareScimBench, startBenchServer, type BenchServer } from './bench-server.js';
import { suffix, withPg } from '../test/helpers/services.js';
import { DEFAULT_BULK_LIMITS } from '../scim/index.js';
import { MAX_VALUES_PER_ATTRIBUTE } from '../scim/scim-values.js';
import { MAX_MEMBERS_PER_PATCH } from '../scim/scim-patch.js';

const MEMBERS = 20_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** Asks /healthz one request after another, 10 ms apart, until stopped; returns each latency in ms. */
function probeHealth(url: string): { stop: () => Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const r = await fetch(`${url}/healthz`);
      await r.arrayBuffer();
      latencies.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return latencies.sort((a, b) => a - b);
    },
  };
}

const services = await startBenchServices();
let server: BenchServer | undefined;
const rows: BenchRow[] = [];
try {
  // A directory and its token, as an operator makes them.
  const { db, vault, temporal, port, config, directoryId, token } = await prepareScimBench('bench-limits');

  // Users to be members, seeded in one statement.
  await withPg(db.ownerUrl, async (c) => {
    await c.query(
      `INSERT INTO scim_user (id, directory_id, resource, created_at, last_modified)
       SELECT gen_random_uuid(), $1, jsonb_build_object('userName', 'member' || n || '@example.com', 'active', true), now(), now()
         FROM generate_series(1, $2::int) AS n`,
      [directoryId, MEMBERS],
    );
    await c.query('VACUUM ANALYZE scim_user');
  });
  const memberIds = await withPg(db.ownerUrl, async (c) => (await c.query<{ id: string }>('SELECT id FROM scim_user WHERE directory_id = $1 ORDER BY seq', [directoryId])).rows.map((r) => r.id));

  server = await startBenchServer({ port, config, db, vault });
  const { url } = server;
  const scim = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const r = await fetch(`${url}/scim/v2${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const created = async (path: string, body: unknown) => {
    const r = await scim('POST', path, body);
    if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return (r.body as { id: string }).id;
  };

  const idle = probeHealth(url);
  await new Promise((r) => setTimeout(r, 3000));
  const idleMs = await idle.stop();
  rows.push({ name: 'GET /healthz on an idle server (baseline)', value: percentile(idleMs, 50), unit: 'ms p50', extra: { p99_ms: percentile(idleMs, 99), max_ms: idleMs.at(-1)!, samples: idleMs.length } });

  const emails = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ value: `mail${from + i}@example.com`, type: 'work' }));
  const bodyBytes = (body: unknown) => Buffer.byteLength(JSON.stringify(body));
  let serial = 0;

  const scenarios: { name: string; expect: number; prepare: () => Promise<{ method: string; path: string; body: unknown }> }[] = [
    {
      name: 'PATCH: one add of 20,000 e-mails (refused)',
      expect: 400,
      prepare: async () => {
        const id = await created('/Users', { schemas: [USER], userName: `stall${++serial}@example.com` });
        return { method: 'PATCH', path: `/Users/${id}`, body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'emails', value: emails(20_000) }] } };
      },
    },
    {
      name: `PATCH: 1,000 operations over ${MAX_VALUES_PER_ATTRIBUTE} e-mails`,
      expect: 200,
      prepare: async () => {
        const id = await created('/Users', { schemas: [USER], userName: `ops${++serial}@example.com` });
        // The attribute at its cap, then every operation walks all of it: an add of a value already
        // there, a removal by a filter and one by value (Entra's form) matching none, and a rewrite
        // of every value's type.
        const ops: unknown[] = [{ op: 'replace', path: 'emails', value: emails(MAX_VALUES_PER_ATTRIBUTE) }];
        for (let i = 1; i < 1000; i++) {
          const kind = i % 4;
          ops.push(
            kind === 0
              ? { op: 'add', path: 'emails', value: [{ value: `mail${i % MAX_VALUES_PER_ATTRIBUTE}@example.com`, type: 'work' }] }
              : kind === 1
                ? { op: 'remove', path: `emails[value eq "none${i}@example.com"]` }
                : kind === 2
                  ? { op: 'remove', path: 'emails', value: [{ value: `none${i}@example.com` }] }
                  : { op: 'replace', path: 'emails[type eq "work"].type', value: 'work' },
          );
        }
        return { method: 'PATCH', path: `/Users/${id}`, body: { schemas: [PATCH_OP], Operations: ops } };
      },
    },
    {
      name: `PATCH: one add of ${MEMBERS.toLocaleString('en')} group members (refused)`,
      expect: 400,
      prepare: async () => {
        const id = await created('/Groups', { schemas: [GROUP], displayName: `big${++serial}` });
        return { method: 'PATCH', path: `/Groups/${id}`, body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: memberIds.map((value) => ({ value })) }] } };
      },
    },
    {
      name: `PATCH: one add of ${MAX_MEMBERS_PER_PATCH.toLocaleString('en')} group members`,
      expect: 204,
      prepare: async () => {
        const id = await created('/Groups', { schemas: [GROUP], displayName: `most${++serial}` });
        return { method: 'PATCH', path: `/Groups/${id}`, body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: memberIds.slice(0, MAX_MEMBERS_PER_PATCH).map((value) => ({ value })) }] } };
      },
    },
    {
      name: `PATCH: one removal of ${MAX_MEMBERS_PER_PATCH.toLocaleString('en')} members of a group of ${MEMBERS.toLocaleString('en')}`,
      expect: 204,
      prepare: async () => {
        const id = await created('/Groups', { schemas: [GROUP], displayName: `full${++serial}` });
        for (let at = 0; at < MEMBERS; at += MAX_MEMBERS_PER_PATCH) {
          const add = await scim('PATCH', `/Groups/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: memberIds.slice(at, at + MAX_MEMBERS_PER_PATCH).map((value) => ({ value })) }] });
          if (add.status !== 204) throw new Error(`seeding members: ${add.status}`);
        }
        return { method: 'PATCH', path: `/Groups/${id}`, body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: memberIds.slice(0, MAX_MEMBERS_PER_PATCH).map((value) => ({ value })) }] } };
      },
    },
    {
      name: `Bulk: ${DEFAULT_BULK_LIMITS.maxOperations} POST /Users`,
      expect: 200,
      prepare: async () => {
        const run = ++serial;
        const ops = Array.from({ length: DEFAULT_BULK_LIMITS.maxOperations }, (_, i) => ({
          method: 'POST',
          path: '/Users',
          bulkId: `u${i}`,
          data: { schemas: [USER], userName: `bulk${run}-${i}-${suffix()}@example.com`, emails: emails(2, i) },
        }));
        return { method: 'POST', path: '/Bulk', body: { schemas: [BULK], Operations: ops } };
      },
    },
    {
      name: `Bulk: ${DEFAULT_BULK_LIMITS.maxOperations} POST /Groups, each naming the next by bulkId`,
      expect: 200,
      prepare: async () => {
        const run = ++serial;
        const n = DEFAULT_BULK_LIMITS.maxOperations;
        // Every group waits for the one after it, so the operations run last to first, a pass each.
        const ops = Array.from({ length: n }, (_, i) => ({
          method: 'POST',
          path: '/Groups',
          bulkId: `g${i}`,
          data: { schemas: [GROUP], displayName: `chain${run}-${i}`, ...(i + 1 < n ? { members: [{ value: `bulkId:g${i + 1}`, type: 'Group' }] } : {}) },
        }));
        return { method: 'POST', path: '/Bulk', body: { schemas: [BULK], Operations: ops } };
      },
    },
  ];

  for (const s of scenarios.filter((x) => !process.env.BENCH_ONLY || x.name.includes(process.env.BENCH_ONLY))) {
    const times: number[] = [];
    const health: number[] = [];
    let bytes = 0;
    for (let run = 0; run < RUNS; run++) {
      const req = await s.prepare();
      bytes = bodyBytes(req.body);
      const probe = probeHealth(url);
      await new Promise((r) => setTimeout(r, 50));
      const t = performance.now();
      const r = await scim(req.method, req.path, req.body);
      times.push(performance.now() - t);
      health.push(...(await probe.stop()));
      if (r.status !== s.expect) throw new Error(`${s.name}: expected ${s.expect}, got ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      const failedOps = req.path === '/Bulk' ? (r.body as { Operations: { status: string }[] }).Operations.filter((o) => !o.status.startsWith('2')).length : 0;
      if (failedOps) throw new Error(`${s.name}: ${failedOps} bulk operations failed`);
    }
    times.sort((a, b) => a - b);
    health.sort((a, b) => a - b);
    console.log(`${s.name}: ${percentile(times, 50).toFixed(0)} ms, /healthz p50 ${percentile(health, 50).toFixed(1)} ms, max ${health.at(-1)!.toFixed(1)} ms`);
    rows.push({
      name: s.name,
      value: percentile(times, 50),
      unit: 'ms',
      target: '< 1000 ms, /healthz < 50 ms meanwhile',
      extra: { max_ms: times.at(-1)!, body_kb: bytes / 1024, healthz_p50_ms: percentile(health, 50), healthz_max_ms: health.at(-1)!, healthz_samples: health.length, result: times.at(-1)! < 1000 && health.at(-1)! < 50 ? 'met' : 'missed' },
    });
  }
  report('scim-limits', rows);

  await server.stop();
  server = undefined;
  await temporal.close();
  await db.drop();
} finally {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  await services.stop();
}
