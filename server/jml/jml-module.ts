// Where the joiner-mover-leaver workflows plug into the server: the identity-event dispatcher (SCIM
// outbox to one workflow per person), the runs API, and the reconciliation schedules.
import type { Ledger, LedgerAppender } from '../../audit/index.js';
import type { ScimModule } from '../../scim/index.js';
import type { ApiRoute } from '../../shared/http/api-route.js';
import type { BackgroundService } from '../modules.js';
import type { Runtime } from '../runtime.js';
import { createIdentityDispatch } from './identity-dispatch.js';
import { reconcileScheduleService } from './reconcile-schedules.js';
import { runRoutes } from './run-routes.js';
import { createRunService } from './run-service.js';

export function jmlModule(
  runtime: Pick<Runtime, 'orm' | 'temporal' | 'config' | 'log'>,
  ledger: LedgerAppender & Pick<Ledger, 'query'>,
  scim: Pick<ScimModule, 'createDispatcher'>,
): { routes: ApiRoute[]; services: BackgroundService[] } {
  const { config, orm } = runtime;
  const client = runtime.temporal.client;
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  const log = runtime.log.child({ module: 'jml' });
  const dispatcher = scim.createDispatcher({ deliver: createIdentityDispatch({ client, taskQueue }), pollIntervalMs: config.IDENTITY_EVENT_POLL_MS, name: 'identity-event-dispatcher' });
  return {
    routes: runRoutes({ runs: createRunService({ orm, ledger, temporal: client, taskQueue }) }),
    services: [dispatcher, reconcileScheduleService({ orm, client, taskQueue, everyMinutes: config.RECONCILE_INTERVAL_MINUTES, log })],
  };
}
