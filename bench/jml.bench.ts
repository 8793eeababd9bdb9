// `npm run bench:jml`: joiners per second end to end. Each joiner is a SCIM POST through the real
// HTTP endpoint, then the ledger recorder, the outbox dispatcher, signal-with-start of the person's
// workflow, the birthright plan, and five changes (an account on PostgreSQL and on OpenLDAP, three
// grants), each decided, recorded and applied through its connector: latency is from the POST until
// the run is closed with every auto-approved change applied. In the same run, the same shape as a
// bare Temporal workflow with no-op activities, so Gatehouse's overhead can be given as a ratio.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { percentile, report, startBenchServices, type BenchRow } from './lib.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../test/helpers/jml-world.js';
import { withPg } from '../test/helpers/services.js';
import { bareActivities } from './jml-bare/activities.js';
import { bareEventSignal, bareJoinerWorkflow } from './jml-bare/workflow.js';

const JOINERS = Number(process.argv[2] ?? 60);
const CONCURRENCY = Number(process.argv[3] ?? 10);
const WARMUP = 5;

/** Runs `count` jobs with at most `concurrency` at once; returns each job's latency (ms) and the wall time. */
async function measure(count: number, concurrency: number, job: (i: number) => Promise<number>): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) latencies.push(await job(next++));
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), wallMs: performance.now() - started };
}

async function joiner(w: JmlWorld, key: string): Promise<number> {
  const t0 = Date.now();
  const id = await w.join({ key, name: `Bench ${key}`, department: 'Engineering' });
  for (;;) {
    const [row] = await withPg(w.db.superuserUrl, async (c) => (await c.query<{ status: string; finished: Date | null; applied: number }>(
      "SELECT status, finished_at AS finished, (SELECT count(*) FROM jsonb_array_elements(steps) s WHERE s->>'status' = 'applied')::int AS applied FROM jml_run WHERE identity_id = $1",
      [id],
    )).rows);
    if (row && row.status !== 'running') {
      if (row.status !== 'completed' || row.applied !== 5) throw new Error(`joiner ${key} ended ${row.status} with ${row.applied} of 5 applied`);
      return row.finished!.getTime() - t0;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const services = await startBenchServices();
const rows: BenchRow[] = [];
let w: JmlWorld | undefined;
try {
  w = await startJmlWorld();
  const world = w;
  await world.publish(birthrightPolicy(world));
  const tag = randomUUID().slice(0, 6);
  await measure(WARMUP, WARMUP, (i) => joiner(world, `warm${tag}${i}`));
  const jml = await measure(JOINERS, CONCURRENCY, (i) => joiner(world, `j${tag}${i}`));

  // The baseline, on the same Temporal server, with a worker of its own in this process.
  const taskQueue = `bench-bare-${tag}`;
  const { code } = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./jml-bare/workflow.ts', import.meta.url)), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
  const worker = await Worker.create({ connection: world.temporal.nativeConnection, taskQueue, workflowBundle: { code }, activities: bareActivities });
  const running = worker.run();
  const bareJob = async (i: number) => {
    const t0 = performance.now();
    const handle = await world.temporal.client.workflow.signalWithStart(bareJoinerWorkflow, { taskQueue, workflowId: `bare:${tag}:${i}`, args: [{ steps: 5 }], signal: bareEventSignal, signalArgs: [{ id: randomUUID() }] });
    await handle.result();
    return performance.now() - t0;
  };
  await measure(WARMUP, WARMUP, (i) => bareJob(100_000 + i));
  const bare = await measure(JOINERS, CONCURRENCY, bareJob);
  worker.shutdown();
  await running;

  const perSecond = (m: { wallMs: number }) => (JOINERS / m.wallMs) * 1000;
  rows.push(
    { name: 'joiners/s end to end (SCIM POST to 5 changes applied on 2 connectors)', value: perSecond(jml), unit: 'joiners/s', extra: { joiners: JOINERS, concurrency: CONCURRENCY } },
    { name: 'joiner latency p50', value: percentile(jml.latencies, 50), unit: 'ms' },
    { name: 'joiner latency p99', value: percentile(jml.latencies, 99), unit: 'ms' },
    { name: 'bare Temporal, same shape, no-op activities', value: perSecond(bare), unit: 'workflows/s' },
    { name: 'bare latency p50', value: percentile(bare.latencies, 50), unit: 'ms' },
    { name: 'bare latency p99', value: percentile(bare.latencies, 99), unit: 'ms' },
    { name: 'overhead: bare throughput / Gatehouse throughput', value: perSecond(bare) / perSecond(jml), unit: 'x' },
    { name: 'overhead: Gatehouse p50 / bare p50', value: percentile(jml.latencies, 50) / percentile(bare.latencies, 50), unit: 'x' },
  );
  report('jml', rows);
} finally {
  await w?.close();
  await services.stop();
}
