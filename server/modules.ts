// Where each module plugs into the running server: its API routes, routers that speak their own
// protocol (SCIM), and background services (dispatchers, checkpointers). Modules build these
// from the runtime's clients; this file only lists them.
import type { ProtocolHandler } from './app.js';
import type { Govern } from './http/mount-routes.js';
import type { ApiRoute } from '../shared/http/api-route.js';
import type { Runtime } from './runtime.js';
import { connectorModule } from './connector-module.js';
import { credentialModule } from './credential-module.js';
import { accessModule } from './access/access-module.js';
import { jmlModule } from './jml/jml-module.js';
import { auditRoutes } from '../audit/ledger-routes.js';
import { createCheckpointer } from '../audit/checkpointer.js';
import { createMetrics } from './metrics.js';
import { SCIM_MOUNT_PATH, createScimModule } from '../scim/index.js';
import { createScimLedgerRecorder } from '../scim/scim-ledger-recorder.js';
import { createFlowService } from '../workflows/flows/flow-service.js';
import { flowRoutes } from '../workflows/flows/flow-routes.js';
import { flowScheduleService } from './flow-schedules.js';
import { workflowIsRunning } from './rotation-scheduling.js';

export interface ModuleContext {
  runtime: Runtime;
  /** The URL people and identity providers use to reach this server. */
  publicUrl: string;
}

/** Something that runs beside the HTTP server for as long as it runs. */
export interface BackgroundService {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerModules {
  routes: ApiRoute[];
  /** Holds the API calls that are admin changes for approval where policy says so. */
  govern: Govern;
  protocols: ProtocolHandler[];
  services: BackgroundService[];
}

export async function buildModules(ctx: ModuleContext): Promise<ServerModules> {
  const { config, secrets, log, ledger } = ctx.runtime;
  const scim = await createScimModule({ orm: ctx.runtime.orm, ledger, publicUrl: ctx.publicUrl, log, authFailureLimits: { limit: config.SCIM_AUTH_FAILURE_LIMIT, windowSeconds: 15 * 60 } });
  const credentials = credentialModule(ctx.runtime, ledger);
  // The identity-event dispatcher hands SCIM's outbox to the joiner-mover-leaver workflows.
  const jml = jmlModule(ctx.runtime, ledger, scim);
  const access = accessModule(ctx.runtime, ledger);
  const temporal = { client: ctx.runtime.temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE };
  const flowSchedules = flowScheduleService({ orm: ctx.runtime.orm, ...temporal, log: log.child({ module: 'flows' }) });
  return {
    govern: access.govern,
    routes: [
      ...auditRoutes({ ledger, exporter: { ledger, signer: secrets } }),
      ...createMetrics({ ledger, checkpointIntervalMs: config.LEDGER_CHECKPOINT_INTERVAL_SECONDS * 1000 }).routes,
      ...connectorModule(ctx.runtime, ledger).routes,
      ...scim.routes,
      ...access.routes,
      ...credentials.routes,
      ...jml.routes,
      ...flowRoutes({ service: createFlowService({ orm: ctx.runtime.orm, ledger, temporal, secrets, isRunning: workflowIsRunning(temporal.client), onPublished: () => void flowSchedules.syncNow() }) }),
    ],
    protocols: [{ path: SCIM_MOUNT_PATH, handle: scim.handler }],
    services: [
      createScimLedgerRecorder({ orm: ctx.runtime.orm, ledger, log: log.child({ module: 'scim' }) }),
      createCheckpointer({
        ledger,
        everyEntries: config.LEDGER_CHECKPOINT_EVERY_ENTRIES,
        intervalMs: config.LEDGER_CHECKPOINT_INTERVAL_SECONDS * 1000,
        log: log.child({ module: 'audit' }),
      }),
      ...credentials.services,
      ...jml.services,
      flowSchedules,
    ],
  };
}
