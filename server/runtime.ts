// Connects to, or starts, the three services Gatehouse runs on: PostgreSQL, Temporal and Vault.
// External when configured, embedded for development otherwise. A failure anywhere stops what
// was already started and surfaces as one StartupError line.
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.js';
import { dataDir } from './config.js';
import type { Logger } from './logger.js';
import { StartupError } from './embedded/process.js';
import { startEmbeddedPostgres } from './embedded/postgres.js';
import { findTemporalCli, startEmbeddedTemporal } from './embedded/temporal.js';
import { findVaultBinary, startEmbeddedVault } from './embedded/vault.js';
import { bootstrapDatabase } from './db/bootstrap.js';
import { openOrm, runMigrations } from './db/orm.js';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import { VaultSecretStore, type VaultStoreOptions } from '../shared/secrets/vault-store.js';
import { LocalDevSecretStore } from '../shared/secrets/local-store.js';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { checkpointLag, createLedger, describeCheckpointLag, openLedgerRolePool, type Ledger } from '../audit/index.js';
import { createDirectoryService } from '../scim/directory-service.js';
import { temporalConnectOptions } from './temporal-tls.js';

export type Mode = 'embedded' | 'external' | 'local-dev';

export interface DependencyStatus {
  status: 'up' | 'down';
  mode: Mode;
  version?: string;
  detail?: string;
}

export interface Runtime {
  config: Config;
  log: Logger;
  orm: MikroORM;
  database: { mode: Mode; appUrl: string; ledgerUrl: string; leastPrivilege: boolean };
  temporal: { mode: Mode; address: string; uiUrl?: string; connection: Connection; client: Client; nativeConnection(): Promise<NativeConnection> };
  secrets: SecretStore;
  secretsMode: Mode;
  /** The audit ledger every module appends to (as a LedgerAppender). */
  ledger: Ledger;
  readiness(): Promise<{ ready: boolean; dependencies: Record<'postgres' | 'temporal' | 'vault', DependencyStatus>; warnings: string[] }>;
  stop(): Promise<void>;
}

/** Undo actions for what has started so far, run in reverse on failure or shutdown. */
class StopStack {
  private readonly items: { name: string; stop: () => Promise<void> }[] = [];
  push(name: string, stop: () => Promise<void>) {
    this.items.push({ name, stop });
  }
  async unwind(log?: Logger): Promise<void> {
    while (this.items.length) {
      const item = this.items.pop()!;
      try {
        await item.stop();
      } catch (err) {
        log?.warn({ err: (err as Error).message }, `stopping ${item.name} failed`);
      }
    }
  }
}

const hostOf = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
};

/** One line on why PostgreSQL refused us, without the password. */
export function describePgError(err: unknown, url: string, variable: string): string {
  const e = err as { code?: string; message?: string };
  const where = `PostgreSQL at ${hostOf(url)} (${variable})`;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `cannot connect to ${where}: connection refused; is PostgreSQL running there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to ${where}: the host name does not resolve`;
    case 'ETIMEDOUT':
      return `cannot connect to ${where}: timed out`;
    case '28P01':
    case '28000':
      return `${where} refused the credentials in ${variable}: password authentication failed`;
    case '3D000':
      return `${where}: the database does not exist; create it first (see the README)`;
    case '42501':
      return `${where}: permission denied (${e.message}); the owner role needs to own the database (see the README)`;
    default:
      return `${where}: ${e.message ?? String(err)}`;
  }
}

async function startDatabase(config: Config, log: Logger, stack: StopStack) {
  if (config.DATABASE_URL) {
    try {
      await runMigrations(config.DATABASE_URL, log);
    } catch (err) {
      throw new StartupError(describePgError(err, config.DATABASE_URL, 'DATABASE_URL'));
    }
    const appUrl = config.DATABASE_APP_URL ?? config.DATABASE_URL;
    if (!config.DATABASE_APP_URL) {
      log.warn('DATABASE_APP_URL is not set: the server uses the owner role from DATABASE_URL, so the database cannot enforce least privilege (required in production)');
    }
    // Without DATABASE_APP_URL the owner does everything, checkpoints included (config requires both URLs or neither).
    return { mode: 'external' as const, appUrl, ledgerUrl: config.DATABASE_LEDGER_URL ?? appUrl, leastPrivilege: Boolean(config.DATABASE_APP_URL) };
  }
  const { embedded, appUrl, ledgerUrl } = await startEmbeddedDatabase(config, log, (stop) => stack.push('embedded PostgreSQL', stop));
  log.info({ port: embedded.port }, 'embedded PostgreSQL ready');
  return { mode: 'embedded' as const, appUrl, ledgerUrl, leastPrivilege: true };
}

