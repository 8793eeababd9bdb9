// A small organisation for the access-change tests, all real: a SCIM directory with people (and their
// managers and groups), Gatehouse users who sign in with those people's e-mails, a PostgreSQL target
// reached through the PostgreSQL connector (its secret in Vault), a published policy, the ledger, and
// a Temporal worker running Gatehouse's real activities on the suite's task queue.
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { createLedger, type Ledger, type LedgerEntry } from '../../audit/index.js';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorInstanceService } from '../../connectors/instances/connector-instance-service.js';
import { createScimModule, type ScimModule } from '../../scim/index.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { createPolicyService, publishInTransaction } from '../../policies/policy-service.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import type { ApproverClaims } from '../../policies/approval-eligibility.js';
import type { Principal, Role } from '../../shared/auth/permissions.js';
import { createLogger } from '../../server/logger.js';
import { buildActivities } from '../../server/activities.js';
import { createUserService } from '../../server/auth/user-service.js';
import { createIdentityResolver } from '../../server/access/identity-resolver.js';
import { createSimulationSource } from '../../server/access/simulation-source.js';
import { accessRequestWorkflow, accessRequestWorkflowId } from '../../workflows/access-request/workflow.js';
import { approvalWorkflowId, stateQuery, type DecideArgs } from '../../workflows/approval/workflow.js';
import { decisionStatement } from '../../policies/decision-signature.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import type { ChangeOutcome } from '../../workflows/change/change-types.js';
import { createPostgresTarget, type PostgresTarget } from './postgres-target.js';
import { adminCaller } from './service-callers.js';
import { TEST_ISSUER } from './test-callers.js';
import { connectTestTemporal, createTestDatabase, createTestVault, createTestWorker, openOrm, TEST_ADMIN, withPg, type MikroORM, type TestDatabase, type TestTemporal, type TestVault } from './services.js';

export interface Person {
  /** The directory identity (SCIM user) id. */
  id: string;
  email: string;
  userName: string;
  /** The Gatehouse user who signs in with this e-mail. */
  userId: string;
  principal: Principal;
}

export interface PersonSpec {
  name: string;
  roles?: Role[];
  department?: string;
  title?: string;
  manager?: Person;
  /** `service`, `bot`...: a non-human identity; its manager is its owner. */
  userType?: string;
  /** No Gatehouse sign-in (a person who never signed in, or a non-human identity). */
  noSignIn?: boolean;
  /** More e-mails on the directory identity, besides its userName. */
  emails?: string[];
}

export interface AccessWorld {
  db: TestDatabase;
  vault: TestVault;
  temporal: TestTemporal;
  orm: MikroORM;
  ledger: Ledger;
  target: PostgresTarget;
  connector: { id: string; name: string };
  directoryId: string;
  scim: ScimModule;
  person(key: string, spec: PersonSpec): Promise<Person>;
  /** Someone who signs in through the test issuer with this e-mail, with no identity of their own in the directory. */
  signIn(email: string, name: string): Promise<Person>;
  group(name: string, members: Person[]): Promise<string>;
  /** The approver claims the server would send for this person. */
  claims(p: Person): Promise<ApproverClaims>;
  /** A decision as the server sends it: signed with the decision key for the gate's current stage. */
  signedDecision(changeId: string, approver: ApproverClaims, verdict: 'approve' | 'deny', reason: string): Promise<DecideArgs>;
  publish(yaml: string): Promise<string>;
  /** Starts the worker (again, after stopWorker: a restart). */
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  /** Every access-request workflow started, and the approval gates they may have started. */
  startedWorkflowIds(): string[];
  /** Starts one change through the access-request workflow. */
  request(change: AccessChangeInput, workflowId?: string): Promise<WorkflowHandle<typeof accessRequestWorkflow>>;
  change(kind: AccessChangeInput['kind'], subject: Person, extra?: Partial<AccessChangeInput> & { entitlement?: string; accountName?: string }): AccessChangeInput;
  entries(changeId: string): Promise<LedgerEntry[]>;
  /** Waits for a ledger entry about the change with this action. */
  waitForEntry(changeId: string, action: string): Promise<LedgerEntry>;
  /** The group roles a login role is a member of in the target, read behind Gatehouse's back. */
  membershipsOf(roleName: string): Promise<string[]>;
  /** Creates a group role in the target (as the connector's own login would). */
  targetGroup(name: string): Promise<void>;
  journal(changeId: string): Promise<{ status: string; attempts: number }[]>;
  close(): Promise<void>;
}

