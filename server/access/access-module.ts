// Where access decisions plug into the server: the policy API (versions, publication, simulation),
// the approval inbox and the requests API, over the policy store, the identity resolver and the
// Temporal client that reaches the approval gates and starts access-request workflows; admin changes
// that wait for approval (server/admin).
import type { Ledger, LedgerAppender } from '../../audit/index.js';
import type { Govern } from '../http/mount-routes.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { createPolicyService } from '../../policies/policy-service.js';
import { policyRoutes } from '../../policies/policy-routes.js';
import type { ApiRoute } from '../../shared/http/api-route.js';
import type { Runtime } from '../runtime.js';
import { adminChangeRoutes } from '../admin/admin-change-routes.js';
import { createAdminChanges } from '../admin/admin-changes.js';
import { accessRoutes } from './access-routes.js';
import { createApprovalService } from './approval-service.js';
import { createIdentityResolver } from './identity-resolver.js';
import { createRequestService } from './request-service.js';
import { createSimulationSource } from './simulation-source.js';

export function accessModule(runtime: Pick<Runtime, 'orm' | 'temporal' | 'config' | 'secrets'>, ledger: LedgerAppender & Pick<Ledger, 'query'>): { routes: ApiRoute[]; govern: Govern } {
  const { orm } = runtime;
  const identities = createIdentityResolver({ orm });
  const store = createPolicyStore({ orm });
  const decisions = createDecisionSigner(runtime.secrets);
  const adminChanges = createAdminChanges({ orm, ledger, temporal: { client: runtime.temporal.client, taskQueue: runtime.config.TEMPORAL_TASK_QUEUE }, policies: store, identities, decisions });
  const policies = createPolicyService({ orm, store, ledger, simulation: createSimulationSource({ orm, subjects: identities }), proposals: adminChanges.proposals });
  const approvals = createApprovalService({ orm, temporal: runtime.temporal.client, identities, decisions });
  const requests = createRequestService({ orm, temporal: runtime.temporal.client, taskQueue: runtime.config.TEMPORAL_TASK_QUEUE, identities, decisions });
  return { govern: adminChanges.govern, routes: [...policyRoutes({ service: policies }), ...adminChangeRoutes({ changes: adminChanges }), ...accessRoutes({ approvals, requests })] };
}
