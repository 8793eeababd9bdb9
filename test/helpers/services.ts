// Per-suite access to the shared test services: a fresh database, private Vault mounts with a
// least-privilege token, a Temporal client and a worker on a task queue of the suite's own.
import { randomBytes } from 'node:crypto';
import type { SharedServices } from './start-services.js';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import { bootstrapDatabase } from '../../server/db/bootstrap.js';
import { openOrm, runMigrations } from '../../server/db/orm.js';
import { provisionVault } from '../../server/embedded/vault-provision.js';
import { VaultSecretStore } from '../../shared/secrets/vault-store.js';
import type { Config } from '../../server/config.js';
import { createLedger, LEDGER_KEY_NAME, type Ledger } from '../../audit/index.js';
import { loadConfig } from '../../server/config.js';

export const suffix = () => randomBytes(5).toString('hex');

let shared: SharedServices | undefined;

/** Set once per process: by the vitest setup file from the global setup, or by a benchmark. */
export function useSharedServices(services: SharedServices): void {
  shared = services;
}

function inject<K extends keyof SharedServices>(key: K): SharedServices[K] {
  if (!shared) throw new Error('shared test services are not available: run under vitest, or call useSharedServices() first');
  return shared[key];
}

/**
 * The shared cluster's superuser, for suites that set up a target system of their own in it (a
 * connector's target database and roles), never Gatehouse's own database.
 */
export function sharedPostgresSuperuserUrl(): string {
  return inject('pgSuperuserUrl');
}

/** The Vault binary the shared services run, for suites that run (and stop) a Vault server of their own. */
export function sharedVaultBinary(): string {
  return inject('vaultBinary');
}

/** A folder for this run's scratch files (removed with the shared services). */
export function sharedTestDataDir(): string {
  return inject('testDataDir');
}

export interface TestDatabase {
  name: string;
  ownerUrl: string;
  appUrl: string;
  /** The ledger role's (gatehouse_ledger): only it writes checkpoints and stored subtrees. */
  ledgerUrl: string;
  /** A superuser connection to this database, for assertions a test needs to make behind the app's back. */
  superuserUrl: string;
  drop(): Promise<void>;
}

/** A new database with every migration applied, owned by gatehouse_owner. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const superuserUrl = inject('pgSuperuserUrl');
  const name = `gh_test_${suffix()}`;
  const urls = await bootstrapDatabase({
    superuserUrl,
    database: name,
    ownerPassword: inject('pgOwnerPassword'),
    appPassword: inject('pgAppPassword'),
    ledgerPassword: inject('pgLedgerPassword'),
  });
  await runMigrations(urls.ownerUrl);
  const dbSuperuserUrl = new URL(superuserUrl);
  dbSuperuserUrl.pathname = `/${name}`;
  return {
    name,
    ...urls,
    superuserUrl: dbSuperuserUrl.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: superuserUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestVault {
  address: string;
  rootToken: string;
  /** Holds only Gatehouse's policy for this suite's mounts. */
  token: string;
  kvMount: string;
  transitMount: string;
  store: VaultSecretStore;
}

/** Private KV v2 and transit mounts on the shared Vault dev server, with a scoped token. */
export async function createTestVault(): Promise<TestVault> {
  const address = inject('vaultAddress');
  const rootToken = inject('vaultRootToken');
  const id = suffix();
  const kvMount = `kv-${id}`;
  const transitMount = `transit-${id}`;
  const token = await provisionVault({ address, rootToken, kvMount, transitMount, policyName: `gatehouse-${id}` });
  const store = await VaultSecretStore.connect({ address, token, kvMount, transitMount });
  return { address, rootToken, token, kvMount, transitMount, store };
}

export interface TestTemporal {
  address: string;
  namespace: string;
  taskQueue: string;
  connection: Connection;
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export async function connectTestTemporal(): Promise<TestTemporal> {
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    address,
    namespace: 'default',
    taskQueue: `test-${suffix()}`,
    connection,
    client: new Client({ connection, namespace: 'default' }),
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** A worker with the shared workflow bundle and the activities given; call `run` around the test's work. */
export async function createTestWorker(temporal: TestTemporal, activities: object): Promise<Worker> {
  return Worker.create({
    connection: temporal.nativeConnection,
    namespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
}

/** Configuration for a whole Gatehouse server pointed at this suite's external services. */
export function testConfig(parts: { db: TestDatabase; vault: TestVault; temporal: TestTemporal }, overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    GATEHOUSE_DATA_DIR: `${inject('testDataDir')}/server-${suffix()}`,
    DATABASE_URL: parts.db.ownerUrl,
    DATABASE_APP_URL: parts.db.appUrl,
    DATABASE_LEDGER_URL: parts.db.ledgerUrl,
    TEMPORAL_ADDRESS: parts.temporal.address,
    TEMPORAL_TASK_QUEUE: parts.temporal.taskQueue,
    VAULT_ADDR: parts.vault.address,
    VAULT_TOKEN: parts.vault.token,
    VAULT_KV_MOUNT: parts.vault.kvMount,
    VAULT_TRANSIT_MOUNT: parts.vault.transitMount,
    // The test systems listen on loopback (see vitest.config.ts).
    CONNECTOR_EGRESS_ALLOW: process.env.CONNECTOR_EGRESS_ALLOW ?? '',
    ...overrides,
  });
}

export type { MikroORM };
export { openOrm };

let sharedTestVault: Promise<TestVault> | undefined;

/** The ledger over `orm`, signing with this process's test Vault (made once). */
export async function ledgerFor(orm: MikroORM): Promise<Ledger> {
  sharedTestVault ??= createTestVault().then(async (v) => {
    await v.store.ensureSigningKey(LEDGER_KEY_NAME);
    return v;
  });
  return createLedger({ orm, signer: (await sharedTestVault).store });
}

/** Who a test acts as when it changes something the ledger records. */
export const TEST_ADMIN = { kind: 'human' as const, id: 'test-admin', display: 'Test admin' };