export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function createAccessWorld(options: { connectorName?: string } = {}): Promise<AccessWorld> {
  const [db, vault, temporal, target] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
  const orm = await openOrm(db.appUrl, 6);
  // The worker gets its own pool, as a worker process would.
  const workerOrm = await openOrm(db.appUrl, 6);
  const ledger = createLedger({ orm, signer: vault.store });
  const decisions = createDecisionSigner(vault.store);
  const registry = createBuiltinConnectorRegistry();
  const connectorName = options.connectorName ?? `pg-${target.tag}`;
  const instance = await createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger }).create({ name: connectorName, type: 'postgresql', config: target.config() }, adminCaller());
  const scim = await createScimModule({ orm, ledger, publicUrl: 'http://gatehouse.test', log: createLogger({ level: 'silent' }) });
  const directory = await scim.directories.createDirectory(`acme-${target.tag}`, TEST_ADMIN, { signInIssuers: [TEST_ISSUER] });
  const token = await scim.directories.createToken(directory.id, TEST_ADMIN);
  const actor = { directoryId: directory.id, tokenId: token.token.id };
  const users = createUserService({ orm, events: { record: async () => undefined } });
  const identities = createIdentityResolver({ orm });
  const store = createPolicyStore({ orm });
  const system: Principal = { kind: 'system', id: 'test', roles: [] };
  const policies = createPolicyService({ orm, store, ledger, simulation: createSimulationSource({ orm, subjects: identities }) });

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const started: string[] = [];

  const world: AccessWorld = {
    db,
    vault,
    temporal,
    orm,
    ledger,
    target,
    connector: { id: instance.id, name: connectorName },
    directoryId: directory.id,
    scim,

    async person(key, spec) {
      const userName = `${key}@acme-${target.tag}.test`;
      const created = await scim.service.create(
        actor,
        'User',
        {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
          userName,
          displayName: spec.name,
          emails: [{ value: userName, primary: true }, ...(spec.emails ?? []).map((value) => ({ value }))],
          ...(spec.title ? { title: spec.title } : {}),
          ...(spec.userType ? { userType: spec.userType } : { userType: 'Employee' }),
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': {
            ...(spec.department ? { department: spec.department } : {}),
            ...(spec.manager ? { manager: { value: spec.manager.id } } : {}),
          },
        },
        {},
      );
      const id = String(created.body.id);
      if (spec.noSignIn) return { id, email: userName, userName, userId: '', principal: { kind: 'human', id: '', roles: [] } };
      const user = await users.recordSignIn({ issuer: TEST_ISSUER, subject: randomUUID(), email: userName, displayName: spec.name, roles: spec.roles ?? [] });
      return { id, email: userName, userName, userId: user.id, principal: { kind: 'human', id: user.id, displayName: spec.name, email: userName, roles: spec.roles ?? [] } };
    },

    async signIn(email, name) {
      const user = await users.recordSignIn({ issuer: TEST_ISSUER, subject: randomUUID(), email, displayName: name, roles: [] });
      return { id: '', email, userName: email, userId: user.id, principal: { kind: 'human', id: user.id, displayName: name, email, roles: [] } };
    },

    async group(name, members) {
      const created = await scim.service.create(actor, 'Group', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: name, members: members.map((m) => ({ value: m.id })) }, {});
      return String(created.body.id);
    },

    claims: (p) => identities.claimsFor(p.principal),

    async signedDecision(changeId, approver, verdict, reason) {
      const state = await temporal.client.workflow.getHandle(approvalWorkflowId(changeId)).query(stateQuery);
      const statement = decisionStatement({ changeId, stageIndex: state.stageIndex, stage: state.stageName ?? '', verdict, reason, approver });
      return { approver, verdict, reason, signature: await decisions.sign(statement, Math.max(...state.decisionKeyVersions)) };
    },

    async publish(yaml) {
      // The first publication is the bootstrap; later ones are set up here as if their admin change
      // had been approved (governance of publishing is tested in admin-changes.test.ts).
      const caller = { principal: system, ability: adminAbilityFor(system) };
      const inForce = await store.inForce();
      const result = inForce
        ? await orm.em.fork().transactional((em) => publishInTransaction(em, ledger, { text: yaml, governedBy: inForce.versionHash, actor: { kind: 'system', id: 'test' }, authority: { test: 'set up by the test world' } }))
        : await policies.publish(caller, { document: yaml });
      if (!('publication' in result)) throw new Error('the test world publishes without waiting for approval');
      return result.publication.versionHash;
    },

    async startWorker() {
      worker = await createTestWorker(temporal, buildActivities({ orm: workerOrm, secrets: vault.store, ledger: createLedger({ orm: workerOrm, signer: vault.store }), temporal: { client: temporal.client, taskQueue: temporal.taskQueue } }));
      running = worker.run();
      // Keep a failure of the worker visible instead of unhandled.
      running.catch((err: unknown) => console.error('test worker stopped with an error', err));
    },

    async stopWorker() {
      if (!worker) return;
      worker.shutdown();
      await running?.catch(() => undefined);
      worker = undefined;
    },

    request(change, workflowId) {
      const id = workflowId ?? accessRequestWorkflowId(change.id);
      started.push(id);
      return temporal.client.workflow.start(accessRequestWorkflow, { taskQueue: temporal.taskQueue, workflowId: id, args: [{ change }] });
    },

    startedWorkflowIds() {
      return [...started];
    },

    change(kind, subject, extra = {}) {
      const { entitlement, accountName, ...rest } = extra;
      return {
        id: randomUUID(),
        kind,
        subject: { type: 'human', id: subject.id, directoryId: directory.id },
        target: {
          connectorId: instance.id,
          ...(entitlement ? { entitlement: { id: entitlement } } : {}),
          ...(accountName ? { accountName } : {}),
        },
        source: 'manual-request',
        requester: { kind: 'human', id: subject.userId },
        justification: 'needed for the quarterly close',
        ...rest,
      };
    },

    async entries(changeId) {
      return (await ledger.query({ changeId, order: 'oldest', limit: 500 })).entries;
    },

    waitForEntry(changeId, action) {
      return waitUntil(`${action} for ${changeId}`, async () => (await world.entries(changeId)).find((e) => e.action === action));
    },

    async membershipsOf(roleName) {
      return withPg(target.superuserUrl, async (c) =>
        (
          await c.query<{ rolname: string }>(
            'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1',
            [roleName],
          )
        ).rows.map((r) => r.rolname),
      );
    },

    async targetGroup(name) {
      const url = new URL(target.superuserUrl);
      url.username = target.admin.user;
      url.password = target.admin.password;
      await withPg(url.toString(), (c) => c.query(`CREATE ROLE ${c.escapeIdentifier(name)} NOLOGIN`));
    },

    async journal(changeId) {
      return withPg(db.superuserUrl, async (c) => (await c.query<{ status: string; attempts: number }>('SELECT status, attempts FROM connector_operation WHERE idempotency_key LIKE $1 || \'%\'', [changeId])).rows);
    },

    async close() {
      await world.stopWorker();
      await orm.close(true);
      await workerOrm.close(true);
      await temporal.close();
      await target.drop();
      await db.drop();
    },
  };
  return world;
}

/** Waits for the access-request workflow's outcome. */
export const outcomeOf = (handle: WorkflowHandle<typeof accessRequestWorkflow>): Promise<ChangeOutcome> => handle.result();

/** The message with which the gate's Update validator refused an attempt (fails the test if it was not refused). */
export async function updateRefusal(attempt: Promise<unknown>): Promise<string> {
  const err = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowUpdateFailedError)) throw new Error(`expected the Update to be refused, got ${err === undefined ? 'success' : String(err)}`);
  return (err.cause as Error).message;
}
