// Where access decisions plug into the server: the policy API (versions, publication, simulation),
// the approval inbox and the requests API, over the policy store, the identity resolver and the
// Temporal client that reaches the approval gates and starts access-request workflows.
import type { LedgerAppender } from '../../audit/index.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { createPolicyService } from '../../policies/policy-service.js';
import { policyRoutes } from '../../policies/policy-routes.js';
import type { ApiRoute } from '../../shared/http/api-route.js';
import type { Runtime } from '../runtime.js';
import { accessRoutes } from './access-routes.js';
import { createApprovalService } from './approval-service.js';
import { createIdentityResolver } from './identity-resolver.js';
import { createRequestService } from './request-service.js';
import { createSimulationSource } from './simulation-source.js';

export function accessModule(runtime: Pick<Runtime, 'orm' | 'temporal' | 'config' | 'secrets'>, ledger: LedgerAppender): { routes: ApiRoute[] } {
  const { orm } = runtime;
  const identities = createIdentityResolver({ orm });
  const store = createPolicyStore({ orm });
  const policies = createPolicyService({ orm, store, ledger, simulation: createSimulationSource({ orm, subjects: identities }) });
  const decisions = createDecisionSigner(runtime.secrets);
  const approvals = createApprovalService({ orm, temporal: runtime.temporal.client, identities, decisions });
  const requests = createRequestService({ orm, temporal: runtime.temporal.client, taskQueue: runtime.config.TEMPORAL_TASK_QUEUE, identities, decisions });
  return { routes: [...policyRoutes({ service: policies }), ...accessRoutes({ approvals, requests })] };
}
