// Managed credentials: register a service account's credential (its value goes to Vault once), set
// owners, max age and consumers, stop managing one, ask for a rotation, and hand a leaver's
// non-human identities over to their manager. Every method checks the caller's ability on the
// instance (nhi-owners act on what they own: `ownerIds`), and every change is a ledger entry
// committed with it. Rotation schedules follow the max-age policy.
import { randomUUID } from 'node:crypto';
import { ForbiddenError, subject } from '@casl/ability';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender, NewLedgerEntry } from '../../audit/index.js';
import { GatehouseError, conflict, dependencyUnavailable, invalid, notFound } from '../../shared/errors.js';
import { SecretStoreUnavailableError, type SecretStore } from '../../shared/secrets/secret-store.js';
import type { Caller } from '../caller.js';
import { ConnectorInstance } from '../instances/connector-instance.entity.js';
import { Credential, pendingSecretPath, serviceAccountSecretPath, type CredentialRow } from './credential.entity.js';
import {
  registerCredentialInput,
  rotateCredentialInput,
  updateCredentialInput,
  type OwnerRef,
  type RegisterCredentialInput,
  type RotateCredentialInput,
  type UpdateCredentialInput,
} from './credential-types.js';
import { ownerIdsFor, ownerKey, type OwnerDirectory } from './owner-directory.js';
import type { RotationReason, RotationRequest } from './rotation-types.js';

/** Starts a rotation workflow (or finds the one already running under that id). */
export interface RotationStarter {
  start(request: RotationRequest, workflowId: string): Promise<{ workflowId: string; started: boolean }>;
}

/** Keeps a credential's rotation schedule in step with its max-age policy. Best effort: a reconciler catches up. */
export interface RotationScheduler {
  sync(credential: { id: string; name: string; maxAgeDays: number | null }): Promise<void>;
  remove(credentialId: string): Promise<void>;
}

export interface CredentialServiceDeps {
  orm: MikroORM;
  secrets: SecretStore;
  ledger: LedgerAppender;
  owners: OwnerDirectory;
  rotations: RotationStarter;
  schedules?: RotationScheduler;
  /** Told when a schedule could not be changed right away (the reconciler fixes it later). */
  onScheduleError?: (credentialId: string, err: unknown) => void;
}

