// Credential rotation decided by the published access policy, on the real Temporal dev server,
// PostgreSQL (Gatehouse's and a target cluster's) and Vault, with Gatehouse's real activities: with no
// rule for rotations the built-in one allows them as before; a policy that requires approval makes the
// rotation wait at the approval gate (its owner may not approve, their manager and a security approver
// do) before anything reaches Vault or the target; a denial ends it with nothing changed, on record;
// and a stage nobody could decide refuses the rotation at once, saying why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorFactory } from '../../connectors/instances/connector-factory.js';
import { createCredentialRotation } from '../../connectors/credentials/credential-rotation.js';
import { createCredentialService, type CredentialService } from '../../connectors/credentials/credential-service.js';
import { pendingSecretPath } from '../../connectors/credentials/credential.entity.js';
import type { RotationOutcome } from '../../connectors/credentials/rotation-types.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { createIdentityResolver } from '../../server/access/identity-resolver.js';
import { createApprovalService, type ApprovalService } from '../../server/access/approval-service.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { createOwnerDirectory } from '../../server/owner-directory.js';
import { createTemporalRotations } from '../../server/rotation-scheduling.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { approvalWorkflowId, decideUpdate, stateQuery } from '../../workflows/approval/workflow.js';
import { createRotationActivities } from '../../workflows/rotation/activities.js';
import { createAccessWorld, updateRefusal, waitUntil, type AccessWorld, type Person } from '../helpers/access-world.js';
import { canLogInToPostgres } from '../helpers/postgres-target.js';
import { adminCaller } from '../helpers/service-callers.js';
import { withPg } from '../helpers/services.js';