/** Embedded PostgreSQL with Gatehouse's database, roles and migrations; `onStarted` learns how to stop it. */
export async function startEmbeddedDatabase(config: Config, log: Logger, onStarted: (stop: () => Promise<void>) => void) {
  const embedded = await startEmbeddedPostgres({ dataDir: dataDir(config), port: config.EMBEDDED_POSTGRES_PORT });
  onStarted(embedded.stop);
  const urls = await bootstrapDatabase({
    superuserUrl: embedded.superuserUrl,
    database: 'gatehouse',
    ownerPassword: embedded.credentials.ownerPassword,
    appPassword: embedded.credentials.appPassword,
    ledgerPassword: embedded.credentials.ledgerPassword,
  });
  await runMigrations(urls.ownerUrl, log);
  return { embedded, appUrl: urls.appUrl, ledgerUrl: urls.ledgerUrl };
}

/** How to reach the configured Vault (VAULT_ADDR with a token or AppRole). */
export function vaultStoreOptions(config: Config & { VAULT_ADDR: string }): VaultStoreOptions {
  return {
    address: config.VAULT_ADDR,
    ...(config.VAULT_TOKEN ? { token: config.VAULT_TOKEN } : {}),
    ...(config.VAULT_ROLE_ID && config.VAULT_SECRET_ID ? { appRole: { roleId: config.VAULT_ROLE_ID, secretId: config.VAULT_SECRET_ID } } : {}),
    ...(config.VAULT_NAMESPACE ? { namespace: config.VAULT_NAMESPACE } : {}),
    kvMount: config.VAULT_KV_MOUNT,
    transitMount: config.VAULT_TRANSIT_MOUNT,
  };
}

async function startTemporal(config: Config, log: Logger, stack: StopStack) {
  let address = config.TEMPORAL_ADDRESS;
  let uiUrl: string | undefined;
  let mode: Mode = 'external';
  if (!address) {
    const binary = findTemporalCli(config.TEMPORAL_CLI_PATH);
    const embedded = await startEmbeddedTemporal({
      binary,
      dataDir: dataDir(config),
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_DEV_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
    });
    stack.push('the Temporal dev server', embedded.stop);
    address = embedded.address;
    uiUrl = embedded.uiUrl;
    mode = 'embedded';
    log.info({ address, ui: uiUrl }, 'Temporal dev server ready');
  }
  // The embedded dev server listens on loopback without TLS; an external frontend as configured.
  const connectOptions = mode === 'embedded' ? { address } : temporalConnectOptions(config, address);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectOptions, connectTimeout: 5000 });
    await connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0] ?? '';
    throw new StartupError(
      /NOT_FOUND|not found/i.test(message)
        ? `Temporal at ${address} has no namespace ${config.TEMPORAL_NAMESPACE} (TEMPORAL_NAMESPACE): create it, or use an existing one`
        : `cannot reach Temporal at ${address} (TEMPORAL_ADDRESS): ${message}`,
    );
  }
  stack.push('the Temporal client connection', () => connection.close());
  if (mode === 'external') await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE, log);
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  let native: Promise<NativeConnection> | undefined;
  return {
    mode,
    address,
    ...(uiUrl ? { uiUrl } : {}),
    connection,
    client,
    nativeConnection: () => {
      native ??= NativeConnection.connect(connectOptions).then((nc) => {
        stack.push('the worker connection', () => nc.close());
        return nc;
      });
      return native;
    },
  };
}

/** Registers Gatehouse's search attributes on a cluster namespace that lacks them. */
async function ensureSearchAttributes(connection: Connection, namespace: string, log: Logger): Promise<void> {
  const typeIds: Record<string, number> = { Keyword: 2, Text: 1, Int: 3, Double: 4, Bool: 5, Datetime: 6, KeywordList: 7 };
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !(name in (existing.customAttributes ?? {})));
    if (!missing.length) return;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, typeIds[type]!])),
    });
    log.info({ added: missing.map(([n]) => n) }, 'registered Temporal search attributes');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not register Temporal search attributes; run listing by kind will not work until an operator adds them');
  }
}

async function startSecrets(config: Config, log: Logger, stack: StopStack): Promise<{ store: SecretStore; mode: Mode }> {
  const storeOptions = { kvMount: config.VAULT_KV_MOUNT, transitMount: config.VAULT_TRANSIT_MOUNT };
  if (config.VAULT_ADDR) {
    let store: VaultSecretStore;
    try {
      store = await VaultSecretStore.connect(vaultStoreOptions({ ...config, VAULT_ADDR: config.VAULT_ADDR }));
    } catch (err) {
      throw new StartupError(`cannot use Vault at ${config.VAULT_ADDR} (VAULT_ADDR): ${(err as Error).message}`);
    }
    stack.push('the Vault client', () => store.close());
    const health = await store.health();
    if (!health.up) throw new StartupError(`cannot use Vault at ${config.VAULT_ADDR} (VAULT_ADDR): ${health.message}`);
    return { store, mode: 'external' };
  }
  const binary = findVaultBinary(config.VAULT_BIN);
  if (binary) {
    const embedded = await startEmbeddedVault({ binary, dataDir: dataDir(config), port: config.VAULT_DEV_PORT, ...storeOptions });
    stack.push('the local Vault server', embedded.stop);
    const store = await VaultSecretStore.connect({ address: embedded.address, token: embedded.token, ...storeOptions });
    stack.push('the Vault client', () => store.close());
    log.info({ address: embedded.address, version: embedded.version }, 'local Vault server ready');
    return { store, mode: 'embedded' };
  }
  if (config.VAULT_BIN) throw new StartupError(`VAULT_BIN=${config.VAULT_BIN} is not an executable file`);
  if (config.NODE_ENV === 'production') {
    throw new StartupError('no Vault: set VAULT_ADDR (the development-only local secret store is refused when NODE_ENV=production)');
  }
  log.warn('DEVELOPMENT ONLY: no Vault binary was found (run `npm run setup`, set VAULT_BIN or VAULT_ADDR); secrets are kept in a local file store instead');
  return { store: new LocalDevSecretStore(path.join(dataDir(config), 'local-secrets', 'store.json')), mode: 'local-dev' };
}

