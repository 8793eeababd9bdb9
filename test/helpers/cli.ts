// Runs the real `gatehouse` command line as a child process, the way a user does.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(REPO_ROOT, 'server/main.ts');

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when a line matching `pattern` appears on stdout or stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** The environment a child gets: ours without Gatehouse's settings, plus the given ones. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DATABASE_|TEMPORAL_|VAULT_|GATEHOUSE_|PORT$|HOST$|PUBLIC_URL$|NODE_ENV$|LOG_LEVEL$|EMBEDDED_)/.test(k)),
  );
  return { ...base, ...extra };
}

export function runCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const line = `${out}\n${err}`.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout!.on('data', (d) => {
    out += String(d);
    check();
  });
  child.stderr!.on('data', (d) => {
    err += String(d);
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitFor(pattern, timeoutMs = 45_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}\nstdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
        const done = (line: string) => {
          clearTimeout(timer);
          resolve(line);
        };
        void exited.then(({ code }) => {
          clearTimeout(timer);
          reject(new Error(`exited with ${code} before ${pattern}\nstdout:\n${out}\nstderr:\n${err}`));
        });
        waiters.push({ pattern, resolve: done });
        check();
      });
    },
  };
}

/** Runs a command to completion. */
export async function runCliToEnd(args: string[], env: Record<string, string>, timeoutMs = 90_000) {
  const run = runCli(args, env);
  const timer = setTimeout(() => run.kill('SIGKILL'), timeoutMs);
  const { code } = await run.exited;
  clearTimeout(timer);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** The settings that point a `gatehouse` process at a suite's own PostgreSQL, Temporal and Vault. */
export function testServiceEnv(services: { db: { ownerUrl: string; appUrl: string; ledgerUrl: string }; vault: { address: string; token: string; kvMount: string; transitMount: string }; temporal: { address: string; taskQueue: string } }): Record<string, string> {
  const { db, vault, temporal } = services;
  return {
    DATABASE_URL: db.ownerUrl,
    DATABASE_APP_URL: db.appUrl,
    DATABASE_LEDGER_URL: db.ledgerUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: temporal.taskQueue,
    VAULT_ADDR: vault.address,
    VAULT_TOKEN: vault.token,
    VAULT_KV_MOUNT: vault.kvMount,
    VAULT_TRANSIT_MOUNT: vault.transitMount,
  };
}

/** `gatehouse worker` as a process of its own, pointed at a suite's services; `env` adds to (or overrides) its settings. */
export function spawnTestWorker(services: Parameters<typeof testServiceEnv>[0] & { dataDir: string }, env: Record<string, string> = {}): CliRun {
  return runCli(['worker'], {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    // The shared test cache holds the workflow bundle already (same sources, same hash).
    GATEHOUSE_DATA_DIR: services.dataDir,
    ...testServiceEnv(services),
    ...env,
  });
}
