// The activity side of connector instances: loads an instance's settings from PostgreSQL and its
// secrets from Vault (the version the instance records), validates them together and builds the
// connector. Only activities call this, so a secret exists only in the activity that uses it and
// never in a workflow's input, output or history: workflows pass the instance id.
import type { MikroORM } from '@mikro-orm/postgresql';
import { GatehouseError, notFound } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import type { ConnectorRegistry } from '../connector-registry.js';
import type { Connector } from '../spi/connector.js';
import type { EgressGuard } from '../spi/egress.js';
import { ConnectorInstance } from './connector-instance.entity.js';

export interface ConnectorFactoryDeps {
  orm: MikroORM;
  secrets: SecretStore;
  registry: ConnectorRegistry;
  /** Where the connectors may connect (default: the policy the environment sets). */
  egress?: EgressGuard;
}

export interface OpenedConnector {
  instance: { id: string; name: string; type: string; secretVersion: number | null };
  connector: Connector;
}

export interface OpenOptions {
  /**
   * Secret fields to use in place of the stored ones: a rotation logs in with the credential it
   * is putting in place before Vault records it. Read from Vault by the caller, inside its activity.
   */
  secretOverrides?: Record<string, string>;
}

export function createConnectorFactory(deps: ConnectorFactoryDeps) {
  async function open(instanceId: string, options: OpenOptions = {}): Promise<OpenedConnector> {
    const row = await deps.orm.em.fork().findOne(ConnectorInstance, { id: instanceId });
    if (!row) throw notFound('connector', instanceId);
    const type = deps.registry.get(row.type);
    let secrets: Record<string, string> = {};
    if (row.secretVersion !== null && row.secretVersion !== undefined) {
      // SecretStoreUnavailableError passes through: the activity retries it.
      const stored = await deps.secrets.readKv(row.secretPath, { version: row.secretVersion });
      if (!stored) {
        throw new GatehouseError('precondition_failed', `connector ${row.name}: its secrets (version ${row.secretVersion}) are missing from Vault; set them again`);
      }
      secrets = stored.data;
    }
    const config = type.validate({ ...row.settings, ...secrets, ...options.secretOverrides });
    return {
      instance: { id: row.id, name: row.name, type: row.type, secretVersion: row.secretVersion ?? null },
      connector: type.create(config, { label: row.name, ...(deps.egress ? { egress: deps.egress } : {}) }),
    };
  }

  return {
    open,
    /** Opens the instance's connector for `work` and closes it after, whatever happens. */
    async withConnector<T>(instanceId: string, work: (connector: Connector, instance: OpenedConnector['instance']) => Promise<T>, options: OpenOptions = {}): Promise<T> {
      const { connector, instance } = await open(instanceId, options);
      try {
        return await work(connector, instance);
      } finally {
        await connector.close().catch(() => undefined);
      }
    },
  };
}

export type ConnectorFactory = ReturnType<typeof createConnectorFactory>;
