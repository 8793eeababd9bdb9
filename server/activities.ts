// Every module's activities, built with their dependencies. Modules own their activity factories.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import type { Ledger, LedgerAppender } from '../audit/index.js';
import { createSelfCheckActivities } from '../workflows/selfcheck/activities.js';
import { createConnectorTestActivities } from '../workflows/connector-test/activities.js';
import { createConnectorFactory } from '../connectors/instances/connector-factory.js';
import { createBuiltinConnectorRegistry } from '../connectors/builtin-connectors.js';
import { createConnectorOperations } from '../connectors/operations/connector-operations.js';
import { createPolicyStore } from '../policies/policy-store.js';
import { createApprovalActivities } from '../workflows/approval/activities.js';
import { createChangeActivities } from '../workflows/change/activities.js';
import { createAssignmentStore } from '../workflows/change/assignment-store.js';
import { createIdentityResolver } from './access/identity-resolver.js';

export interface ActivityDeps {
  orm: MikroORM;
  secrets: SecretStore;
  /** Appends; the change activities also read a change's entries back (promise 1). */
  ledger: LedgerAppender & Pick<Ledger, 'query'>;
}

export function buildActivities(deps: ActivityDeps): object {
  // Connector activities build connectors here, on the worker, with secrets read at call time.
  const connectors = createConnectorFactory({ orm: deps.orm, secrets: deps.secrets, registry: createBuiltinConnectorRegistry() });
  const { ledger } = deps;
  return {
    ...createSelfCheckActivities({ orm: deps.orm, secrets: deps.secrets }),
    ...createConnectorTestActivities({ factory: connectors }),
    ...createApprovalActivities({ orm: deps.orm, ledger }),
    ...createChangeActivities({
      orm: deps.orm,
      ledger,
      policies: createPolicyStore({ orm: deps.orm }),
      subjects: createIdentityResolver({ orm: deps.orm }),
      assignments: createAssignmentStore({ orm: deps.orm }),
      operations: createConnectorOperations({ orm: deps.orm, factory: connectors }),
      connectors,
    }),
  };
}
