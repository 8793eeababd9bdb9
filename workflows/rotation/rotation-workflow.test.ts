// Credential rotation as a Temporal workflow, against real PostgreSQL (Gatehouse's and a target
// cluster's roles), a real HTTP system that issues API tokens, Vault (reached by the worker through
// a TCP proxy that the tests stop to take Vault away), and the ledger. The happy paths, then a
// failure at each step, each caused for real: Vault unreachable (the rotation waits), a concurrent
// Vault write (check-and-set fails), a target that refuses the change, a new credential that does
// not work, a target that refuses to revoke the old one. After each, the target and Vault agree
// and the ledger says what happened; and the new secret is nowhere but Vault.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { createLedger, type Ledger } from '../../audit/index.js';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorFactory } from '../../connectors/instances/connector-factory.js';
import { createConnectorInstanceService, type ConnectorInstanceService } from '../../connectors/instances/connector-instance-service.js';
import { createCredentialRotation } from '../../connectors/credentials/credential-rotation.js';
import { createCredentialService, type CredentialService } from '../../connectors/credentials/credential-service.js';
import { pendingSecretPath } from '../../connectors/credentials/credential.entity.js';
import type { RotationOutcome, RotationPlan } from '../../connectors/credentials/rotation-types.js';
import { requireCapability } from '../../connectors/spi/connector.js';
import { VaultSecretStore } from '../../shared/secrets/vault-store.js';
import { createOwnerDirectory } from '../../server/owner-directory.js';
import { createTemporalRotations, workflowIsRunning } from '../../server/rotation-scheduling.js';
import { tokenCredentials, directoryConfig } from '../../test/helpers/user-directory-config.js';
import { canLogInToPostgres, createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { adminCaller } from '../../test/helpers/service-callers.js';
import { connectTestTemporal, createTestDatabase, createTestVault, createTestWorker, openOrm, withPg, type MikroORM, type TestDatabase, type TestTemporal, type TestVault } from '../../test/helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.js';
import { historyText } from '../../test/helpers/temporal-history.js';
import { startUserDirectoryServer, type UserDirectoryServer } from '../../test/helpers/user-directory-server.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { createIdentityResolver } from '../../server/access/identity-resolver.js';
import { createRotationActivities } from './activities.js';
import { credentialRotationWorkflow } from './workflow.js';

describe('credential rotation workflow', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let directory: UserDirectoryServer;
  let orm: MikroORM;
  let ledger: Ledger;
  let proxy: TcpProxy;
  let worker: Worker;
  let running: Promise<void>;
  let connectors: ConnectorInstanceService;
  let credentials: CredentialService;
  const registry = createBuiltinConnectorRegistry();
  const admin = adminCaller();
  /** Run after an activity of that name succeeds, in the worker: how a test reaches into "between two steps". */
  const after: Partial<Record<string, (plan: RotationPlan) => Promise<void>>> = {};

  beforeAll(async () => {
    [db, vault, temporal, target, directory] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget(), startUserDirectoryServer()]);
    orm = await openOrm(db.appUrl, 8);
    ledger = createLedger({ orm, signer: vault.store });
    // The worker reaches Vault through the proxy; the tests look at Vault directly.
    proxy = await startTcpProxy(new URL(vault.address));
    const workerVault = await VaultSecretStore.connect({ address: proxy.url, token: vault.token, kvMount: vault.kvMount, transitMount: vault.transitMount, timeoutMs: 3000 });
    const factory = createConnectorFactory({ orm, secrets: workerVault, registry });
    const rotation = createCredentialRotation({ orm, secrets: workerVault, factory, registry, ledger, isRunning: workflowIsRunning(temporal.client) });
    const activities = createRotationActivities({ orm, rotation, policies: createPolicyStore({ orm }), ledger, participants: createIdentityResolver({ orm }), decisions: createDecisionSigner(workerVault) });
    const hooked = Object.fromEntries(
      Object.entries(activities).map(([name, fn]) => [
        name,
        async (...args: unknown[]) => {
          const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
          await after[name]?.(args[0] as RotationPlan);
          return result;
        },
      ]),
    );
    worker = await createTestWorker(temporal, hooked);
    running = worker.run();
    connectors = createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger });
    credentials = createCredentialService({ orm, secrets: vault.store, ledger, owners: createOwnerDirectory({ orm }), rotations: createTemporalRotations({ client: temporal.client, taskQueue: temporal.taskQueue }) });
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await proxy?.stop();
    await temporal?.close();
    await orm?.close(true);
    await directory?.stop();
    await target?.drop();
    await db?.drop();
  });

  const loginCredentialOf = async (connectorId: string) =>
    (await withPg(db.superuserUrl, (c) => c.query<{ id: string }>(`SELECT id FROM credential WHERE connector_id = $1 AND kind = 'connector-login'`, [connectorId]))).rows[0]!.id;
  /** Rotates on request; `runId` names this rotation (the workflow id is the credential's, reused by later requests). */
  const rotate = async (credentialId: string): Promise<{ outcome: RotationOutcome; workflowId: string; runId: string }> => {
    const { workflowId } = await credentials.requestRotation(credentialId, { justification: 'test' }, admin);
    const handle = temporal.client.workflow.getHandle(workflowId);
    const outcome = (await handle.result()) as RotationOutcome;
    return { outcome, workflowId, runId: (await handle.describe()).runId };
  };
  /** What one rotation recorded, in order. */
  const actions = async (runId: string) => (await ledger.query({ runId, order: 'oldest', limit: 100 })).entries.map((e) => e.action);
  const entry = async (runId: string, action: string) => (await ledger.query({ runId, action })).entries[0]!;
  const current = async (path: string) => (await vault.store.readKv(path))!;
  const instanceVersion = async (id: string) => (await withPg(db.superuserUrl, (c) => c.query<{ v: number }>('SELECT secret_version AS v FROM connector_instance WHERE id = $1', [id]))).rows[0]!.v;

  /** The secret must appear in none of: Gatehouse's database (every table, the ledger included) and the workflow's Temporal history. */
  async function expectNowhereButVault(secret: string, workflowId: string, lastActivity = 'rotationStore') {
    const tables = await withPg(db.superuserUrl, (c) => c.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`));
    expect(tables.rows.map((r) => r.t)).toEqual(expect.arrayContaining(['ledger_entry', 'credential', 'connector_instance', 'credential_rotation_step']));
    const dump = await withPg(db.superuserUrl, async (c) => {
      const parts: string[] = [];
      for (const { t } of tables.rows) parts.push(...(await c.query<{ r: string }>(`SELECT row_to_json(x)::text AS r FROM ${c.escapeIdentifier(t)} x`)).rows.map((r) => r.r));
      return parts.join('\n');
    });
    expect(dump).toContain(workflowId); // the dump is really searched
    expect(dump).not.toContain(secret);
    const history = await historyText(temporal.client.workflow.getHandle(workflowId));
    expect(history).toContain(lastActivity); // the history is really searched
    expect(history).not.toContain(secret);
  }

  describe('the connector login of a PostgreSQL connector (one password at a time)', () => {
    let connectorId: string;
    let credentialId: string;

    beforeAll(async () => {
      connectorId = (await connectors.create({ name: 'pg-rotated', type: 'postgresql', config: target.config() }, admin)).id;
      credentialId = await loginCredentialOf(connectorId);
    });

    it('rotates: the target takes the new password, Vault holds it, the connector uses it, the old one no longer works', async () => {
      const before = await current(`gatehouse/connectors/${connectorId}`);
      const { outcome, workflowId, runId } = await rotate(credentialId);
      expect(outcome).toEqual({ status: 'succeeded', credentialId, version: before.version + 1, oldCredentialRevoked: true });
      const after = await current(`gatehouse/connectors/${connectorId}`);
      expect(after.version).toBe(before.version + 1);
      expect(after.data.password).not.toBe(before.data.password);
      expect(await instanceVersion(connectorId)).toBe(after.version);
      expect(await canLogInToPostgres(target, target.admin.user, after.data.password!)).toBe(true);
      expect(await canLogInToPostgres(target, target.admin.user, before.data.password!)).toBe(false);
      const probe = await createConnectorFactory({ orm, secrets: vault.store, registry }).withConnector(connectorId, (c) => requireCapability(c, 'test').test());
      expect(probe.details.user).toBe(target.admin.user);

      expect(await actions(runId)).toEqual([
        'secret.rotation.started',
        'access.change.decided',
        'secret.rotation.created',
        'secret.rotation.applied',
        'secret.rotation.stored',
        'secret.rotation.verified',
        'secret.rotation.revoked',
        'secret.rotated',
      ]);
      const decided = (await entry(runId, 'access.change.decided'));
      expect(decided.policy).toEqual({ id: 'builtin-credential-rotation', versionHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(decided.details).toMatchObject({ kind: 'rotate-credential', effect: 'allow' });
      expect(await vault.store.readKv(pendingSecretPath(credentialId))).toBeUndefined();
      await expectNowhereButVault(after.data.password!, workflowId);
      const row = await withPg(db.superuserUrl, (c) => c.query('SELECT rotation_workflow_id, last_rotation FROM credential WHERE id = $1', [credentialId]));
      expect(row.rows[0]).toMatchObject({ rotation_workflow_id: null, last_rotation: { status: 'succeeded', workflowId, reason: 'on-demand' } });
    });

    it('waits while Vault is unreachable at the store step, then finishes, the target and Vault agreeing', async () => {
      const before = await current(`gatehouse/connectors/${connectorId}`);
      after.rotationApply = async () => {
        delete after.rotationApply;
        await proxy.stop();
      };
      const { workflowId } = await credentials.requestRotation(credentialId, {}, admin);
      const handle = temporal.client.workflow.getHandle(workflowId);
      // The store step fails against the closed proxy and is retried: the rotation waits.
      await expect
        .poll(async () => (await handle.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === 'rotationStore')?.attempt ?? 0, { timeout: 30_000, interval: 250 })
        .toBeGreaterThanOrEqual(2);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      // Meanwhile Vault still holds the previous password, the target the new one (kept in the pending slot, not lost).
      expect((await current(`gatehouse/connectors/${connectorId}`)).version).toBe(before.version);
      const pending = (await vault.store.readKv(pendingSecretPath(credentialId)))!.data.secret!;
      expect(await canLogInToPostgres(target, target.admin.user, pending)).toBe(true);
      await proxy.start();
      const outcome = (await handle.result()) as RotationOutcome;
      expect(outcome).toMatchObject({ status: 'succeeded' });
      const runId = (await handle.describe()).runId;
      const now = await current(`gatehouse/connectors/${connectorId}`);
      expect(now.data.password).toBe(pending);
      expect(await instanceVersion(connectorId)).toBe(now.version);
      expect(await canLogInToPostgres(target, target.admin.user, now.data.password!)).toBe(true);
      expect(await actions(runId)).toContain('secret.rotated');
      expect(await actions(runId)).not.toContain('secret.rotation.failed');
    });

    it('a concurrent Vault write fails the store step: Vault gets its previous version back and the target its previous password', async () => {
      const before = await current(`gatehouse/connectors/${connectorId}`);
      let attempted = '';
      after.rotationApply = async (plan) => {
        delete after.rotationApply;
        attempted = (await vault.store.readKv(pendingSecretPath(plan.credentialId)))!.data.secret!;
        // Someone else writes a version behind the rotation's back: its check-and-set must fail.
        await vault.store.writeKv(plan.secretPath, { password: 'written-by-someone-else' }, { cas: plan.casVersion });
      };
      const { outcome, workflowId, runId } = await rotate(credentialId);
      expect(outcome).toMatchObject({ status: 'failed', step: 'store', errorCode: 'SecretConflict', restored: { vault: true, target: true } });
      const now = await current(`gatehouse/connectors/${connectorId}`);
      expect(now.data.password).toBe(before.data.password);
      expect(now.version).toBe(before.version + 2); // the other write, then the restore
      expect(await instanceVersion(connectorId)).toBe(now.version);
      expect(await canLogInToPostgres(target, target.admin.user, before.data.password!)).toBe(true);
      expect(await canLogInToPostgres(target, target.admin.user, attempted)).toBe(false);
      expect(await actions(runId)).toEqual([
        'secret.rotation.started',
        'access.change.decided',
        'secret.rotation.created',
        'secret.rotation.applied',
        'secret.rotation.vault_restored',
        'secret.rotation.target_restored',
        'secret.rotation.failed',
      ]);
      const restoredTarget = (await entry(runId, 'secret.rotation.target_restored'));
      expect(restoredTarget.details).toMatchObject({ changed: true });
      expect(await vault.store.readKv(pendingSecretPath(credentialId))).toBeUndefined();
      await expectNowhereButVault(attempted, workflowId);
    });

    it('runs one rotation of a credential at a time: a second is skipped while the first holds it', async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      after.rotationCreate = async () => {
        delete after.rotationCreate;
        await held;
      };
      const first = await credentials.requestRotation(credentialId, {}, admin);
      await expect.poll(async () => (await withPg(db.superuserUrl, (c) => c.query('SELECT rotation_workflow_id AS w FROM credential WHERE id = $1', [credentialId]))).rows[0].w).toBe(first.workflowId);
      // The same request again joins the running rotation; a schedule's rotation (another id) is skipped.
      expect(await credentials.requestRotation(credentialId, {}, admin)).toEqual({ workflowId: first.workflowId, started: false });
      const scheduled = await temporal.client.workflow.execute(credentialRotationWorkflow, {
        taskQueue: temporal.taskQueue,
        workflowId: `rotation:${credentialId}:other`,
        args: [{ credentialId, reason: 'on-demand', requestedBy: { kind: 'system', id: 'test' } }],
      });
      expect(scheduled).toMatchObject({ status: 'skipped', why: expect.stringContaining('another rotation') });
      release();
      expect(await temporal.client.workflow.getHandle(first.workflowId).result()).toMatchObject({ status: 'succeeded' });
    });

    it('takes over from a rotation that was terminated mid-way, adopting its new password so nothing is lost', async () => {
      let reached!: () => void;
      let letGo!: () => void;
      const applied = new Promise<void>((resolve) => (reached = resolve));
      const gone = new Promise<void>((resolve) => (letGo = resolve));
      after.rotationApply = async () => {
        delete after.rotationApply;
        reached();
        await gone; // held until the workflow has been terminated: its answer then goes nowhere
      };
      const dead = await credentials.requestRotation(credentialId, {}, admin);
      await applied;
      await temporal.client.workflow.getHandle(dead.workflowId).terminate('test: a rotation killed after it applied the new password');
      letGo();
      const pending = (await vault.store.readKv(pendingSecretPath(credentialId)))!.data.secret!;
      expect(await canLogInToPostgres(target, target.admin.user, pending)).toBe(true); // the target has it; Vault does not yet

      const { outcome, runId } = await rotate(credentialId);
      expect(outcome).toMatchObject({ status: 'succeeded' });
      expect((await current(`gatehouse/connectors/${connectorId}`)).data.password).toBe(pending);
      const started = (await entry(runId, 'secret.rotation.started'));
      expect(started.details).toMatchObject({ tookOverFrom: dead.workflowId });
      expect((await entry(runId, 'secret.rotation.created')).details).toMatchObject({ adopted: true, adoptedFrom: dead.workflowId });
    });
  });

  describe('service accounts on PostgreSQL', () => {
    let connectorId: string;

    beforeAll(async () => {
      // The target's admin password is the one the rotations above left in Vault.
      const password = (await current(`gatehouse/connectors/${(await connectors.get('pg-rotated', admin)).id}`)).data.password!;
      connectorId = (await connectors.create({ name: 'pg-accounts', type: 'postgresql', config: target.config({ password }) }, admin)).id;
    });

    async function serviceAccount(name: string, password: string, byConnector = true): Promise<string> {
      const role = `${name}_${target.tag}`;
      if (byConnector) {
        await createConnectorFactory({ orm, secrets: vault.store, registry }).withConnector(connectorId, (c) => requireCapability(c, 'createAccount').createAccount({ name: role }, { idempotencyKey: `t:${role}` }, { password }));
      } else {
        // Made by a superuser: the connector's login holds no ADMIN OPTION on it and may not change it.
        await withPg(target.superuserUrl, (c) => c.query(`CREATE ROLE ${c.escapeIdentifier(role)} LOGIN PASSWORD ${c.escapeLiteral(password)}`));
      }
      return (await credentials.register({ name: name.replace(/_/g, '-'), connector: 'pg-accounts', account: { name: role }, secret: password }, admin)).id;
    }

    it('rotates a service account found by name, recording its uid', async () => {
      const id = await serviceAccount('svc_billing', 'Billing-0ld-Password');
      const { outcome } = await rotate(id);
      expect(outcome).toMatchObject({ status: 'succeeded', version: 2 });
      const now = await current(`gatehouse/credentials/${id}`);
      expect(await canLogInToPostgres(target, `svc_billing_${target.tag}`, now.data.password!)).toBe(true);
      expect(await canLogInToPostgres(target, `svc_billing_${target.tag}`, 'Billing-0ld-Password')).toBe(false);
      const row = await withPg(db.superuserUrl, (c) => c.query('SELECT account_uid, secret_version FROM credential WHERE id = $1', [id]));
      expect(row.rows[0]).toEqual({ account_uid: expect.stringMatching(/^\d+$/), secret_version: 2 });
    });

    it('a target that refuses the change fails the apply step: nothing changed anywhere, and the ledger names the refusal', async () => {
      const id = await serviceAccount('svc_locked', 'Locked-0ld-Password', false);
      const { outcome, runId } = await rotate(id);
      expect(outcome).toMatchObject({ status: 'failed', step: 'apply', errorCode: 'PermissionDenied', restored: { vault: true, target: true } });
      expect(await current(`gatehouse/credentials/${id}`)).toMatchObject({ version: 1, data: { password: 'Locked-0ld-Password' } });
      expect(await canLogInToPostgres(target, `svc_locked_${target.tag}`, 'Locked-0ld-Password')).toBe(true);
      expect(await actions(runId)).toEqual(['secret.rotation.started', 'access.change.decided', 'secret.rotation.created', 'secret.rotation.target_restored', 'secret.rotation.failed']);
      expect((await entry(runId, 'secret.rotation.target_restored')).details).toMatchObject({ changed: false });
      expect((await entry(runId, 'secret.rotation.failed')).details).toMatchObject({ step: 'apply', errorCode: 'PermissionDenied' });
    });

    it('a new password that does not work fails the verify step: Vault and the target are both put back', async () => {
      const id = await serviceAccount('svc_expired', 'Expired-0ld-Password');
      const role = `svc_expired_${target.tag}`;
      // The role's passwords expired long ago: any new one is refused at login, as the verify step must find.
      await withPg(target.superuserUrl, (c) => c.query(`ALTER ROLE ${c.escapeIdentifier(role)} VALID UNTIL '2000-01-01'`));
      const { outcome, workflowId, runId } = await rotate(id);
      expect(outcome).toMatchObject({ status: 'failed', step: 'verify', errorCode: 'InvalidCredential', restored: { vault: true, target: true } });
      const now = await current(`gatehouse/credentials/${id}`);
      expect(now).toMatchObject({ version: 3, data: { password: 'Expired-0ld-Password' } });
      const attempted = (await vault.store.readKv(`gatehouse/credentials/${id}`, { version: 2 }))!.data.password!;
      expect(await withPg(db.superuserUrl, (c) => c.query('SELECT secret_version FROM credential WHERE id = $1', [id]))).toMatchObject({ rows: [{ secret_version: 3 }] });
      await withPg(target.superuserUrl, (c) => c.query(`ALTER ROLE ${c.escapeIdentifier(role)} VALID UNTIL 'infinity'`));
      expect(await canLogInToPostgres(target, role, 'Expired-0ld-Password')).toBe(true);
      expect(await canLogInToPostgres(target, role, attempted)).toBe(false);
      expect(await actions(runId)).toEqual([
        'secret.rotation.started',
        'access.change.decided',
        'secret.rotation.created',
        'secret.rotation.applied',
        'secret.rotation.stored',
        'secret.rotation.vault_restored',
        'secret.rotation.target_restored',
        'secret.rotation.failed',
      ]);
      await expectNowhereButVault(attempted, workflowId);
    });
  });

  describe('the API token of an HTTP connector (the target holds two at once)', () => {
    let connectorId: string;
    let credentialId: string;

    beforeAll(async () => {
      connectorId = (await connectors.create({ name: 'directory-api', type: 'http', config: directoryConfig(directory, directory.tokens.admin, { credentials: tokenCredentials }) }, admin)).id;
      credentialId = await loginCredentialOf(connectorId);
      // The id of the token in use, as an admin finds it at the system.
      await withPg(db.superuserUrl, (c) => c.query(`UPDATE credential SET target_credential_id = 't-admin' WHERE id = $1`, [credentialId]));
    });

    it('rotates two-phase: the new token is issued beside the old, stored, checked, and then the old one is revoked', async () => {
      const { outcome, workflowId, runId } = await rotate(credentialId);
      expect(outcome).toMatchObject({ status: 'succeeded', oldCredentialRevoked: true });
      const now = await current(`gatehouse/connectors/${connectorId}`);
      const issued = [...directory.issued.values()].find((t) => t.token === now.data.token);
      expect(issued).toBeDefined();
      expect(directory.issued.has('t-admin')).toBe(false);
      expect((await withPg(db.superuserUrl, (c) => c.query('SELECT target_credential_id AS t FROM credential WHERE id = $1', [credentialId]))).rows[0].t).toBe(issued!.id);
      expect((await entry(runId, 'secret.rotation.revoked')).details).toMatchObject({ oldCredentialId: 't-admin', revoked: true });
      await expectNowhereButVault(now.data.token!, workflowId);
    });

    it('a target that refuses to revoke the old token fails the revoke step: the new one is revoked and Vault restored', async () => {
      const before = await current(`gatehouse/connectors/${connectorId}`);
      const inUse = [...directory.issued.values()].find((t) => t.token === before.data.token)!;
      directory.lockedTokens.add(inUse.id);
      const tokensBefore = [...directory.issued.keys()].sort();
      const { outcome, runId } = await rotate(credentialId);
      directory.lockedTokens.delete(inUse.id);
      expect(outcome).toMatchObject({ status: 'failed', step: 'revoke', errorCode: 'Rejected', restored: { vault: true, target: true } });
      expect([...directory.issued.keys()].sort()).toEqual(tokensBefore);
      const now = await current(`gatehouse/connectors/${connectorId}`);
      expect(now.data.token).toBe(before.data.token);
      expect(await instanceVersion(connectorId)).toBe(now.version);
      const probe = await createConnectorFactory({ orm, secrets: vault.store, registry }).withConnector(connectorId, (c) => requireCapability(c, 'test').test());
      expect(probe.system).toBe('HTTP');
      expect(await actions(runId)).toEqual([
        'secret.rotation.started',
        'access.change.decided',
        'secret.rotation.applied',
        'secret.rotation.stored',
        'secret.rotation.verified',
        'secret.rotation.vault_restored',
        'secret.rotation.target_restored',
        'secret.rotation.failed',
      ]);
      expect((await entry(runId, 'secret.rotation.failed')).details).toMatchObject({ step: 'revoke', errorCode: 'Rejected' });
    });

    it('a mapping that fails on the new token fails the apply step, and the token is nowhere in the ledger, the database, the history or the logs', async () => {
      await connectors.update(connectorId, { config: { credentials: { ...tokenCredentials, map: '{ "id": id, "secret": $number(token) }' } } }, admin);
      const tokensBefore = new Set(directory.issued.keys());
      // Everything this process writes meanwhile (the Temporal worker's log of the failed activity included).
      const logged: string[] = [];
      const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
      const tee = (write: typeof writes.out) => ((chunk: unknown, ...rest: unknown[]) => {
        logged.push(String(chunk));
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof process.stdout.write;
      process.stdout.write = tee(writes.out);
      process.stderr.write = tee(writes.err);
      try {
        const { outcome, workflowId, runId } = await rotate(credentialId);
        expect(outcome).toMatchObject({ status: 'failed', step: 'apply' });
        const failed = await entry(runId, 'secret.rotation.failed');
        expect(JSON.stringify(failed.details)).toMatch(/JSONata D\d{4} at character \d+/);
        const issued = [...directory.issued.values()].filter((t) => !tokensBefore.has(t.id));
        expect(issued).toHaveLength(1); // the target did issue one, and the mapping then failed on it
        await expectNowhereButVault(issued[0]!.token, workflowId, 'rotationApply');
        const logs = logged.join('');
        expect(logs).toMatch(/rotationApply/); // the logs are really searched: the worker logged the failed activity
        expect(logs).not.toContain(issued[0]!.token);
      } finally {
        process.stdout.write = writes.out;
        process.stderr.write = writes.err;
        await connectors.update(connectorId, { config: { credentials: tokenCredentials } }, admin);
      }
    });
  });
});
