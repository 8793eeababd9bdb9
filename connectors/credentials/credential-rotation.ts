// The steps of a credential rotation, each run inside one activity: claim the credential, create the
// new secret (in a pending slot in Vault, so a crash never loses it), apply it to the target, store
// it at the credential's path with check-and-set, verify it, revoke the old; and the undos that put
// Vault and the target back. Every step is idempotent (a retried activity finds its own work) and
// is one ledger entry, recorded exactly once with a step row in the same transaction.
import { randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender, NewLedgerEntry } from '../../audit/index.js';
import { GatehouseError } from '../../shared/errors.js';
import { SecretConflictError, type SecretStore } from '../../shared/secrets/secret-store.js';
import type { ConnectorRegistry } from '../connector-registry.js';
import type { ConnectorFactory } from '../instances/connector-factory.js';
import { ConnectorInstance } from '../instances/connector-instance.entity.js';
import { requireCapability, type Connector, type CredentialTarget } from '../spi/connector.js';
import { ConnectorError, InvalidCredential, UnknownUid } from '../spi/errors.js';
import { Credential, pendingSecretPath, type CredentialRow } from './credential.entity.js';
import type { LastRotation, RotationStep } from './credential-types.js';
import type { AppliedStep, ClaimResult, RotationPlan, RotationRequest, StoredStep } from './rotation-types.js';

export interface CredentialRotationDeps {
  orm: MikroORM;
  secrets: SecretStore;
  factory: ConnectorFactory;
  registry: ConnectorRegistry;
  ledger: LedgerAppender;
  /** Whether a workflow run still runs: a lease held by a rotation that ended (terminated) is taken over. */
  isRunning(workflowId: string, runId: string | undefined): Promise<boolean>;
  /** Gatehouse user ids of a credential's owners, for the policy decision (owners requesting their own rotation). */
  ownerIdsOf?(credentialId: string): Promise<string[]>;
  now?: () => Date;
}

interface PendingSecret {
  secret: string;
  workflowId: string;
  /** Dual-credential targets: the target's id of the credential it issued. */
  credentialId?: string;
}

/** 40 characters from [A-Za-z0-9]: about 238 bits, printable ASCII that every target accepts. */
export function generateSecret(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < 40) {
    for (const byte of randomBytes(64)) {
      // 248 = 4 × 62: bytes above it are dropped so every character is equally likely.
      if (byte < 248 && out.length < 40) out += alphabet[byte % 62];
    }
  }
  return out;
}

const failure = (message: string) => new GatehouseError('precondition_failed', message);

/** A scheduled rotation acts from nine tenths of the max age on, so the credential never outlives it. */
export const DUE_FRACTION = 0.9;

/** When a credential with a max-age policy is due for rotation, by the age of the secret in use. */
export function dueAt(row: Pick<CredentialRow, 'maxAgeDays' | 'secretUpdatedAt' | 'createdAt'>): Date | undefined {
  if (!row.maxAgeDays) return undefined;
  const since = row.secretUpdatedAt ?? row.createdAt;
  return new Date(since.getTime() + row.maxAgeDays * DUE_FRACTION * 86_400_000);
}

