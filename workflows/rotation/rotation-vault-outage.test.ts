// Vault going away in the middle of a rotation, for real: this suite runs a Vault server of its own
// (file storage, so its secrets survive a restart), stops the process between two rotation steps,
// and starts it again. The rotation waits (its Vault steps and the steps that need the new value
// are retried), and the target and Vault agree once it has finished, never disagreeing for good.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { createLedger } from '../../audit/index.js';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorFactory } from '../../connectors/instances/connector-factory.js';
import { createConnectorInstanceService } from '../../connectors/instances/connector-instance-service.js';
import { createCredentialRotation } from '../../connectors/credentials/credential-rotation.js';
import { createCredentialService, type CredentialService } from '../../connectors/credentials/credential-service.js';
import type { RotationOutcome } from '../../connectors/credentials/rotation-types.js';
import { freePort } from '../../server/embedded/process.js';
import { startEmbeddedVault, type EmbeddedVaultHandle } from '../../server/embedded/vault.js';
import { createOwnerDirectory } from '../../server/owner-directory.js';
import { createTemporalRotations, workflowIsRunning } from '../../server/rotation-scheduling.js';
import { VaultSecretStore } from '../../shared/secrets/vault-store.js';
import { canLogInToPostgres, createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { adminCaller } from '../../test/helpers/service-callers.js';
import { connectTestTemporal, createTestDatabase, createTestVault, createTestWorker, openOrm, sharedVaultBinary, withPg, type MikroORM, type TestDatabase, type TestTemporal } from '../../test/helpers/services.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { createIdentityResolver } from '../../server/access/identity-resolver.js';
import { createRotationActivities } from './activities.js';

describe('rotation while Vault is stopped and started again', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let orm: MikroORM;
  let vaultDir: string;
  let vaultPort: number;
  let vault: EmbeddedVaultHandle;
  let store: VaultSecretStore;
  let worker: Worker;
  let running: Promise<void>;
  let credentials: CredentialService;
  const admin = adminCaller();
  const after: Partial<Record<string, () => Promise<void>>> = {};
  const mounts = { kvMount: 'gatehouse-outage-kv', transitMount: 'gatehouse-outage-transit' };

  const startVault = () => startEmbeddedVault({ binary: sharedVaultBinary(), dataDir: vaultDir, port: vaultPort, ...mounts });

  beforeAll(async () => {
    vaultDir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-vault-outage-'));
    vaultPort = await freePort();
    let ledgerVault;
    [db, temporal, target, vault, ledgerVault] = await Promise.all([createTestDatabase(), connectTestTemporal(), createPostgresTarget(), startVault(), createTestVault()]);
    store = await VaultSecretStore.connect({ address: vault.address, token: vault.token, ...mounts, timeoutMs: 2000 });
    orm = await openOrm(db.appUrl, 8);
    // The ledger signs with the shared test Vault; only the secrets live in the Vault this suite stops.
    const ledger = createLedger({ orm, signer: ledgerVault.store });
    const registry = createBuiltinConnectorRegistry();
    const factory = createConnectorFactory({ orm, secrets: store, registry });
    const activities = createRotationActivities({
      orm,
      rotation: createCredentialRotation({ orm, secrets: store, factory, registry, ledger, isRunning: workflowIsRunning(temporal.client) }),
      policies: createPolicyStore({ orm }),
      ledger,
      participants: createIdentityResolver({ orm }),
      decisions: createDecisionSigner(ledgerVault.store),
    });
    const hooked = Object.fromEntries(
      Object.entries(activities).map(([name, fn]) => [
        name,
        async (...args: unknown[]) => {
          const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
          await after[name]?.();
          return result;
        },
      ]),
    );
    worker = await createTestWorker(temporal, hooked);
    running = worker.run();
    await createConnectorInstanceService({ orm, secrets: store, registry, ledger }).create({ name: 'pg-outage', type: 'postgresql', config: target.config() }, admin);
    credentials = createCredentialService({ orm, secrets: store, ledger, owners: createOwnerDirectory({ orm }), rotations: createTemporalRotations({ client: temporal.client, taskQueue: temporal.taskQueue }) });
    const adminUrl = new URL(target.superuserUrl);
    adminUrl.username = target.admin.user;
    adminUrl.password = target.admin.password;
    await withPg(adminUrl.toString(), async (c) => {
      for (const role of ['svc_store', 'svc_apply']) await c.query(`CREATE ROLE ${c.escapeIdentifier(`${role}_${target.tag}`)} LOGIN PASSWORD ${c.escapeLiteral(`${role}-Old-Passw0rd`)}`);
    });
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await vault?.stop();
    await store?.close();
    await temporal?.close();
    await orm?.close(true);
    await target?.drop();
    await db?.drop();
    rmSync(vaultDir, { recursive: true, force: true });
  });

  /** Starts a rotation, stops Vault after `step` succeeds, waits until `waitingAt` has failed twice, checks `meanwhile`, restarts Vault. */
  async function rotateThroughOutage(role: string, step: string, waitingAt: string, meanwhile: () => Promise<void>) {
    const { id } = await credentials.register({ name: role.replace('_', '-'), connector: 'pg-outage', account: { name: `${role}_${target.tag}` }, secret: `${role}-Old-Passw0rd` }, admin);
    after[step] = async () => {
      delete after[step];
      await vault.stop();
    };
    const { workflowId } = await credentials.requestRotation(id, {}, admin);
    const handle = temporal.client.workflow.getHandle(workflowId);
    await expect
      .poll(async () => (await handle.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === waitingAt)?.attempt ?? 0, { timeout: 60_000, interval: 250 })
      .toBeGreaterThanOrEqual(2);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await expect(fetch(`${vault.address}/v1/sys/health`)).rejects.toThrow(); // really down
    await meanwhile();
    vault = await startVault();
    const outcome = (await handle.result()) as RotationOutcome;
    const now = (await store.readKv(`gatehouse/credentials/${id}`))!;
    return { id, outcome, now };
  }

  it('waits at the store step while Vault is down (the target already has the new password), then stores it: both agree', async () => {
    const { outcome, now } = await rotateThroughOutage('svc_store', 'rotationApply', 'rotationStore', async () => {
      // The target took the new password; the old one is gone there, and Vault cannot be written: the rotation must not give up now.
      expect(await canLogInToPostgres(target, `svc_store_${target.tag}`, 'svc_store-Old-Passw0rd')).toBe(false);
    });
    expect(outcome).toMatchObject({ status: 'succeeded', version: 2 });
    expect(await canLogInToPostgres(target, `svc_store_${target.tag}`, now.data.password!)).toBe(true);
    expect(now.data.password).not.toBe('svc_store-Old-Passw0rd');
  });

  it('waits before touching the target when Vault goes down after the new password was made, then finishes: both agree', async () => {
    const { outcome, now } = await rotateThroughOutage('svc_apply', 'rotationCreate', 'rotationApply', async () => {
      // The new value is in Vault, out of reach: the target keeps the old password meanwhile.
      expect(await canLogInToPostgres(target, `svc_apply_${target.tag}`, 'svc_apply-Old-Passw0rd')).toBe(true);
    });
    expect(outcome).toMatchObject({ status: 'succeeded', version: 2 });
    expect(await canLogInToPostgres(target, `svc_apply_${target.tag}`, now.data.password!)).toBe(true);
    expect(await canLogInToPostgres(target, `svc_apply_${target.tag}`, 'svc_apply-Old-Passw0rd')).toBe(false);
  });
});
