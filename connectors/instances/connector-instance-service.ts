// Configures connector instances: validates each configuration offline against its type, keeps the
// settings in PostgreSQL and the secret fields in Vault KV v2 at gatehouse/connectors/<id>, with
// check-and-set, and records only the path and the version in PostgreSQL. It never reads a secret
// back: a change to secrets replaces them as a set, and views say only which fields are set.
// Every change checks the caller's ability, keeps the connector's login credential in step, and is
// a ledger entry committed with it (connector.created, connector.updated, connector.deleted).
import { randomUUID } from 'node:crypto';
import { ForbiddenError, subject } from '@casl/ability';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { LedgerAppender, NewLedgerEntry } from '../../audit/index.js';
import { GatehouseError, conflict, dependencyUnavailable, invalid, notFound } from '../../shared/errors.js';
import { SecretConflictError, SecretStoreUnavailableError, type SecretStore } from '../../shared/secrets/secret-store.js';
import type { Caller } from '../caller.js';
import type { ConnectorRegistry } from '../connector-registry.js';
import { serviceAccountsUsing, syncConnectorLogin } from '../credentials/connector-login.js';
import type { CredentialRow } from '../credentials/credential.entity.js';
import type { Capability } from '../spi/connector.js';
import { ConnectorInstance, connectorSecretPath, type ConnectorInstanceRow } from './connector-instance.entity.js';
import type { ConnectorTypeView, ConnectorView, CreateConnectorInput, UpdateConnectorInput } from './connector-instance-types.js';

export interface ConnectorInstanceServiceDeps {
  orm: MikroORM;
  secrets: SecretStore;
  registry: ConnectorRegistry;
  ledger: LedgerAppender;
}

const connectorRef = (row: { id: string; name: string }) => ({ type: 'connector', id: row.id, display: row.name });

/** The ledger entries for a connector's login credential appearing, changing or going with it. */
function loginEntries(caller: Caller, instance: { id: string; name: string }, change: { created?: CredentialRow; removed?: CredentialRow; updated?: CredentialRow }): NewLedgerEntry[] {
  const entries: NewLedgerEntry[] = [];
  const target = connectorRef(instance);
  if (change.created) entries.push({ action: 'credential.created', actor: caller.actor, subject: { type: 'credential', id: change.created.id, display: change.created.name }, target, details: { kind: 'connector-login', secretPath: change.created.secretPath, secretField: change.created.secretField } });
  if (change.removed) entries.push({ action: 'credential.deleted', actor: caller.actor, subject: { type: 'credential', id: change.removed.id, display: change.removed.name }, target, details: { kind: 'connector-login', reason: 'the connector has no secret login any more' } });
  if (change.updated) entries.push({ action: 'credential.updated', actor: caller.actor, subject: { type: 'credential', id: change.updated.id, display: change.updated.name }, target, details: { kind: 'connector-login', secretField: change.updated.secretField, secretReplaced: true } });
  return entries;
}

/** Stands for a secret value in what an admin change records; the value is given again with the approved call. */
export const SECRET_GIVEN = '(secret given; sent again with the approved call)';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Vault failures as Gatehouse errors: unreachable is 503, a lost check-and-set race is 409. */
function fromSecretStore(err: unknown, name: string): unknown {
  if (err instanceof SecretStoreUnavailableError) return dependencyUnavailable('Vault', `the secrets of connector ${name} could not be written: ${err.message}`);
  if (err instanceof SecretConflictError) {
    return conflict(`the secrets of connector ${name} changed in Vault while this change ran (a rotation in progress?); read the connector again and retry`);
  }
  return err;
}