export function createCredentialRotation(deps: CredentialRotationDeps) {
  const now = deps.now ?? (() => new Date());
  const actorOf = (plan: Pick<RotationPlan, 'workflowId' | 'credentialName'>): Actor => ({ kind: 'workflow', id: plan.workflowId, display: `rotation of ${plan.credentialName}` });
  const entryOf = (plan: RotationPlan, action: string, details: Record<string, unknown>): NewLedgerEntry => ({
    action,
    actor: actorOf(plan),
    subject: { type: 'credential', id: plan.credentialId, display: plan.credentialName },
    target: { type: 'connector', id: plan.connectorId, display: plan.connectorName },
    details,
    correlation: { workflowId: plan.workflowId, runId: plan.runId, changeId: plan.changeId },
  });

  /**
   * Records a step once: the step row and the ledger entry commit together with `change`, and a
   * retried activity whose step is already on record changes nothing more.
   */
  async function record(plan: RotationPlan, step: string, entry: NewLedgerEntry, change?: (em: EntityManager) => Promise<void>, details: Record<string, unknown> = {}): Promise<boolean> {
    return deps.orm.em.fork().transactional(async (em) => {
      const inserted = await em
        .getConnection()
        .execute<{ step: string }[]>(
          `INSERT INTO credential_rotation_step (change_id, step, workflow_id, credential_id, details) VALUES (?, ?, ?, ?, ?::jsonb) ON CONFLICT DO NOTHING RETURNING step`,
          [plan.changeId, step, plan.workflowId, plan.credentialId, JSON.stringify(details)],
          'all',
          em.getTransactionContext(),
        );
      if (!inserted.length) return false;
      await change?.(em);
      await em.flush();
      await deps.ledger.append(entry, { em });
      return true;
    });
  }

  async function stepRecorded(plan: RotationPlan, step: string): Promise<Record<string, unknown> | undefined> {
    const rows = await deps.orm.em.fork().getConnection().execute<{ details: Record<string, unknown> }[]>('SELECT details FROM credential_rotation_step WHERE change_id = ? AND step = ?', [plan.changeId, step]);
    return rows[0]?.details;
  }

  async function readPending(plan: RotationPlan): Promise<PendingSecret | undefined> {
    const stored = await deps.secrets.readKv(pendingSecretPath(plan.credentialId));
    return stored?.data.secret ? (stored.data as unknown as PendingSecret) : undefined;
  }

  async function writePending(plan: RotationPlan, pending: PendingSecret): Promise<number> {
    const path = pendingSecretPath(plan.credentialId);
    const meta = await deps.secrets.readKvMetadata(path);
    const { version } = await deps.secrets.writeKv(path, { ...pending }, { cas: meta?.currentVersion ?? 0 });
    return version;
  }

  async function readVersion(plan: RotationPlan, version: number): Promise<Record<string, string>> {
    const stored = await deps.secrets.readKv(plan.secretPath, { version });
    if (!stored) throw failure(`${plan.credentialName}: version ${version} of ${plan.secretPath} is missing from Vault`);
    return stored.data;
  }

  /** The connector, logged in as the instance records (or with `overrides` in place of its secrets). */
  const withConnector = <T>(plan: RotationPlan, work: (connector: Connector) => Promise<T>, overrides?: Record<string, string>) =>
    deps.factory.withConnector(plan.connectorId, (connector) => work(connector), overrides ? { secretOverrides: overrides } : {});

  /** Points whoever reads the credential (the connector instance, or the credential row) at `version`. */
  async function pointAt(em: EntityManager, plan: RotationPlan, version: number): Promise<void> {
    if (plan.kind === 'connector-login') {
      const instance = await em.findOneOrFail(ConnectorInstance, { id: plan.connectorId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      instance.secretVersion = version;
    } else {
      const row = await em.findOneOrFail(Credential, { id: plan.credentialId });
      row.secretVersion = version;
    }
  }

  async function settle(plan: RotationPlan, last: LastRotation, apply: (row: CredentialRow) => void = () => undefined): Promise<(em: EntityManager) => Promise<void>> {
    return async (em) => {
      const row = await em.findOne(Credential, { id: plan.credentialId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!row) return;
      if (row.rotationWorkflowId === plan.workflowId && row.rotationRunId === plan.runId) {
        row.rotationWorkflowId = null;
        row.rotationRunId = null;
      }
      row.lastRotation = last;
      apply(row);
      // A rotation that waited for approval is also an access change on record: it says how it ended.
      const [from, to] = last.status === 'succeeded' ? ['approved', 'applied'] : last.status === 'failed' ? ['approved', 'failed'] : ['awaiting-approval', 'rejected'];
      await em.getConnection().execute('UPDATE access_change SET status = ?, updated_at = ? WHERE id = ? AND status = ?', [to, now(), plan.changeId, from], 'run', em.getTransactionContext());
    };
  }

  const lastOf = (plan: RotationPlan, status: LastRotation['status'], extra: Partial<LastRotation> = {}): LastRotation => ({
    workflowId: plan.workflowId,
    reason: plan.reason,
    status,
    startedAt: extra.startedAt ?? now().toISOString(),
    ...extra,
  });

  return {
    /**
     * Takes the credential for this rotation (one at a time per credential) and fixes the plan. Not
     * claimed: the credential is gone, another rotation runs, or its connector cannot rotate.
     */
    async claim(request: RotationRequest & { workflowId: string; runId: string; changeId: string }): Promise<ClaimResult> {
      const em = deps.orm.em.fork();
      const row = await em.findOne(Credential, { id: request.credentialId });
      if (!row) return { claimed: false, why: `credential ${request.credentialId} does not exist (any more)` };
      if (request.reason === 'schedule') {
        const due = dueAt(row);
        if (!due) return { claimed: false, why: `${row.name} has no max-age policy` };
        if (due > now()) return { claimed: false, why: `${row.name} is not due until ${due.toISOString()}` };
      }
      const ours = row.rotationWorkflowId === request.workflowId && row.rotationRunId === request.runId;
      const heldBy = row.rotationWorkflowId && !ours ? { workflowId: row.rotationWorkflowId, runId: row.rotationRunId ?? undefined } : undefined;
      if (heldBy && (await deps.isRunning(heldBy.workflowId, heldBy.runId))) {
        return { claimed: false, why: `another rotation of ${row.name} is in progress (${heldBy.workflowId})` };
      }
      const instance = await em.findOne(ConnectorInstance, { id: row.connectorId });
      if (!instance) return { claimed: false, why: `the connector of ${row.name} does not exist (any more)` };
      const type = deps.registry.get(instance.type);
      if (!type.capabilitiesFor(instance.settings).includes('rotateCredential')) {
        return { claimed: false, why: `connector ${instance.name} (${instance.type}) cannot rotate credentials` };
      }
      // Everything below needs the connector (its credential model, an account's uid), so its secrets: this runs in an activity.
      let accountUid = row.accountUid ?? null;
      const shape = await deps.factory.withConnector(instance.id, async (connector) => {
        const rotate = requireCapability(connector, 'rotateCredential', instance.name);
        if (row.kind === 'service-account' && !accountUid && row.accountName) {
          for await (const a of requireCapability(connector, 'searchAccounts', instance.name).searchAccounts({ filter: { op: 'eq', attribute: 'name', value: row.accountName } })) {
            accountUid = a.uid;
            break;
          }
          if (!accountUid) throw new UnknownUid(`${instance.name}: no account named ${row.accountName} to rotate the credential of`);
        }
        return rotate.credentials;
      });
      const previousVersion = row.kind === 'connector-login' ? instance.secretVersion : row.secretVersion;
      if (!previousVersion) return { claimed: false, why: `${row.name} has no secret in Vault to rotate` };
      const meta = await deps.secrets.readKvMetadata(row.secretPath);
      if (!meta) throw failure(`${row.name}: ${row.secretPath} is missing from Vault`);
      const target: CredentialTarget = row.kind === 'connector-login' ? { kind: 'self' } : { kind: 'account', uid: accountUid! };
      const plan: RotationPlan = {
        credentialId: row.id,
        credentialName: row.name,
        kind: row.kind,
        connectorId: instance.id,
        connectorName: instance.name,
        connectorType: instance.type,
        target,
        model: shape.model,
        source: shape.source,
        secretPath: row.secretPath,
        secretField: row.secretField,
        previousVersion,
        casVersion: meta.currentVersion,
        oldCredentialId: row.targetCredentialId ?? null,
        ownerIds: (await deps.ownerIdsOf?.(row.id)) ?? [],
        privileged: row.privileged,
        workflowId: request.workflowId,
        runId: request.runId,
        changeId: request.changeId,
        reason: request.reason,
        requestedBy: request.requestedBy,
        ...(request.justification ? { justification: request.justification } : {}),
      };
      const takenOver = heldBy?.workflowId;
      await record(
        plan,
        'claim',
        entryOf(plan, 'secret.rotation.started', {
          reason: plan.reason,
          requestedBy: plan.requestedBy,
          ...(plan.justification ? { justification: plan.justification } : {}),
          model: plan.model,
          source: plan.source,
          secretPath: plan.secretPath,
          previousVersion,
          ...(takenOver ? { tookOverFrom: takenOver } : {}),
        }),
        async (tem) => {
          const locked = await tem.findOneOrFail(Credential, { id: row.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
          // Still as it was read: free, ours, or held by the run found to have ended.
          if ((locked.rotationWorkflowId ?? null) !== (row.rotationWorkflowId ?? null) || (locked.rotationRunId ?? null) !== (row.rotationRunId ?? null)) {
            throw new GatehouseError('conflict', `another rotation of ${row.name} claimed it a moment ago (${locked.rotationWorkflowId})`);
          }
          locked.rotationWorkflowId = request.workflowId;
          locked.rotationRunId = request.runId;
          if (accountUid && !locked.accountUid) locked.accountUid = accountUid;
          locked.lastRotation = lastOf(plan, 'running');
        },
      );
      return { claimed: true, plan };
    },

    /** A rotation that could not even begin (its connector refused before anything changed): recorded, nothing to undo. */
    async claimFailed(request: RotationRequest & { workflowId: string; runId: string; changeId: string }, error: { code: string; message: string }): Promise<void> {
      const em = deps.orm.em.fork();
      const row = await em.findOne(Credential, { id: request.credentialId });
      if (!row) return;
      const plan = { workflowId: request.workflowId, runId: request.runId, changeId: request.changeId, credentialId: row.id, credentialName: row.name, connectorId: row.connectorId, reason: request.reason } as RotationPlan;
      const connector = await em.findOne(ConnectorInstance, { id: row.connectorId });
      await record(
        { ...plan, connectorName: connector?.name ?? row.connectorId },
        'fail',
        entryOf({ ...plan, connectorName: connector?.name ?? row.connectorId }, 'secret.rotation.failed', { step: 'claim', errorCode: error.code, message: error.message.slice(0, 500), reason: request.reason, restored: { vault: true, target: true } }),
        async (tem) => {
          const locked = await tem.findOneOrFail(Credential, { id: row.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
          locked.lastRotation = lastOf(plan, 'failed', { finishedAt: now().toISOString(), step: 'claim', errorCode: error.code, message: error.message.slice(0, 500) });
        },
      );
    },

    /**
     * The policy decision, taken by the caller (workflows/rotation/rotation-decision.ts); kept here so
     * apply can check it. `also` adds to the step's details and writes, in the same transaction, what
     * the caller records beside it (for a decision that requires approval, the access change the
     * approval gate opens its request from). False when a decision was already on record.
     */
    async recordDecision(
      plan: RotationPlan,
      decision: { effect: string; policy: { name: string; versionHash: string }; reasons: string[]; matchedRules: { id: string }[] },
      also?: { details: Record<string, unknown>; within: (em: EntityManager) => Promise<void> },
    ): Promise<boolean> {
      return record(
        plan,
        'decide',
        {
          ...entryOf(plan, 'access.change.decided', {
            kind: 'rotate-credential',
            effect: decision.effect,
            reasons: decision.reasons,
            matchedRules: decision.matchedRules.map((r) => r.id),
            requestedBy: plan.requestedBy,
            ...also?.details,
          }),
          policy: { id: decision.policy.name, versionHash: decision.policy.versionHash },
        },
        also?.within,
        { effect: decision.effect, policy: decision.policy, reasons: decision.reasons },
      );
    },

    /** The decision already on record for this rotation (a retried decide step returns it, not a new one). */
    async recordedDecision(plan: RotationPlan): Promise<{ effect: string; reasons: string[] } | undefined> {
      const step = await stepRecorded(plan, 'decide');
      if (!step) return undefined;
      return { effect: String(step.effect), reasons: Array.isArray(step.reasons) ? (step.reasons as string[]) : [] };
    },

    /**
     * The approval gate approved this rotation, as the caller checked from the ledger (every stage's
     * approvals and the gate's approved outcome under the decision's policy version): recorded, so the
     * apply step may go ahead.
     */
    async recordApproval(plan: RotationPlan, authority: { policy: { id: string; versionHash: string }; decidedSeq: number }): Promise<void> {
      await record(plan, 'approve', { ...entryOf(plan, 'secret.rotation.approved', { decidedSeq: authority.decidedSeq }), policy: authority.policy }, undefined, { decidedSeq: authority.decidedSeq });
    },

    /** Step 1: the new secret, in the pending slot. A pending secret from a rotation that died is adopted. */
    async create(plan: RotationPlan): Promise<void> {
      if (plan.source === 'target') return; // the target issues it in step 2
      const existing = await readPending(plan);
      let version: number | undefined;
      if (!existing) version = await writePending(plan, { secret: generateSecret(), workflowId: plan.workflowId });
      await record(
        plan,
        'create',
        entryOf(plan, 'secret.rotation.created', {
          pendingPath: pendingSecretPath(plan.credentialId),
          ...(version ? { pendingVersion: version } : { adopted: true, adoptedFrom: existing!.workflowId }),
        }),
      );
    },

    /** Step 2: the target holds the new credential (beside the old where it holds two). */
    async apply(plan: RotationPlan): Promise<AppliedStep> {
      const decided = await stepRecorded(plan, 'decide');
      const approved = decided?.effect === 'require-approval' && (await stepRecorded(plan, 'approve'));
      if (decided?.effect !== 'allow' && !approved) {
        throw failure(`${plan.credentialName}: no allow decision (or approval it required) is on record for change ${plan.changeId}; nothing reaches the target without one`);
      }
      const key = { idempotencyKey: `${plan.changeId}:apply` };
      let applied: AppliedStep;
      if (plan.source === 'target') {
        const pending = await readPending(plan);
        if (pending?.credentialId) {
          applied = { credentialId: pending.credentialId };
        } else {
          applied = await withConnector(plan, async (connector) => {
            const rotate = requireCapability(connector, 'rotateCredential');
            const issued = await rotate.applyCredential(plan.target, key);
            if (!issued.secret) throw failure(`${plan.connectorName}: the target issued a credential without its value`);
            try {
              await writePending(plan, { secret: issued.secret, workflowId: plan.workflowId, credentialId: issued.credentialId });
            } catch (err) {
              // Nobody would ever know this credential: take it back before failing.
              await rotate.retireCredential(plan.target, issued.credentialId, { idempotencyKey: `${plan.changeId}:orphan` }).catch(() => undefined);
              throw err;
            }
            return { credentialId: issued.credentialId };
          });
        }
      } else {
        const pending = await readPending(plan);
        if (!pending) throw failure(`${plan.credentialName}: the pending secret is missing from Vault`);
        const set = (overrides?: Record<string, string>) => withConnector(plan, (c) => requireCapability(c, 'rotateCredential').applyCredential(plan.target, key, pending.secret), overrides);
        try {
          applied = await set();
        } catch (err) {
          // The connector logs in with its own credential: an earlier attempt may have changed it already.
          if (!(err instanceof InvalidCredential) || plan.target.kind !== 'self') throw err;
          applied = await set({ [plan.secretField]: pending.secret });
        }
      }
      await record(plan, 'apply', entryOf(plan, 'secret.rotation.applied', { model: plan.model, targetCredentialId: applied.credentialId }));
      return applied;
    },

    /** Step 3: Vault holds the new credential, check-and-set on the version current when the rotation began. */
    async store(plan: RotationPlan): Promise<StoredStep> {
      const pending = await readPending(plan);
      const meta = await deps.secrets.readKvMetadata(plan.secretPath);
      let version: number | undefined;
      if (meta && meta.currentVersion > plan.casVersion) {
        // Written already (this rotation, on an earlier attempt), or by someone else: only ours counts.
        const current = await deps.secrets.readKv(plan.secretPath);
        if (pending && current?.data[plan.secretField] === pending.secret) version = current.version;
      }
      if (!version) {
        if (!pending) throw failure(`${plan.credentialName}: the pending secret is missing from Vault`);
        const previous = await readVersion(plan, plan.previousVersion);
        // A lost race is a SecretConflictError: non-retryable, and the rotation restores.
        version = (await deps.secrets.writeKv(plan.secretPath, { ...previous, [plan.secretField]: pending.secret }, { cas: plan.casVersion })).version;
      }
      const stored = version;
      await record(plan, 'store', entryOf(plan, 'secret.rotation.stored', { secretPath: plan.secretPath, version: stored, previousVersion: plan.previousVersion }), async (em) => {
        await pointAt(em, plan, stored);
        const row = await em.findOneOrFail(Credential, { id: plan.credentialId });
        row.secretUpdatedAt = now();
      });
      return { version: stored };
    },

    /** Step 4: the new credential works on the target (a real login with it). */
    async verify(plan: RotationPlan, stored: StoredStep): Promise<void> {
      const secret = (await readVersion(plan, stored.version))[plan.secretField];
      if (!secret) throw failure(`${plan.credentialName}: version ${stored.version} has no ${plan.secretField}`);
      await withConnector(plan, (c) => requireCapability(c, 'rotateCredential').verifyCredential(plan.target, secret));
      await record(plan, 'verify', entryOf(plan, 'secret.rotation.verified', { version: stored.version }));
    },

    /** Step 5: the old credential is revoked (dual-credential targets); a single credential was replaced at step 2. */
    async revoke(plan: RotationPlan, applied: AppliedStep): Promise<{ revoked: boolean; note?: string }> {
      const key = { idempotencyKey: `${plan.changeId}:revoke` };
      let outcome: { revoked: boolean; note?: string };
      if (plan.model === 'single') {
        await withConnector(plan, (c) => requireCapability(c, 'rotateCredential').retireCredential(plan.target, applied.credentialId, key));
        outcome = { revoked: true, note: 'the target holds one credential: applying the new one replaced the old' };
      } else if (!plan.oldCredentialId) {
        outcome = { revoked: false, note: "the target's id of the old credential is not known: set targetCredentialId, then revoke it by hand" };
      } else if (plan.oldCredentialId === applied.credentialId) {
        outcome = { revoked: false, note: 'the old and new credential are the same' };
      } else {
        const id = plan.oldCredentialId;
        const result = await withConnector(plan, (c) => requireCapability(c, 'rotateCredential').retireCredential(plan.target, id, key));
        outcome = { revoked: true, ...(result.changed ? {} : { note: 'it was already gone' }) };
      }
      await record(plan, 'revoke', entryOf(plan, 'secret.rotation.revoked', { model: plan.model, oldCredentialId: plan.oldCredentialId, ...outcome }));
      return outcome;
    },

    /** Done: the credential records its new state and is free for the next rotation; the pending slot goes. */
    async complete(plan: RotationPlan, stored: StoredStep, applied: AppliedStep, revoked: { revoked: boolean; note?: string }): Promise<void> {
      const started = (await deps.orm.em.fork().findOne(Credential, { id: plan.credentialId }))?.lastRotation?.startedAt;
      await record(
        plan,
        'complete',
        entryOf(plan, 'secret.rotated', { secretPath: plan.secretPath, version: stored.version, previousVersion: plan.previousVersion, model: plan.model, reason: plan.reason, oldCredentialRevoked: revoked.revoked }),
        await settle(plan, lastOf(plan, 'succeeded', { ...(started ? { startedAt: started } : {}), finishedAt: now().toISOString(), ...(revoked.note ? { message: revoked.note } : {}) }), (row) => {
          row.targetCredentialId = plan.model === 'dual' ? applied.credentialId : null;
        }),
      );
      await deps.secrets.destroyKv(pendingSecretPath(plan.credentialId));
    },

    /** Undo of step 1. */
    async discardPending(plan: RotationPlan): Promise<void> {
      await deps.secrets.destroyKv(pendingSecretPath(plan.credentialId));
    },

    /** Undo of step 2: the target holds the previous credential again (only what step 2 changed is undone). */
    async restoreTarget(plan: RotationPlan): Promise<{ changed: boolean }> {
      const key = { idempotencyKey: `${plan.changeId}:restore-target` };
      let changed = false;
      if (plan.source === 'target') {
        const pending = await readPending(plan);
        if (pending?.credentialId && pending.credentialId !== plan.oldCredentialId) {
          const id = pending.credentialId;
          changed = (await withConnector(plan, (c) => requireCapability(c, 'rotateCredential').retireCredential(plan.target, id, key))).changed;
        }
      } else {
        const old = (await readVersion(plan, plan.previousVersion))[plan.secretField];
        if (!old) throw failure(`${plan.credentialName}: version ${plan.previousVersion} has no ${plan.secretField}`);
        const stillOld = await withConnector(plan, (c) => requireCapability(c, 'rotateCredential').verifyCredential(plan.target, old), plan.target.kind === 'self' ? { [plan.secretField]: old } : undefined).then(
          () => true,
          (err: unknown) => {
            if (err instanceof InvalidCredential) return false;
            throw err;
          },
        );
        if (!stillOld) {
          const pending = await readPending(plan);
          // Logging in for the change needs the credential the target holds now: the new one, for the connector's own login.
          const overrides = plan.target.kind === 'self' && pending ? { [plan.secretField]: pending.secret } : undefined;
          await withConnector(plan, (c) => requireCapability(c, 'rotateCredential').applyCredential(plan.target, key, old), overrides);
          changed = true;
        }
      }
      await record(plan, 'undo-apply', entryOf(plan, 'secret.rotation.target_restored', { model: plan.model, changed }));
      return { changed };
    },

    /** Undo of step 3: Vault's current version holds the previous credential again, and is the one in use. */
    async restoreVault(plan: RotationPlan): Promise<{ version: number }> {
      const previous = await readVersion(plan, plan.previousVersion);
      const meta = await deps.secrets.readKvMetadata(plan.secretPath);
      const current = await deps.secrets.readKv(plan.secretPath);
      let version: number;
      if (current && meta && current.data[plan.secretField] === previous[plan.secretField]) {
        version = current.version;
      } else {
        try {
          version = (await deps.secrets.rollbackKv(plan.secretPath, plan.previousVersion, { cas: meta?.currentVersion ?? 0 })).version;
        } catch (err) {
          // Another writer between our read and write: read again on the retry.
          if (err instanceof SecretConflictError) throw new GatehouseError('dependency_unavailable', `${plan.secretPath} changed while it was being restored; trying again`);
          throw err;
        }
      }
      const restored = version;
      await record(plan, 'undo-store', entryOf(plan, 'secret.rotation.vault_restored', { secretPath: plan.secretPath, version: restored, restoredFrom: plan.previousVersion }), async (em) => {
        await pointAt(em, plan, restored);
      });
      return { version: restored };
    },

    /** The end of a rotation that did not complete: recorded, and the credential is free again. */
    async fail(plan: RotationPlan, outcome: { step: RotationStep; errorCode: string; message: string; restored: { vault: boolean; target: boolean } }): Promise<void> {
      const started = (await deps.orm.em.fork().findOne(Credential, { id: plan.credentialId }))?.lastRotation?.startedAt;
      await record(
        plan,
        'fail',
        entryOf(plan, 'secret.rotation.failed', { ...outcome, message: outcome.message.slice(0, 500), reason: plan.reason }),
        await settle(plan, lastOf(plan, 'failed', { ...(started ? { startedAt: started } : {}), finishedAt: now().toISOString(), step: outcome.step, errorCode: outcome.errorCode, message: outcome.message.slice(0, 500), restored: outcome.restored })),
      );
    },

    /** The end of a rotation the policy did not allow (the decision is on record already). */
    async refuse(plan: RotationPlan, reasons: string[]): Promise<void> {
      await record(
        plan,
        'refuse',
        entryOf(plan, 'secret.rotation.refused', { reasons }),
        await settle(plan, lastOf(plan, 'refused', { finishedAt: now().toISOString(), message: reasons.join('; ').slice(0, 500) })),
      );
    },

    /** A failed undo is recorded and never hides the original error. */
    async recordUndoFailure(plan: RotationPlan, undo: string, error: { code: string; message: string }): Promise<void> {
      await record(plan, `undo-failed:${undo}`, entryOf(plan, 'secret.rotation.compensation_failed', { undo, errorCode: error.code, message: error.message.slice(0, 500) }));
    },
  };
}

export type CredentialRotation = ReturnType<typeof createCredentialRotation>;

/** For the workflow's failure summary: the named error of a failed step. */
export const codeOf = (err: unknown): string => (err instanceof ConnectorError ? err.code : err instanceof SecretConflictError ? 'SecretConflict' : err instanceof GatehouseError ? `gatehouse:${err.code}` : 'unexpected');
