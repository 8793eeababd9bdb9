// Starts the real services tests and benchmarks share: embedded PostgreSQL, a Temporal dev server
// (through @temporalio/testing with the setup script's binary) and a Vault dev server, and bundles
// the workflow code once.
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startEmbeddedPostgres } from '../../server/embedded/postgres.js';
import { findTemporalCli } from '../../server/embedded/temporal.js';
import { findVaultBinary } from '../../server/embedded/vault.js';
import { freePort, startChild, waitUntil } from '../../server/embedded/process.js';
import { bootstrapDatabase } from '../../server/db/bootstrap.js';
import { workflowBundlePath } from '../../workflows/worker.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

export interface SharedServices {
  pgSuperuserUrl: string;
  pgOwnerPassword: string;
  pgAppPassword: string;
  pgLedgerPassword: string;
  temporalAddress: string;
  temporalCliPath: string;
  vaultAddress: string;
  vaultRootToken: string;
  vaultBinary: string;
  workflowBundlePath: string;
  testDataDir: string;
}

export async function startSharedServices(): Promise<{ services: SharedServices; stop: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));
  // As root, PostgreSQL runs as the postgres user, which must be able to reach its folder.
  chmodSync(dir, 0o755);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => console.error('teardown:', err));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const temporalCli = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
    const vaultBinary = findVaultBinary(process.env.VAULT_BIN);
    if (!vaultBinary) throw new Error('no Vault binary: run `npm run setup` (tests always run against a real Vault-API server)');

    const results = await Promise.allSettled([
      freePort().then((port) => startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port })),
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: temporalCli },
          ip: '127.0.0.1',
          extraArgs: ['--log-level', 'error', ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([n, t]) => ['--search-attribute', `${n}=${t}`])],
        },
      }),
      (async () => {
        const port = await freePort();
        const rootToken = randomBytes(16).toString('hex');
        const child = startChild({
          command: vaultBinary,
          args: ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`],
          logFile: path.join(dir, 'vault.log'),
          pidFile: path.join(dir, 'vault.pid'),
          env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VAULT_'))),
        });
        const address = `http://127.0.0.1:${port}`;
        try {
          await waitUntil('the Vault dev server', async () => (await fetch(`${address}/v1/sys/health`)).status === 200, {
            timeoutMs: 30_000,
            child: child.child,
            logFile: child.logFile,
          });
        } catch (err) {
          await child.stop();
          throw err;
        }
        return { address, rootToken, stop: child.stop };
      })(),
      workflowBundlePath(path.join(dir, 'cache')),
    ] as const);
    const [pgR, temporalR, vaultR, bundleR] = results;
    if (pgR.status === 'fulfilled') stops.push(pgR.value.stop);
    if (temporalR.status === 'fulfilled') stops.push(() => temporalR.value.teardown());
    if (vaultR.status === 'fulfilled') stops.push(vaultR.value.stop);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const pgHandle = (pgR as PromiseFulfilledResult<Awaited<ReturnType<typeof startEmbeddedPostgres>>>).value;
    const temporal = (temporalR as PromiseFulfilledResult<TestWorkflowEnvironment>).value;
    const vault = (vaultR as PromiseFulfilledResult<{ address: string; rootToken: string }>).value;
    const bundle = (bundleR as PromiseFulfilledResult<string>).value;

    // The cluster-wide roles; each suite then creates its own database (test/helpers/services.ts).
    await bootstrapDatabase({
      superuserUrl: pgHandle.superuserUrl,
      database: 'gatehouse_roles_check',
      ownerPassword: pgHandle.credentials.ownerPassword,
      appPassword: pgHandle.credentials.appPassword,
      ledgerPassword: pgHandle.credentials.ledgerPassword,
    });
    return {
      services: {
        pgSuperuserUrl: pgHandle.superuserUrl,
        pgOwnerPassword: pgHandle.credentials.ownerPassword,
        pgAppPassword: pgHandle.credentials.appPassword,
        pgLedgerPassword: pgHandle.credentials.ledgerPassword,
        temporalAddress: temporal.address,
        temporalCliPath: temporalCli,
        vaultAddress: vault.address,
        vaultRootToken: vault.rootToken,
        vaultBinary,
        workflowBundlePath: bundle,
        testDataDir: dir,
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
