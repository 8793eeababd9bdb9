// Every module's activities, built with their dependencies. Modules own their activity factories.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import { createSelfCheckActivities } from '../workflows/selfcheck/activities.js';
import { createConnectorTestActivities } from '../workflows/connector-test/activities.js';
import { createConnectorFactory } from '../connectors/instances/connector-factory.js';
import { createBuiltinConnectorRegistry } from '../connectors/builtin-connectors.js';
import { createConnectorOperations } from '../connectors/operations/connector-operations.js';
import { createLedger } from '../audit/index.js';
import { createPolicyStore } from '../policies/policy-store.js';
import { createApprovalActivities } from '../workflows/approval/activities.js';
import { createChangeActivities } from '../workflows/change/activities.js';
import { createAssignmentStore } from '../workflows/change/assignment-store.js';
import { createIdentityResolver } from './access/identity-resolver.js';

export interface ActivityDeps {
  orm: MikroORM;
  secrets: SecretStore;
}

export function buildActivities(deps: ActivityDeps): object {
  // Connector activities build connectors here, on the worker, with secrets read at call time.
  const connectors = createConnectorFactory({ orm: deps.orm, secrets: deps.secrets, registry: createBuiltinConnectorRegistry() });
  const ledger = createLedger({ orm: deps.orm, signer: deps.secrets });
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