export async function startRuntime(config: Config, log: Logger): Promise<Runtime> {
  const stack = new StopStack();
  // The three start independently; in parallel they reach ready sooner.
  const [db, temporal, secrets] = await Promise.allSettled([
    startDatabase(config, log, stack),
    startTemporal(config, log, stack),
    startSecrets(config, log, stack),
  ]);
  const failure = [db, temporal, secrets].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure || db.status !== 'fulfilled' || temporal.status !== 'fulfilled' || secrets.status !== 'fulfilled') {
    await stack.unwind(log);
    throw failure?.reason instanceof StartupError ? failure.reason : new StartupError(String((failure?.reason as Error)?.message ?? failure?.reason), { cause: failure?.reason });
  }

  let orm: MikroORM;
  try {
    orm = await openOrm(db.value.appUrl, config.DATABASE_POOL_MAX);
    await orm.em.getConnection().execute('select 1');
  } catch (err) {
    await stack.unwind(log);
    throw new StartupError(describePgError(err, db.value.appUrl, config.DATABASE_APP_URL ? 'DATABASE_APP_URL' : 'DATABASE_URL'));
  }
  stack.push('the database pool', () => orm.close(true));
  const checkpointPool = openLedgerRolePool(db.value.ledgerUrl);
  stack.push('the ledger role\'s pool', () => checkpointPool.end());
  try {
    await checkpointPool.query('select 1');
  } catch (err) {
    await stack.unwind(log);
    throw new StartupError(describePgError(err, db.value.ledgerUrl, config.DATABASE_LEDGER_URL ? 'DATABASE_LEDGER_URL' : 'DATABASE_URL'));
  }

  const runtime: Runtime = {
    config,
    log,
    orm,
    database: db.value,
    temporal: temporal.value,
    secrets: secrets.value.store,
    secretsMode: secrets.value.mode,
    ledger: createLedger({ orm, signer: secrets.value.store, checkpointPool }),
    async readiness() {
      const warnings: string[] = [];
      const postgres: DependencyStatus = await (async () => {
        try {
          const rows = await orm.em.getConnection().execute<{ server_version: string }[]>('show server_version');
          return { status: 'up' as const, mode: db.value.mode, version: rows[0]?.server_version ?? 'unknown' };
        } catch (err) {
          return { status: 'down' as const, mode: db.value.mode, detail: (err as Error).message };
        }
      })();
      const temporalStatus: DependencyStatus = await (async () => {
        try {
          const info = await temporal.value.connection.workflowService.getSystemInfo({});
          return { status: 'up' as const, mode: temporal.value.mode, version: info.serverVersion || 'unknown' };
        } catch (err) {
          return { status: 'down' as const, mode: temporal.value.mode, detail: (err as Error).message.split('\n')[0] };
        }
      })();
      const health = await secrets.value.store.health();
      const vault: DependencyStatus = {
        status: health.up ? 'up' : 'down',
        mode: secrets.value.mode,
        ...(health.version ? { version: health.version } : {}),
        ...(health.message ? { detail: health.message } : {}),
      };
      if (secrets.value.mode === 'local-dev') warnings.push('DEVELOPMENT ONLY: secrets are in a local file store, not Vault');
      if (postgres.status === 'up') {
        const lag = await checkpointLag(runtime.ledger, config.LEDGER_CHECKPOINT_INTERVAL_SECONDS * 1000).catch(() => undefined);
        if (lag) warnings.push(describeCheckpointLag(lag));
        const unlinked = await createDirectoryService({ orm, ledger: runtime.ledger }).linkingNobody().catch(() => []);
        for (const d of unlinked) {
          warnings.push(`directory "${d.name}" has ${d.userCount === 1 ? '1 person' : `${d.userCount} people`} but names no sign-in issuer, so nobody who signs in is linked to them (no manager, owner or group approvals there): gatehouse directory sign-in-issuers "${d.name}" <issuer>`);
        }
      }
      if (!db.value.leastPrivilege) warnings.push('the server connects to PostgreSQL as the owner role; set DATABASE_APP_URL');
      return {
        ready: postgres.status === 'up' && temporalStatus.status === 'up' && vault.status === 'up',
        dependencies: { postgres, temporal: temporalStatus, vault },
        warnings,
      };
    },
    stop: () => stack.unwind(log),
  };
  return runtime;
}
