// Configures connector instances: validates each configuration offline against its type, keeps the
// settings in PostgreSQL and the secret fields in Vault KV v2 at gatehouse/connectors/<id>, with
// check-and-set, and records only the path and the version in PostgreSQL. It never reads a secret
// back: a change to secrets replaces them as a set, and views say only which fields are set.
import { randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { GatehouseError, conflict, dependencyUnavailable, invalid, notFound } from '../../shared/errors.js';
import { SecretConflictError, SecretStoreUnavailableError, type SecretStore } from '../../shared/secrets/secret-store.js';
import type { ConnectorRegistry } from '../connector-registry.js';
import type { Capability } from '../spi/connector.js';
import { ConnectorInstance, connectorSecretPath, type ConnectorInstanceRow } from './connector-instance.entity.js';
import type { ConnectorTypeView, ConnectorView, CreateConnectorInput, UpdateConnectorInput } from './connector-instance-types.js';

export interface ConnectorInstanceServiceDeps {
  orm: MikroORM;
  secrets: SecretStore;
  registry: ConnectorRegistry;
}

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
    types(): ConnectorTypeView[] {
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
    validate(typeName: string, config: unknown): { type: string; capabilities: Capability[] } {
      const type = registry.get(typeName);
      type.validate(config);
      return { type: type.type, capabilities: type.capabilitiesFor(type.split(config as Record<string, unknown>).settings) };
    },

    async list(): Promise<ConnectorView[]> {
      const rows = await deps.orm.em.fork().find(ConnectorInstance, {}, { orderBy: { name: 'asc' } });
      return rows.map(view);
    },

    async get(ref: string): Promise<ConnectorView> {
      return view(await find(deps.orm.em.fork(), ref));
    },

    async create(input: CreateConnectorInput): Promise<ConnectorView> {
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
            await tem.flush();
          }
          return view(row);
        });
      } catch (err) {
        // The transaction rolled back: no row refers to this path, so its secret must not stay behind.
        if (wroteSecrets) await deps.secrets.destroyKv(secretPath).catch(() => undefined);
        if (err instanceof UniqueConstraintViolationException) throw conflict(`a connector named ${input.name} already exists`, 'name');
        throw err;
      }
    },

    async update(ref: string, input: UpdateConnectorInput): Promise<ConnectorView> {
      const em = deps.orm.em.fork();
      return em.transactional(async (tem) => {
        // The row lock orders concurrent changes to one instance; Vault's check-and-set guards
        // against writers that do not take it.
        const row = await find(tem, ref, true);
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
        }
        row.settings = settings;
        if (input.description !== undefined) row.description = input.description;
        await tem.flush();
        return view(row);
      });
    },

    async remove(ref: string): Promise<void> {
      const em = deps.orm.em.fork();
      await em.transactional(async (tem) => {
        const row = await find(tem, ref, true);
        tem.remove(row);
        await tem.flush();
        // Inside the transaction: if Vault refuses, the instance stays, and a retry finishes both.
        await deps.secrets.destroyKv(row.secretPath).catch((err: unknown) => {
          throw fromSecretStore(err, row.name);
        });
      });
    },
  };
}

export type ConnectorInstanceService = ReturnType<typeof createConnectorInstanceService>;
