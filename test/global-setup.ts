// Starts the real services every test suite shares: embedded PostgreSQL, a Temporal dev server
// (through @temporalio/testing with the setup script's binary) and a Vault dev server. Also bundles
// the workflow code once. Suites take their own database, mounts and task queue from test/helpers.
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startEmbeddedPostgres } from '../server/embedded/postgres.js';
import { findTemporalCli } from '../server/embedded/temporal.js';
import { findVaultBinary } from '../server/embedded/vault.js';
import { freePort, startChild, waitUntil } from '../server/embedded/process.js';
import { bootstrapDatabase } from '../server/db/bootstrap.js';
import { workflowBundlePath } from '../workflows/worker.js';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgSuperuserUrl: string;
    pgOwnerPassword: string;
    pgAppPassword: string;
    temporalAddress: string;
    temporalCliPath: string;
    vaultAddress: string;
    vaultRootToken: string;
    vaultBinary: string;
    workflowBundlePath: string;
    testDataDir: string;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));
  // As root, PostgreSQL runs as the postgres user, which must be able to reach its folder.
  chmodSync(dir, 0o755);
  const stops: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error('teardown:', err));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const temporalCli = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
    const vaultBinary = findVaultBinary(process.env.VAULT_BIN);
    if (!vaultBinary) throw new Error('no Vault binary: run `npm run setup` (tests always run against a real Vault-API server)');

    const [pgHandle, temporal, vault, bundle] = await Promise.all([
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
        await waitUntil('the Vault dev server', async () => (await fetch(`${address}/v1/sys/health`)).status === 200, {
          timeoutMs: 30_000,
          child: child.child,
          logFile: child.logFile,
        });
        return { address, rootToken, stop: child.stop };
      })(),
      workflowBundlePath(path.join(dir, 'cache')),
    ]);
    stops.push(pgHandle.stop, () => temporal.teardown(), vault.stop);

    // The cluster-wide roles; each suite then creates its own database (test/helpers/services.ts).
    await bootstrapDatabase({
      superuserUrl: pgHandle.superuserUrl,
      database: 'gatehouse_template_check',
      ownerPassword: pgHandle.credentials.ownerPassword,
      appPassword: pgHandle.credentials.appPassword,
    });

    project.provide('pgSuperuserUrl', pgHandle.superuserUrl);
    project.provide('pgOwnerPassword', pgHandle.credentials.ownerPassword);
    project.provide('pgAppPassword', pgHandle.credentials.appPassword);
    project.provide('temporalAddress', temporal.address);
    project.provide('temporalCliPath', temporalCli);
    project.provide('vaultAddress', vault.address);
    project.provide('vaultRootToken', vault.rootToken);
    project.provide('vaultBinary', vaultBinary);
    project.provide('workflowBundlePath', bundle);
    project.provide('testDataDir', dir);
    console.log(`test services ready in ${((Date.now() - started) / 1000).toFixed(1)} s (PostgreSQL, Temporal ${temporal.address}, Vault ${vault.address})`);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