describe('credential rotation through the published policy and the approval gate', () => {
  let w: AccessWorld;
  let credentials: CredentialService;
  let olga: Person; // owns the service accounts; a security approver too, which must not help her
  let mia: Person; // Olga's manager
  let sam: Person; // security approver
  const admin = adminCaller();
  const passwords = new Map<string, string>();

  const adminUrl = () => {
    const url = new URL(w.target.superuserUrl);
    url.username = w.target.admin.user;
    url.password = w.target.admin.password;
    return url.toString();
  };

  /** A login role on the target, made by the connector's own login (so it may change it), managed as a credential. */
  async function serviceAccount(name: string, owners: Person[]): Promise<{ id: string; role: string }> {
    const role = `${name}_${w.target.tag}`;
    const password = `${name}-Initial-Passw0rd`;
    passwords.set(role, password);
    await withPg(adminUrl(), (c) => c.query(`CREATE ROLE ${c.escapeIdentifier(role)} LOGIN PASSWORD ${c.escapeLiteral(password)}`));
    const { id } = await credentials.register(
      { name: name.replace(/_/g, '-'), connector: w.connector.name, account: { name: role }, secret: password, owners: owners.map((o) => ({ directoryId: w.directoryId, userId: o.id })) },
      admin,
    );
    return { id, role };
  }

  const secretOf = async (id: string) => (await w.vault.store.readKv(`gatehouse/credentials/${id}`))!;
  const handleOf = (workflowId: string) => w.temporal.client.workflow.getHandle(workflowId);

  /** Starts a rotation on request; returns its workflow and run, and the access change it is (from its decision on the ledger). */
  async function startRotation(id: string) {
    const { workflowId } = await credentials.requestRotation(id, { justification: 'quarterly hygiene' }, admin);
    const runId = (await handleOf(workflowId).describe()).runId;
    const decided = await waitUntil('the rotation decision', async () => (await w.ledger.query({ runId, action: 'access.change.decided' })).entries[0]);
    return { workflowId, runId, changeId: decided.correlation!.changeId!, decided };
  }

  const actions = async (runId: string) => (await w.ledger.query({ runId, order: 'oldest', limit: 100 })).entries.map((e) => e.action);
  const gate = (changeId: string) => w.temporal.client.workflow.getHandle(approvalWorkflowId(changeId));
  const decide = async (changeId: string, p: Person, verdict: 'approve' | 'deny', reason: string) =>
    gate(changeId).executeUpdate(decideUpdate, { args: [{ approver: await w.claims(p), verdict, reason }] });

  beforeAll(async () => {
    w = await createAccessWorld();
    mia = await w.person('mia', { name: 'Mia Manager', department: 'Platform' });
    olga = await w.person('olga', { name: 'Olga Owner', department: 'Platform', manager: mia, roles: ['security-approver'] });
    sam = await w.person('sam', { name: 'Sam Security', department: 'Security', roles: ['security-approver'] });
    credentials = createCredentialService({
      orm: w.orm,
      secrets: w.vault.store,
      ledger: w.ledger,
      owners: createOwnerDirectory({ orm: w.orm }),
      rotations: createTemporalRotations({ client: w.temporal.client, taskQueue: w.temporal.taskQueue }),
    });
    await w.startWorker();
  });

  afterAll(async () => {
    await w?.close();
  });

  describe('with no rule for rotations (the default)', () => {
    it('rotates without approval under the built-in policy, before and after a policy without a rotation rule is published', async () => {
      const { id, role } = await serviceAccount('svc_default', [olga]);
      const first = await startRotation(id);
      expect(await handleOf(first.workflowId).result()).toMatchObject({ status: 'succeeded', version: 2 });
      expect(first.decided.policy).toEqual({ id: 'builtin-credential-rotation', versionHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(first.decided.details).toMatchObject({ effect: 'allow', reasons: [expect.stringContaining('no access policy is published'), expect.stringContaining('rotate-managed-credentials')] });

      const hash = await w.publish(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme-no-rotation-rule
rules:
  - id: accounts
    match: { kinds: [create-account] }
    effect: allow
`);
      const second = await startRotation(id);
      expect(await handleOf(second.workflowId).result()).toMatchObject({ status: 'succeeded', version: 3 });
      expect(second.decided.policy!.id).toBe('builtin-credential-rotation');
      expect(second.decided.details).toMatchObject({ effect: 'allow', reasons: [expect.stringContaining(`acme-no-rotation-rule (${hash}) has no rule for rotate-credential`), expect.any(String)] });
      expect(await actions(second.runId)).not.toContain('access.request.opened');
      await expect(gate(second.changeId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      const now = (await secretOf(id)).data.password!;
      expect(await canLogInToPostgres(w.target, role, now)).toBe(true);
      expect(await canLogInToPostgres(w.target, role, passwords.get(role)!)).toBe(false);
    });
  });

  describe('with a published policy that requires approval for rotations', () => {
    let policyHash: string;

    beforeAll(async () => {
      policyHash = await w.publish(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme-rotations-approved
rules:
  - id: rotations-need-approval
    description: a rotation breaks whoever still uses the old secret
    match: { kinds: [rotate-credential], sources: [rotation] }
    effect: require-approval
    approval:
      stages:
        - name: Owner's manager
          approvers: [{ manager: true }]
          deadline: 1h
        - name: Security
          approvers: [{ role: security-approver }]
          deadline: 1h
`);
    });

    it('waits at the gate with Vault and the target untouched, refuses the owner, and rotates once the manager and security approve', async () => {
      const { id, role } = await serviceAccount('svc_gated', [olga]);
      const before = await secretOf(id);
      const { workflowId, runId, changeId, decided } = await startRotation(id);
      expect(decided.policy).toEqual({ id: 'acme-rotations-approved', versionHash: policyHash });
      expect(decided.details).toMatchObject({ effect: 'require-approval', matchedRules: ['rotations-need-approval'], stages: [{ name: "Owner's manager" }, { name: 'Security' }] });
      await w.waitForEntry(changeId, 'access.request.opened');

      // Waiting: nothing reached Vault or the target.
      expect((await handleOf(workflowId).describe()).status.name).toBe('RUNNING');
      expect((await secretOf(id)).version).toBe(before.version);
      expect(await w.vault.store.readKv(pendingSecretPath(id))).toBeUndefined();
      expect(await canLogInToPostgres(w.target, role, passwords.get(role)!)).toBe(true);
      expect(await actions(runId)).toEqual(['secret.rotation.started', 'access.change.decided']);

      // The owner may not approve the rotation of what she owns, even holding the security-approver role; nor Sam the manager's stage.
      expect(await updateRefusal(decide(changeId, olga, 'approve', 'mine, fine'))).toMatch(/non-human identity you own/);
      expect(await updateRefusal(decide(changeId, sam, 'approve', 'not my stage'))).toMatch(/not an approver for stage "Owner's manager"/);
      // The manager and security decide from their inboxes, as the approval page and API do.
      const approvals: ApprovalService = createApprovalService({ orm: w.orm, temporal: w.temporal.client, identities: createIdentityResolver({ orm: w.orm }), decisions: createDecisionSigner(w.vault.store) });
      const as = (p: Person) => ({ principal: p.principal, ability: adminAbilityFor(p.principal) });
      const inboxOf = async (p: Person) => (await approvals.inbox(as(p))).filter((i) => i.id === changeId);
      const [item] = await inboxOf(mia);
      expect(item).toMatchObject({ subject: { type: 'nhi', id }, change: { kind: 'rotate-credential', source: 'rotation' }, stage: { index: 0, name: "Owner's manager" }, eligibleAs: expect.stringContaining('manager') });
      expect(await inboxOf(olga)).toEqual([]);
      expect(await inboxOf(sam)).toEqual([]);
      await approvals.decide(as(mia), changeId, { verdict: 'approve', reason: 'the consumers are ready' });
      await waitUntil('the security stage', async () => ((await gate(changeId).query(stateQuery)).stageIndex === 1 ? true : undefined));
      expect(await updateRefusal(decide(changeId, olga, 'approve', 'mine, fine'))).toMatch(/non-human identity you own/);
      expect(await inboxOf(olga)).toEqual([]);
      // The request's row follows the gate (written by its activity): Sam's inbox shows it once it has.
      expect((await waitUntil("Sam's inbox", async () => ((await inboxOf(sam)).length ? inboxOf(sam) : undefined))).map((i) => i.stage.name)).toEqual(['Security']);
      await approvals.decide(as(sam), changeId, { verdict: 'approve', reason: 'ok' });

      const outcome = (await handleOf(workflowId).result()) as RotationOutcome;
      expect(outcome).toMatchObject({ status: 'succeeded', credentialId: id, version: before.version + 1 });
      const after = await secretOf(id);
      expect(await canLogInToPostgres(w.target, role, after.data.password!)).toBe(true);
      expect(await canLogInToPostgres(w.target, role, passwords.get(role)!)).toBe(false);
      expect(await actions(runId)).toEqual([
        'secret.rotation.started',
        'access.change.decided',
        'secret.rotation.approved',
        'secret.rotation.created',
        'secret.rotation.applied',
        'secret.rotation.stored',
        'secret.rotation.verified',
        'secret.rotation.revoked',
        'secret.rotated',
      ]);
      const gateActions = (await w.ledger.query({ changeId, order: 'oldest', limit: 100 })).entries.filter((e) => e.action.startsWith('access.'));
      expect(gateActions.map((e) => e.action)).toEqual([
        'access.change.decided',
        'access.request.opened',
        'access.change.approved',
        'access.request.stage_started',
        'access.change.approved',
        'access.request.closed',
      ]);
      expect(gateActions.every((e) => e.policy?.versionHash === policyHash)).toBe(true);
      const row = await withPg(w.db.superuserUrl, async (c) => (await c.query<{ status: string }>('SELECT status FROM access_change WHERE id = $1', [changeId])).rows[0]);
      expect(row).toEqual({ status: 'applied' });
    });

    it('a denial ends the rotation with nothing written to Vault or the target, and says why', async () => {
      const { id, role } = await serviceAccount('svc_denied', [olga]);
      const before = await secretOf(id);
      const { workflowId, runId, changeId } = await startRotation(id);
      await w.waitForEntry(changeId, 'access.request.opened');
      await gate(changeId).executeUpdate(decideUpdate, { args: [await w.signedDecision(changeId, await w.claims(mia), 'deny', 'the billing job still reads the old password')] });

      const outcome = (await handleOf(workflowId).result()) as RotationOutcome;
      expect(outcome).toEqual({
        status: 'refused',
        credentialId: id,
        reasons: [expect.stringContaining('rotations-need-approval'), expect.stringMatching(/^approval denied: denied by Mia Manager at stage "Owner's manager": the billing job still reads the old password$/)],
      });
      const after = await secretOf(id);
      expect(after.version).toBe(before.version);
      expect(after.data.password).toBe(passwords.get(role));
      expect(await w.vault.store.readKv(pendingSecretPath(id))).toBeUndefined();
      expect(await canLogInToPostgres(w.target, role, passwords.get(role)!)).toBe(true);
      expect(await actions(runId)).toEqual(['secret.rotation.started', 'access.change.decided', 'secret.rotation.refused']);
      const refused = (await w.ledger.query({ runId, action: 'secret.rotation.refused' })).entries[0]!;
      expect((refused.details as { reasons: string[] }).reasons.join(' ')).toContain('the billing job still reads the old password');
      const cred = await withPg(w.db.superuserUrl, async (c) => (await c.query('SELECT rotation_workflow_id, last_rotation FROM credential WHERE id = $1', [id])).rows[0]);
      expect(cred).toMatchObject({ rotation_workflow_id: null, last_rotation: { status: 'refused', message: expect.stringContaining('denied by Mia Manager') } });
      const change = await withPg(w.db.superuserUrl, async (c) => (await c.query<{ status: string }>('SELECT status FROM access_change WHERE id = $1', [changeId])).rows[0]);
      expect(change).toEqual({ status: 'rejected' });
    });

    it('refuses at once, saying so, when nobody could approve a stage (a credential without owners has no owner\'s manager)', async () => {
      const { id, role } = await serviceAccount('svc_orphan', []);
      const before = await secretOf(id);
      const { workflowId, runId, changeId } = await startRotation(id);
      const outcome = (await handleOf(workflowId).result()) as RotationOutcome;
      expect(outcome).toMatchObject({ status: 'refused', reasons: expect.arrayContaining([expect.stringMatching(/^nobody is eligible to approve stage "Owner's manager": it needs the subject's manager/)]) });
      await expect(gate(changeId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      expect((await secretOf(id)).version).toBe(before.version);
      expect(await canLogInToPostgres(w.target, role, passwords.get(role)!)).toBe(true);
      expect(await actions(runId)).toEqual(['secret.rotation.started', 'access.change.decided', 'secret.rotation.refused']);
    });

    // Last in this block: it publishes another policy.
    it('decides a rotation once (a retried decide step answers from the record, whatever was published since), and applies nothing without the approvals', async () => {
      const { id, role } = await serviceAccount('svc_retried', [olga]);
      const registry = createBuiltinConnectorRegistry();
      const rotation = createCredentialRotation({ orm: w.orm, secrets: w.vault.store, factory: createConnectorFactory({ orm: w.orm, secrets: w.vault.store, registry }), registry, ledger: w.ledger, isRunning: async () => false });
      const activities = createRotationActivities({ orm: w.orm, rotation, policies: createPolicyStore({ orm: w.orm }), ledger: w.ledger, participants: createIdentityResolver({ orm: w.orm }), decisions: createDecisionSigner(w.vault.store) });
      const claim = await rotation.claim({ credentialId: id, reason: 'on-demand', requestedBy: { kind: 'human', id: 'someone' }, workflowId: `test-retry-${id}`, runId: randomUUID(), changeId: randomUUID() });
      if (!claim.claimed) throw new Error(claim.why);
      const plan = claim.plan;

      const first = await activities.rotationDecide(plan);
      expect(first).toMatchObject({ effect: 'require-approval', gate: { policy: { name: 'acme-rotations-approved', versionHash: policyHash }, stages: [{ name: "Owner's manager" }, { name: 'Security' }] } });
      expect(first.gate!.participants.subjectKeys).toEqual(expect.arrayContaining([id, olga.id, olga.email, olga.userId]));
      expect(first.gate!.participants.managerKeys).toEqual(expect.arrayContaining([mia.id, mia.email, mia.userId]));
      await w.publish(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme-rotations-free
rules:
  - id: rotations
    match: { kinds: [rotate-credential] }
    effect: allow
`);
      expect(await activities.rotationDecide(plan)).toEqual(first);
      expect((await w.ledger.query({ changeId: plan.changeId, action: 'access.change.decided' })).entries).toHaveLength(1);

      // No gate approved it: the approval check and the apply step refuse, and the target keeps its password.
      await expect(activities.rotationApproved(plan)).rejects.toThrow(/no approved outcome of the approval gate/);
      await expect(activities.rotationApply(plan)).rejects.toThrow(/no allow decision \(or approval it required\) is on record/);
      expect(await canLogInToPostgres(w.target, role, passwords.get(role)!)).toBe(true);
      expect(await w.vault.store.readKv(pendingSecretPath(id))).toBeUndefined();
    });
  });
});
