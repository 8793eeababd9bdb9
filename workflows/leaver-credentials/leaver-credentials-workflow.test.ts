// The leaver's non-human identities, end to end on a real worker: the joiner-mover-leaver workflow's
// input (directory, identity, manager or none, actor) hands each credential the leaver owned to
// their manager or flags it orphaned, then rotates each on the real target (a PostgreSQL cluster),
// with the new value in Vault only. Owners live in a real SCIM directory; the ledger records it all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createLedger, type Ledger } from '../../audit/index.js';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorFactory } from '../../connectors/instances/connector-factory.js';
import { createConnectorInstanceService } from '../../connectors/instances/connector-instance-service.js';
import { createCredentialRotation } from '../../connectors/credentials/credential-rotation.js';
import { createCredentialService, type CredentialService } from '../../connectors/credentials/credential-service.js';
import { createOwnerDirectory } from '../../server/owner-directory.js';
import { createTemporalRotations, workflowIsRunning } from '../../server/rotation-scheduling.js';
import { canLogInToPostgres, createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { startScimTestServer, type ScimTestServer, type TestDirectory } from '../../test/helpers/scim.js';
import { adminCaller } from '../../test/helpers/service-callers.js';
import { connectTestTemporal, createTestVault, createTestWorker, withPg, type TestTemporal, type TestVault } from '../../test/helpers/services.js';
import { historyText } from '../../test/helpers/temporal-history.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { createIdentityResolver } from '../../server/access/identity-resolver.js';
import { createRotationActivities } from '../rotation/activities.js';
import { createLeaverCredentialActivities } from './activities.js';
import { leaverCredentialsWorkflow, leaverCredentialsWorkflowId, type LeaverCredentialsInput, type LeaverCredentialsResult } from './workflow.js';

describe('leaver credentials workflow', () => {
  let scim: ScimTestServer;
  let idp: TestDirectory;
  let vault: TestVault;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let ledger: Ledger;
  let credentials: CredentialService;
  let worker: Worker;
  let running: Promise<void>;
  const admin = adminCaller();
  const ids: Record<'mona' | 'alice' | 'bob', string> = { mona: '', alice: '', bob: '' };
  const jml = { kind: 'workflow' as const, id: 'identity:okta:leaver-test', display: 'JML workflow' };

  beforeAll(async () => {
    [scim, vault, temporal, target] = await Promise.all([startScimTestServer(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
    const orm = scim.orm;
    idp = await scim.directory('okta');
    const user = async (userName: string) =>
      (await scim.request<{ id: string }>(idp.token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, emails: [{ value: userName, primary: true }] })).body.id;
    ids.mona = await user('mona@corp.example');
    ids.alice = await user('alice@corp.example');
    ids.bob = await user('bob@corp.example');

    const registry = createBuiltinConnectorRegistry();
    ledger = createLedger({ orm, signer: vault.store });
    const factory = createConnectorFactory({ orm, secrets: vault.store, registry });
    credentials = createCredentialService({ orm, secrets: vault.store, ledger, owners: createOwnerDirectory({ orm }), rotations: createTemporalRotations({ client: temporal.client, taskQueue: temporal.taskQueue }) });
    await createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger }).create({ name: 'pg-leaver', type: 'postgresql', config: target.config() }, admin);
    // Service accounts made by the connector's own role, so it may change their passwords.
    const adminUrl = new URL(target.superuserUrl);
    adminUrl.username = target.admin.user;
    adminUrl.password = target.admin.password;
    await withPg(adminUrl.toString(), async (c) => {
      for (const role of ['svc_alice', 'svc_shared', 'svc_bob']) await c.query(`CREATE ROLE ${c.escapeIdentifier(`${role}_${target.tag}`)} LOGIN PASSWORD ${c.escapeLiteral(`${role}-Old-Passw0rd`)}`);
    });
    const owner = (id: string) => ({ directoryId: idp.id, userId: id });
    for (const [name, owners] of [
      ['svc-alice', [owner(ids.alice)]],
      ['svc-shared', [owner(ids.alice), owner(ids.bob)]],
      ['svc-bob', [owner(ids.bob)]],
    ] as const) {
      const role = `${name.replace('-', '_')}_${target.tag}`;
      await credentials.register({ name, connector: 'pg-leaver', account: { name: role }, secret: `${name.replace('-', '_')}-Old-Passw0rd`, owners: [...owners] }, admin);
    }

    const rotation = createCredentialRotation({ orm, secrets: vault.store, factory, registry, ledger, isRunning: workflowIsRunning(temporal.client) });
    worker = await createTestWorker(temporal, { ...createRotationActivities({ orm, rotation, policies: createPolicyStore({ orm }), ledger, participants: createIdentityResolver({ orm }), decisions: createDecisionSigner(vault.store) }), ...createLeaverCredentialActivities({ credentials }) });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await temporal?.close();
    await scim?.close();
    await target?.drop();
  });

  const leave = (input: LeaverCredentialsInput) =>
    temporal.client.workflow.execute(leaverCredentialsWorkflow, { taskQueue: temporal.taskQueue, workflowId: leaverCredentialsWorkflowId(input), args: [input] }) as Promise<LeaverCredentialsResult>;
  const credentialId = async (name: string) => (await scim.sql<{ id: string }>('SELECT id FROM credential WHERE name = $1', [name]))[0]!.id;
  const ownersOf = async (name: string) => (await scim.sql<{ owners: unknown[]; orphaned: boolean }>('SELECT owners, orphaned_at IS NOT NULL AS orphaned FROM credential WHERE name = $1', [name]))[0]!;
  const passwordOf = async (name: string) => (await vault.store.readKv(`gatehouse/credentials/${await credentialId(name)}`))!.data.password!;

  it('hands what the leaver owned to their manager, keeps co-owned ones with the co-owners, and rotates each on the target', async () => {
    const input: LeaverCredentialsInput = { directoryId: idp.id, identityId: ids.alice, managerId: ids.mona, actor: jml };
    const result = await leave(input);
    const [aliceId, sharedId] = [await credentialId('svc-alice'), await credentialId('svc-shared')];
    expect(result.handedOver).toEqual([
      { credentialId: aliceId, name: 'svc-alice', outcome: 'reassigned', to: { directoryId: idp.id, userId: ids.mona } },
      { credentialId: sharedId, name: 'svc-shared', outcome: 'co-owned' },
    ]);
    expect(result.rotations).toEqual([expect.objectContaining({ status: 'succeeded', credentialId: aliceId }), expect.objectContaining({ status: 'succeeded', credentialId: sharedId })]);
    expect(await ownersOf('svc-alice')).toEqual({ owners: [{ directoryId: idp.id, userId: ids.mona }], orphaned: false });
    expect(await ownersOf('svc-shared')).toEqual({ owners: [{ directoryId: idp.id, userId: ids.bob }], orphaned: false });

    // The target took the new passwords (from Vault, where nothing else has them); the old ones no longer work.
    for (const name of ['svc_alice', 'svc_shared']) {
      const fresh = await passwordOf(name.replace('_', '-'));
      expect(fresh).not.toBe(`${name}-Old-Passw0rd`);
      expect(await canLogInToPostgres(target, `${name}_${target.tag}`, fresh)).toBe(true);
      expect(await canLogInToPostgres(target, `${name}_${target.tag}`, `${name}-Old-Passw0rd`)).toBe(false);
    }
    // The ledger: the hand-over under the JML workflow's name, and each rotation for the leaver.
    expect((await ledger.query({ action: 'credential.owner.reassigned', subjectId: aliceId })).entries[0]).toMatchObject({ actor: jml, details: { outcome: 'reassigned', manager: { userId: ids.mona } } });
    const rotated = (await ledger.query({ action: 'secret.rotated', subjectId: aliceId })).entries;
    expect(rotated).toHaveLength(1);
    expect(rotated[0]!.correlation?.workflowId).toBe(`rotation:${aliceId}:leaver:${idp.id}:${ids.alice}`);
    // Nothing secret went through Temporal: neither the leaver's workflow nor the rotation holds the new value.
    const fresh = await passwordOf('svc-alice');
    const history = (await historyText(temporal.client.workflow.getHandle(leaverCredentialsWorkflowId(input)))) + (await historyText(temporal.client.workflow.getHandle(rotated[0]!.correlation!.workflowId!)));
    expect(history).toContain('handOverLeaverCredentials');
    expect(history).not.toContain(fresh);
  });

  it('flags what a leaver with no manager owned alone as orphaned, and still rotates it', async () => {
    const result = await leave({ directoryId: idp.id, identityId: ids.bob, managerId: null, actor: jml });
    const [bobId, sharedId] = [await credentialId('svc-bob'), await credentialId('svc-shared')];
    expect(result.handedOver).toEqual([
      { credentialId: bobId, name: 'svc-bob', outcome: 'orphaned' },
      { credentialId: sharedId, name: 'svc-shared', outcome: 'orphaned' },
    ]);
    expect(result.rotations.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(await ownersOf('svc-bob')).toEqual({ owners: [], orphaned: true });
    expect((await ledger.query({ action: 'credential.orphaned', subjectId: bobId })).entries[0]).toMatchObject({ actor: jml, details: { outcome: 'orphaned', owners: [] } });
    expect(await canLogInToPostgres(target, `svc_bob_${target.tag}`, await passwordOf('svc-bob'))).toBe(true);
    expect(await canLogInToPostgres(target, `svc_bob_${target.tag}`, 'svc_bob-Old-Passw0rd')).toBe(false);
  });

  it('refuses input that is not a directory and identity id, naming the field, and changes nothing', async () => {
    const before = (await ledger.head()).size;
    const failed = await leave({ directoryId: idp.id, identityId: 'alice', managerId: null, actor: jml }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    const cause = (failed as WorkflowFailedError).cause?.cause as Error & { type?: string };
    expect(cause).toMatchObject({ type: 'GatehouseRefused', message: expect.stringContaining('identityId') });
    expect((await ledger.head()).size).toBe(before);
  });
});