/** The workflow id of an on-demand rotation: one per credential at a time (a second request joins it). */
export const onDemandRotationId = (credentialId: string) => `rotation:${credentialId}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const credentialRef = (row: Pick<CredentialRow, 'id' | 'name'>) => ({ type: 'credential', id: row.id, display: row.name });
const sameOwners = (a: readonly OwnerRef[], b: readonly OwnerRef[]) => a.map(ownerKey).sort().join() === b.map(ownerKey).sort().join();

function parse<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw invalid(issue.path.map(String).join('.') || 'body', issue.message);
  }
  return r.data;
}

export interface LeaverHandOver {
  credentialId: string;
  name: string;
  /** reassigned: the manager owns it now; orphaned: nobody does; co-owned: others still own it. */
  outcome: 'reassigned' | 'orphaned' | 'co-owned';
  to?: OwnerRef;
}

export function createCredentialService(deps: CredentialServiceDeps) {
  async function find(em: EntityManager, ref: string, lock = false): Promise<CredentialRow> {
    const where = UUID.test(ref) ? { id: ref } : { name: ref };
    const row = await em.findOne(Credential, where, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
    if (!row) throw notFound('credential', ref);
    return row;
  }

  /** The credential as CASL sees it: its owners' Gatehouse user ids on `ownerIds`. */
  async function asSubject(row: CredentialRow) {
    const { ids } = await ownerIdsFor(deps.owners, [row.owners]);
    return subject('Credential', { id: row.id, name: row.name, kind: row.kind, ownerIds: ids[0]! });
  }

  async function checkOwnersExist(owners: readonly OwnerRef[]): Promise<void> {
    const people = await deps.owners.people(owners);
    owners.forEach((o, i) => {
      if (!people.has(ownerKey(o))) throw invalid(`owners[${i}]`, `no person ${o.userId} in directory ${o.directoryId}`);
    });
  }

  async function syncSchedule(row: Pick<CredentialRow, 'id' | 'name' | 'maxAgeDays'>): Promise<void> {
    await deps.schedules?.sync({ id: row.id, name: row.name, maxAgeDays: row.maxAgeDays ?? null }).catch((err: unknown) => deps.onScheduleError?.(row.id, err));
  }

  async function recordOwnerChanges(em: EntityManager, row: CredentialRow, before: readonly OwnerRef[], after: readonly OwnerRef[], actor: Actor, reason: 'assigned' | 'removed' | 'leaver', replacement?: OwnerRef): Promise<void> {
    const beforeKeys = new Set(before.map(ownerKey));
    const afterKeys = new Set(after.map(ownerKey));
    const conn = em.getConnection();
    const ctx = em.getTransactionContext();
    const insert = (from: OwnerRef | null, to: OwnerRef | null, why: string) =>
      conn.execute('INSERT INTO credential_owner_change (credential_id, from_owner, to_owner, reason, actor) VALUES (?, ?::jsonb, ?::jsonb, ?, ?)', [row.id, from && JSON.stringify(from), to && JSON.stringify(to), why, `${actor.kind}:${actor.id}`], 'run', ctx);
    for (const o of before) if (!afterKeys.has(ownerKey(o))) await insert(o, reason === 'leaver' ? (replacement ?? null) : null, reason === 'leaver' ? 'leaver' : 'removed');
    for (const o of after) if (!beforeKeys.has(ownerKey(o)) && reason !== 'leaver') await insert(null, o, 'assigned');
  }

  return {
    async register(raw: RegisterCredentialInput, caller: Caller): Promise<{ id: string; name: string }> {
      ForbiddenError.from(caller.ability).throwUnlessCan('create', 'Credential');
      const input = parse(registerCredentialInput, raw);
      const em = deps.orm.em.fork();
      const connector = await em.findOne(ConnectorInstance, UUID.test(input.connector) ? { id: input.connector } : { name: input.connector });
      if (!connector) throw invalid('connector', `no connector ${input.connector}`);
      await checkOwnersExist(input.owners);
      const id = randomUUID();
      const secretPath = serviceAccountSecretPath(id);
      let wrote = false;
      try {
        const row = await em.transactional(async (tem) => {
          const created = tem.create(Credential, {
            id,
            name: input.name,
            kind: 'service-account',
            description: input.description ?? null,
            connectorId: connector.id,
            accountUid: 'uid' in input.account ? input.account.uid : null,
            accountName: 'name' in input.account ? input.account.name : null,
            secretPath,
            secretField: input.secretField,
            secretVersion: null,
            secretUpdatedAt: new Date(),
            targetCredentialId: input.targetCredentialId ?? null,
            owners: input.owners,
            orphanedAt: null,
            maxAgeDays: input.maxAgeDays ?? null,
            consumers: input.consumers,
            privileged: input.privileged,
            rotationWorkflowId: null,
            rotationRunId: null,
            lastRotation: null,
          });
          await tem.flush();
          const written = await deps.secrets.writeKv(secretPath, { [input.secretField]: input.secret }, { cas: 0 }).catch((err: unknown) => {
            if (err instanceof SecretStoreUnavailableError) throw dependencyUnavailable('Vault', `the credential ${input.name} could not be stored: ${err.message}`);
            throw err;
          });
          wrote = true;
          created.secretVersion = written.version;
          await recordOwnerChanges(tem, created, [], input.owners, caller.actor, 'assigned');
          await tem.flush();
          await deps.ledger.append(
            {
              action: 'credential.created',
              actor: caller.actor,
              subject: credentialRef(created),
              target: { type: 'connector', id: connector.id, display: connector.name },
              details: {
                kind: 'service-account',
                account: input.account,
                secretPath,
                secretVersion: written.version,
                owners: input.owners,
                maxAgeDays: input.maxAgeDays ?? null,
                consumers: input.consumers,
                privileged: input.privileged,
              },
            },
            { em: tem },
          );
          return created;
        });
        await syncSchedule(row);
        return { id: row.id, name: row.name };
      } catch (err) {
        if (wrote) await deps.secrets.destroyKv(secretPath).catch(() => undefined);
        if (err instanceof UniqueConstraintViolationException) {
          throw conflict(/account/.test(err.message) ? `connector ${connector.name} already has a managed credential for that account` : `a credential named ${input.name} already exists`, /account/.test(err.message) ? 'account' : 'name');
        }
        throw err;
      }
    },

    async update(ref: string, raw: UpdateCredentialInput, caller: Caller): Promise<{ id: string; revision: number }> {
      const input = parse(updateCredentialInput, raw);
      if (input.owners) await checkOwnersExist(input.owners);
      const em = deps.orm.em.fork();
      const row = await em.transactional(async (tem) => {
        const row = await find(tem, ref, true);
        ForbiddenError.from(caller.ability).throwUnlessCan('update', await asSubject(row));
        if (input.expectedRevision !== undefined && input.expectedRevision !== row.revision) {
          throw new GatehouseError('conflict', `credential ${row.name} is at revision ${row.revision}, not ${input.expectedRevision}: it changed since it was read`, { field: 'expectedRevision' });
        }
        const changed: string[] = [];
        const before = row.owners;
        if (input.owners && !sameOwners(input.owners, row.owners)) {
          await recordOwnerChanges(tem, row, row.owners, input.owners, caller.actor, 'assigned');
          row.owners = input.owners;
          if (input.owners.length) row.orphanedAt = null;
          changed.push('owners');
        }
        if (input.description !== undefined && input.description !== (row.description ?? null)) {
          row.description = input.description;
          changed.push('description');
        }
        if (input.maxAgeDays !== undefined && input.maxAgeDays !== (row.maxAgeDays ?? null)) {
          row.maxAgeDays = input.maxAgeDays;
          changed.push('maxAgeDays');
        }
        if (input.consumers && JSON.stringify(input.consumers) !== JSON.stringify(row.consumers)) {
          row.consumers = input.consumers;
          changed.push('consumers');
        }
        if (input.privileged !== undefined && input.privileged !== row.privileged) {
          row.privileged = input.privileged;
          changed.push('privileged');
        }
        if (!changed.length) return row;
        await tem.flush();
        await deps.ledger.append(
          {
            action: 'credential.updated',
            actor: caller.actor,
            subject: credentialRef(row),
            details: {
              changed,
              revision: row.revision,
              ...(changed.includes('owners') ? { ownersBefore: before, ownersAfter: row.owners } : {}),
              ...(changed.includes('maxAgeDays') ? { maxAgeDays: row.maxAgeDays ?? null } : {}),
              ...(changed.includes('consumers') ? { consumers: row.consumers } : {}),
              ...(changed.includes('privileged') ? { privileged: row.privileged } : {}),
            },
          },
          { em: tem },
        );
        return row;
      });
      await syncSchedule(row);
      return { id: row.id, revision: row.revision };
    },

    /** Stops managing a service account's credential and destroys its secret in Vault. */
    async remove(ref: string, caller: Caller): Promise<void> {
      const em = deps.orm.em.fork();
      const id = await em.transactional(async (tem) => {
        const row = await find(tem, ref, true);
        ForbiddenError.from(caller.ability).throwUnlessCan('delete', await asSubject(row));
        if (row.kind === 'connector-login') throw conflict(`${row.name} is the login of its connector: it goes when the connector is deleted`);
        if (row.rotationWorkflowId) throw conflict(`${row.name} is being rotated (${row.rotationWorkflowId}); try again when it has finished`);
        tem.remove(row);
        await tem.flush();
        // Inside the transaction: if Vault refuses, the credential stays, and a retry finishes both.
        for (const path of [row.secretPath, pendingSecretPath(row.id)]) {
          await deps.secrets.destroyKv(path).catch((err: unknown) => {
            throw err instanceof SecretStoreUnavailableError ? dependencyUnavailable('Vault', `the secret of ${row.name} could not be destroyed: ${err.message}`) : err;
          });
        }
        await deps.ledger.append({ action: 'credential.deleted', actor: caller.actor, subject: credentialRef(row), details: { kind: row.kind, secretPath: row.secretPath, secretDestroyed: true } }, { em: tem });
        return row.id;
      });
      await deps.schedules?.remove(id).catch((err: unknown) => deps.onScheduleError?.(id, err));
    },

    /** Asks for a rotation now; an nhi-owner may ask for what they own. Answers with the workflow that does it. */
    async requestRotation(ref: string, raw: RotateCredentialInput, caller: Caller): Promise<{ workflowId: string; started: boolean }> {
      const input = parse(rotateCredentialInput, raw ?? {});
      const row = await find(deps.orm.em.fork(), ref);
      const instance = await asSubject(row);
      // What the caller may not even see does not exist for them (an nhi-owner asking about another's credential).
      if (!caller.ability.can('read', instance)) throw notFound('credential', ref);
      ForbiddenError.from(caller.ability).throwUnlessCan('rotate', instance);
      const request: RotationRequest = { credentialId: row.id, reason: 'on-demand', requestedBy: caller.actor, ...(input.justification ? { justification: input.justification } : {}) };
      const started = await deps.rotations.start(request, onDemandRotationId(row.id));
      await deps.ledger.append({
        action: 'secret.rotation.requested',
        actor: caller.actor,
        subject: credentialRef(row),
        details: { started: started.started, ...(input.justification ? { justification: input.justification } : {}) },
        correlation: { workflowId: started.workflowId },
      });
      return started;
    },

    /**
     * A leaver's non-human identities: each credential they own goes to their manager (when the
     * manager is in the same directory and active), or is flagged orphaned when nobody is left to own
     * it. Idempotent: a second call returns the same hand-over from the owner-change record.
     */
    async handOverFromLeaver(leaver: OwnerRef, managerRef: OwnerRef | null, actor: Actor): Promise<LeaverHandOver[]> {
      let manager: OwnerRef | undefined;
      if (managerRef && managerRef.directoryId === leaver.directoryId && ownerKey(managerRef) !== ownerKey(leaver)) {
        const m = (await deps.owners.people([managerRef])).get(ownerKey(managerRef));
        if (m?.active) manager = managerRef;
      }
      const em = deps.orm.em.fork();
      await em.transactional(async (tem) => {
        const owned = await tem.getConnection().execute<{ id: string }[]>(`SELECT id FROM credential WHERE owners @> ?::jsonb ORDER BY name FOR UPDATE`, [JSON.stringify([leaver])], 'all', tem.getTransactionContext());
        const entries: NewLedgerEntry[] = [];
        for (const { id } of owned) {
          const row = await tem.findOneOrFail(Credential, { id });
          const others = row.owners.filter((o) => ownerKey(o) !== ownerKey(leaver));
          // Co-owners carry on; otherwise the manager takes over; otherwise nobody owns it.
          const next = others.length ? others : manager ? [manager] : [];
          await recordOwnerChanges(tem, row, row.owners, next, actor, 'leaver', others.length ? undefined : manager);
          row.owners = next;
          const outcome = others.length ? 'co-owned' : manager ? 'reassigned' : 'orphaned';
          if (outcome === 'orphaned') row.orphanedAt = new Date();
          entries.push({
            action: outcome === 'orphaned' ? 'credential.orphaned' : 'credential.owner.reassigned',
            actor,
            subject: credentialRef(row),
            details: { leaver, outcome, ...(manager ? { manager } : {}), owners: next },
            correlation: { directoryId: leaver.directoryId },
          });
        }
        await tem.flush();
        if (entries.length) await deps.ledger.appendBatch(entries, { em: tem });
      });
      // Everything this leaver handed over, now or in an earlier call (the record is the answer).
      const changes = await em.getConnection().execute<{ credential_id: string; name: string; to_owner: OwnerRef | null; owners: OwnerRef[] }[]>(
        `SELECT DISTINCT ON (c.id) c.id AS credential_id, c.name, ch.to_owner, c.owners
           FROM credential_owner_change ch JOIN credential c ON c.id = ch.credential_id
          WHERE ch.reason = 'leaver' AND ch.from_owner @> ?::jsonb
          ORDER BY c.id, ch.seq DESC`,
        [JSON.stringify(leaver)],
      );
      return changes
        .map((c) => {
          const outcome: LeaverHandOver['outcome'] = c.to_owner ? 'reassigned' : c.owners.length ? 'co-owned' : 'orphaned';
          return { credentialId: c.credential_id, name: c.name, outcome, ...(c.to_owner ? { to: c.to_owner } : {}) };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
    },

    /** Starts (or joins) the rotation of a credential for a reason other than a person's request. */
    async startRotation(credentialId: string, reason: RotationReason, workflowId: string, actor: Actor): Promise<{ workflowId: string; started: boolean }> {
      return deps.rotations.start({ credentialId, reason, requestedBy: actor }, workflowId);
    },
  };
}

export type CredentialService = ReturnType<typeof createCredentialService>;
