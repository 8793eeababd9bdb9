// Every module's activities, built with their dependencies. Modules own their activity factories.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import type { Ledger, LedgerAppender } from '../audit/index.js';
import { createSelfCheckActivities } from '../workflows/selfcheck/activities.js';
import { createConnectorTestActivities } from '../workflows/connector-test/activities.js';
import { createConnectorFactory } from '../connectors/instances/connector-factory.js';
import { createBuiltinConnectorRegistry } from '../connectors/builtin-connectors.js';
import type { Client } from '@temporalio/client';
import { createCredentialRotation } from '../connectors/credentials/credential-rotation.js';
import { createInventoryScanner } from '../connectors/credentials/inventory-scan.js';
import { createRotationActivities } from '../workflows/rotation/activities.js';
import { createInventoryScanActivities } from '../workflows/inventory-scan/activities.js';
import { createOwnerDirectory } from './owner-directory.js';
import { workflowIsRunning } from './rotation-scheduling.js';
import { createLeaverCredentialActivities } from '../workflows/leaver-credentials/activities.js';
import { createCredentialService } from '../connectors/credentials/credential-service.js';
import { createTemporalRotations } from './rotation-scheduling.js';
import { createConnectorOperations } from '../connectors/operations/connector-operations.js';
import { createPolicyStore } from '../policies/policy-store.js';
import { createApprovalActivities } from '../workflows/approval/activities.js';
import { createDecisionSigner } from '../policies/decision-signer.js';
import { createAdminGateRecorder } from './admin/admin-changes.js';
import type { EgressGuard } from '../connectors/spi/egress.js';
import { createChangeActivities } from '../workflows/change/activities.js';
import { createAssignmentStore } from '../workflows/change/assignment-store.js';
import { createIdentityResolver } from './access/identity-resolver.js';
import { createJmlActivities } from '../workflows/jml/activities.js';
import { createBirthrightIdentitySource } from './jml/birthright-identity.js';
import { createFlowActivities } from '../workflows/flows/activities.js';
import { temporalChangeStarter } from '../workflows/flows/governed-writes.js';

export interface ActivityDeps {
  orm: MikroORM;
  secrets: SecretStore;
  /** For activities that ask Temporal about other workflows (whether a rotation still runs). */
  temporal: { client: Client; taskQueue: string };
  /** Appends; the change activities also read a change's entries back (promise 1). */
  ledger: LedgerAppender & Pick<Ledger, 'query'>;
  /** Where connectors may connect; default: the policy the environment sets. */
  egress?: EgressGuard;
}

export function buildActivities(deps: ActivityDeps): object {
  // Connector activities build connectors here, on the worker, with secrets read at call time.
  const registry = createBuiltinConnectorRegistry();
  const connectors = createConnectorFactory({ orm: deps.orm, secrets: deps.secrets, registry, ...(deps.egress ? { egress: deps.egress } : {}) });
  const { ledger } = deps;
  const owners = createOwnerDirectory({ orm: deps.orm });
  const rotation = createCredentialRotation({ orm: deps.orm, secrets: deps.secrets, factory: connectors, registry, ledger, isRunning: workflowIsRunning(deps.temporal.client) });
  const rotations = createTemporalRotations({ client: deps.temporal.client, taskQueue: deps.temporal.taskQueue });
  const credentials = createCredentialService({ orm: deps.orm, secrets: deps.secrets, ledger, owners, rotations });
  const policies = createPolicyStore({ orm: deps.orm });
  const identities = createIdentityResolver({ orm: deps.orm });
  const assignments = createAssignmentStore({ orm: deps.orm });
  const decisions = createDecisionSigner(deps.secrets);
  return {
    ...createSelfCheckActivities({ orm: deps.orm, secrets: deps.secrets }),
    ...createConnectorTestActivities({ factory: connectors }),
    ...createApprovalActivities({ orm: deps.orm, ledger, decisions, adminChanges: createAdminGateRecorder({ orm: deps.orm, ledger, decisions }) }),
    ...createChangeActivities({
      orm: deps.orm,
      ledger,
      policies,
      subjects: identities,
      assignments,
      operations: createConnectorOperations({ orm: deps.orm, factory: connectors, ledger }),
      connectors,
      decisions,
    }),
    ...createJmlActivities({ orm: deps.orm, ledger, policies, identities: createBirthrightIdentitySource({ orm: deps.orm, resolver: identities }), assignments, connectors }),
    ...createRotationActivities({ orm: deps.orm, rotation, policies, ledger, participants: identities, decisions }),
    ...createInventoryScanActivities({ scanner: createInventoryScanner({ orm: deps.orm, secrets: deps.secrets, factory: connectors, registry, owners, ledger }) }),
    ...createLeaverCredentialActivities({ credentials }),
    ...createFlowActivities({ orm: deps.orm, ledger, connectors, secrets: deps.secrets, startChange: temporalChangeStarter(deps.temporal.client, deps.temporal.taskQueue), isRunning: workflowIsRunning(deps.temporal.client) }),
  };
}
