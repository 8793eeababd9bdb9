// The real Gatehouse server for a benchmark: `gatehouse start` in its own process against the bench's
// database, Temporal and Vault, and what the benches read of it from /proc (memory, CPU).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { repoRoot } from '../server/server.js';
import { freePort } from '../server/embedded/process.js';
import { createDirectoryService } from '../scim/directory-service.js';
import { TEST_ADMIN, connectTestTemporal, createTestDatabase, createTestVault, ledgerFor, openOrm, suffix, testConfig, type TestDatabase, type TestTemporal, type TestVault } from '../test/helpers/services.js';

export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** CPU seconds a process has used (user + system), from /proc. */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the server did not become healthy');
}

export interface BenchServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A fresh database, Vault mounts and Temporal client for a SCIM bench, and a directory with its token, as an operator makes them. */
export async function prepareScimBench(directoryName: string): Promise<{ db: TestDatabase; vault: TestVault; temporal: TestTemporal; port: number; config: ReturnType<typeof testConfig>; directoryId: string; token: string }> {
  const [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
  const port = await freePort();
  const config = testConfig({ db, vault, temporal }, { PORT: String(port) });
  const orm = await openOrm(db.appUrl, 2);
  const directories = createDirectoryService({ orm, ledger: await ledgerFor(orm) });
  const directory = await directories.createDirectory(directoryName, TEST_ADMIN);
  const { secret: token } = await directories.createToken(directory.id, TEST_ADMIN);
  await orm.close(true);
  return { db, vault, temporal, port, config, directoryId: directory.id, token };
}

/** Starts the server and waits until /healthz answers. */
export async function startBenchServer(input: {
  port: number;
  config: ReturnType<typeof testConfig>;
  db: { ownerUrl: string; appUrl: string; ledgerUrl: string };
  vault: { address: string; token: string; kvMount: string; transitMount: string };
}): Promise<BenchServer> {
  const { port, config, db, vault } = input;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    GATEHOUSE_DATA_DIR: config.GATEHOUSE_DATA_DIR,
    DATABASE_URL: db.ownerUrl,
    DATABASE_APP_URL: db.appUrl,
    DATABASE_LEDGER_URL: db.ledgerUrl,
    TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: `bench-${suffix()}`,
    // The SCIM endpoint's own figures: the workflows its events start run on a worker elsewhere (as
    // in a scale-out deployment; bench:jml measures them). BENCH_EMBEDDED_WORKER=true measures both
    // on this machine's two cores at once.
    GATEHOUSE_EMBEDDED_WORKER: process.env.BENCH_EMBEDDED_WORKER ?? 'false',
    VAULT_ADDR: vault.address,
    VAULT_TOKEN: vault.token,
    VAULT_KV_MOUNT: vault.kvMount,
    VAULT_TRANSIT_MOUNT: vault.transitMount,
  };
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server there, for finding where time goes.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, 'bin/gatehouse.mjs', 'start'], { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(url, child);
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  }
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