export function createConnectorInstanceService(deps: ConnectorInstanceServiceDeps) {
  const { registry } = deps;

  function view(row: ConnectorInstanceRow): ConnectorView {
    const type = registry.get(row.type);
    return {
      id: row.id,
      name: row.name,
      type: row.type,
      description: row.description ?? null,
      config: row.settings,
      secrets: Object.fromEntries(type.secretFields.map((f) => [f, { set: row.secretFields.includes(f) }])),
      secretVersion: row.secretVersion ?? null,
      capabilities: type.capabilitiesFor(row.settings) as Capability[],
      revision: row.revision,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }

  async function find(em: EntityManager, ref: string, lock = false): Promise<ConnectorInstanceRow> {
    const where = UUID.test(ref) ? { id: ref } : { name: ref };
    const row = await em.findOne(ConnectorInstance, where, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
    if (!row) throw notFound('connector', ref);
    return row;
  }

  return {
    types(caller: Caller): ConnectorTypeView[] {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', 'Connector');
      return registry.list().map((t) => ({
        type: t.type,
        title: t.title,
        description: t.description,
        capabilities: [...t.capabilities],
        secretFields: [...t.secretFields],
        configSchema: t.jsonSchema,
      }));
    },

    /** Offline validation of a whole configuration for a type; nothing is stored or contacted. */
    validate(typeName: string, config: unknown, caller: Caller): { type: string; capabilities: Capability[] } {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', 'Connector');
      const type = registry.get(typeName);
      type.validate(config);
      return { type: type.type, capabilities: type.capabilitiesFor(type.split(config as Record<string, unknown>).settings) };
    },

    async list(caller: Caller): Promise<ConnectorView[]> {
      ForbiddenError.from(caller.ability).throwUnlessCan('read', 'Connector');
      const rows = await deps.orm.em.fork().find(ConnectorInstance, {}, { orderBy: { name: 'asc' } });
      return rows.filter((r) => caller.ability.can('read', subject('Connector', { id: r.id, name: r.name, type: r.type }))).map(view);
    },

    /**
     * A configuration as an admin change records it (issue 12, item 8): each secret value given is
     * left out, marked as given, so no secret is stored with the proposal; the rest is as sent.
     */
    async withoutSecretValues(of: { type: string } | { ref: string }, config: Record<string, unknown> | undefined): Promise<Record<string, unknown> | undefined> {
      if (!config) return config;
      const type = registry.get('type' in of ? of.type : (await find(deps.orm.em.fork(), of.ref)).type);
      return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, type.secretFields.includes(k) && typeof v === 'string' ? SECRET_GIVEN : v]));
    },

    async get(ref: string, caller: Caller): Promise<ConnectorView> {
      const row = await find(deps.orm.em.fork(), ref);
      ForbiddenError.from(caller.ability).throwUnlessCan('read', subject('Connector', { id: row.id, name: row.name, type: row.type }));
      return view(row);
    },

    async create(input: CreateConnectorInput, caller: Caller): Promise<ConnectorView> {
      ForbiddenError.from(caller.ability).throwUnlessCan('create', 'Connector');
      const type = registry.get(input.type);
      type.validate(input.config);
      const { settings, secrets } = type.split(input.config);
      const id = randomUUID();
      const secretPath = connectorSecretPath(id);
      const em = deps.orm.em.fork();
      let wroteSecrets = false;
      try {
        return await em.transactional(async (tem) => {
          const row = tem.create(ConnectorInstance, {
            id,
            name: input.name,
            type: type.type,
            description: input.description ?? null,
            settings,
            secretPath,
            secretVersion: null,
            secretFields: Object.keys(secrets).sort(),
          });
          // The row first, so a taken name fails before anything reaches Vault.
          await tem.flush();
          if (Object.keys(secrets).length) {
            const written = await deps.secrets.writeKv(secretPath, secrets, { cas: 0 }).catch((err: unknown) => {
              throw fromSecretStore(err, input.name);
            });
            wroteSecrets = true;
            row.secretVersion = written.version;
          }
          const login = await syncConnectorLogin(tem, row, type.login(settings), { secretsReplaced: true });
          await tem.flush();
          // Last, as the ledger asks: the entries commit with the instance, or neither does.
          await deps.ledger.appendBatch(
            [
              {
                action: 'connector.created',
                actor: caller.actor,
                subject: connectorRef(row),
                details: { type: type.type, settings: Object.keys(settings).sort(), secretFields: row.secretFields, ...(row.secretVersion ? { secretPath, secretVersion: row.secretVersion } : {}) },
              },
              ...loginEntries(caller, row, login),
            ],
            { em: tem },
          );
          return view(row);
        });
      } catch (err) {
        // The transaction rolled back: no row refers to this path, so its secret must not stay behind.
        if (wroteSecrets) await deps.secrets.destroyKv(secretPath).catch(() => undefined);
        if (err instanceof UniqueConstraintViolationException) throw conflict(`a connector named ${input.name} already exists`, 'name');
        throw err;
      }
    },

    async update(ref: string, input: UpdateConnectorInput, caller: Caller): Promise<ConnectorView> {
      const em = deps.orm.em.fork();
      return em.transactional(async (tem) => {
        // The row lock orders concurrent changes to one instance; Vault's check-and-set guards
        // against writers that do not take it.
        const row = await find(tem, ref, true);
        ForbiddenError.from(caller.ability).throwUnlessCan('update', subject('Connector', { id: row.id, name: row.name, type: row.type }));
        if (input.expectedRevision !== undefined && input.expectedRevision !== row.revision) {
          throw new GatehouseError('conflict', `connector ${row.name} is at revision ${row.revision}, not ${input.expectedRevision}: it changed since it was read`, {
            field: 'expectedRevision',
          });
        }
        const type = registry.get(row.type);
        const patch = input.config ?? {};
        const settings: Record<string, unknown> = { ...row.settings };
        const secretChanges: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(patch)) {
          if (type.secretFields.includes(key)) secretChanges[key] = value;
          else if (value === null) delete settings[key];
          else settings[key] = value;
        }

        if (Object.keys(secretChanges).length) {
          for (const set of row.secretFields) {
            if (!(set in secretChanges)) {
              throw invalid(`config.${set}`, 'is set in Vault: when secrets change they are replaced together, so give it again (or null to clear it); Gatehouse never reads secrets back');
            }
          }
          const secrets: Record<string, string> = {};
          for (const [key, value] of Object.entries(secretChanges)) {
            if (value === null) continue;
            if (typeof value !== 'string') throw invalid(`config.${key}`, 'must be a string, or null to clear it');
            secrets[key] = value;
          }
          type.validate({ ...settings, ...secrets });
          try {
            const current = (await deps.secrets.readKvMetadata(row.secretPath))?.currentVersion ?? 0;
            const written = await deps.secrets.writeKv(row.secretPath, secrets, { cas: current });
            row.secretVersion = written.version;
          } catch (err) {
            throw fromSecretStore(err, row.name);
          }
          row.secretFields = Object.keys(secrets).sort();
          // Should the commit below fail, Vault keeps a version nothing points at: the instance
          // goes on using the version recorded here, and the next change writes over it.
        } else {
          type.validateSettings(settings, row.secretFields);
          // A stored secret never goes anywhere new: moving the endpoint (or changing how it is
          // trusted) needs the secrets given again, by someone who has them.
          const moved = type.endpointFields.filter((k) => JSON.stringify(row.settings[k]) !== JSON.stringify(settings[k]));
          if (moved.length && row.secretFields.length) {
            throw invalid(
              `config.${row.secretFields[0]}`,
              `must be given again: ${moved.join(', ')} ${moved.length === 1 ? 'changes' : 'change'} where the connector's secrets are sent, and Gatehouse does not send a stored secret to a new endpoint`,
            );
          }
        }
        const changedSettings = [...new Set([...Object.keys(row.settings), ...Object.keys(settings)])].filter((k) => JSON.stringify(row.settings[k]) !== JSON.stringify(settings[k])).sort();
        row.settings = settings;
        if (input.description !== undefined) row.description = input.description;
        const secretsReplaced = Object.keys(secretChanges).length > 0;
        const login = await syncConnectorLogin(tem, row, type.login(settings), { secretsReplaced });
        await tem.flush();
        await deps.ledger.appendBatch(
          [
            {
              action: 'connector.updated',
              actor: caller.actor,
              subject: connectorRef(row),
              details: {
                revision: row.revision,
                changedSettings,
                ...(input.description !== undefined ? { descriptionChanged: true } : {}),
                secretsReplaced,
                ...(secretsReplaced ? { secretFields: row.secretFields, secretPath: row.secretPath, secretVersion: row.secretVersion ?? null } : {}),
              },
            },
            ...loginEntries(caller, row, login),
          ],
          { em: tem },
        );
        return view(row);
      });
    },

    async remove(ref: string, caller: Caller): Promise<void> {
      const em = deps.orm.em.fork();
      await em.transactional(async (tem) => {
        const row = await find(tem, ref, true);
        ForbiddenError.from(caller.ability).throwUnlessCan('delete', subject('Connector', { id: row.id, name: row.name, type: row.type }));
        const users = await serviceAccountsUsing(tem, row.id);
        if (users.length) {
          throw conflict(`connector ${row.name} rotates the credentials ${users.map((c) => c.name).join(', ')}: delete them, or stop managing them, first`);
        }
        const login = await syncConnectorLogin(tem, { ...row, secretVersion: null }, undefined, { secretsReplaced: false });
        await tem.flush();
        tem.remove(row);
        await tem.flush();
        // Inside the transaction: if Vault refuses, the instance stays, and a retry finishes both.
        await deps.secrets.destroyKv(row.secretPath).catch((err: unknown) => {
          throw fromSecretStore(err, row.name);
        });
        await deps.ledger.appendBatch(
          [...loginEntries(caller, row, login), { action: 'connector.deleted', actor: caller.actor, subject: connectorRef(row), details: { type: row.type, secretPath: row.secretPath, secretsDestroyed: true } }],
          { em: tem },
        );
      });
    },
  };
}

export type ConnectorInstanceService = ReturnType<typeof createConnectorInstanceService>;
