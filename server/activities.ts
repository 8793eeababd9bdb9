// Every module's activities, built with their dependencies. Modules own their activity factories.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import type { LedgerAppender } from '../audit/index.js';
import { createSelfCheckActivities } from '../workflows/selfcheck/activities.js';
import { createConnectorTestActivities } from '../workflows/connector-test/activities.js';
import { createConnectorFactory } from '../connectors/instances/connector-factory.js';
import { createBuiltinConnectorRegistry } from '../connectors/builtin-connectors.js';

export interface ActivityDeps {
  orm: MikroORM;
  secrets: SecretStore;
  ledger: LedgerAppender;
}

export function buildActivities(deps: ActivityDeps): object {
  // Connector activities build connectors here, on the worker, with secrets read at call time.
  const connectors = createConnectorFactory({ orm: deps.orm, secrets: deps.secrets, registry: createBuiltinConnectorRegistry() });
  return {
    ...createSelfCheckActivities({ orm: deps.orm, secrets: deps.secrets }),
    ...createConnectorTestActivities({ factory: connectors }),
  };
}
