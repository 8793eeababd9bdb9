// Where each module plugs into the running server: its API routes, routers that speak their own
// protocol (SCIM), and background services (dispatchers, checkpointers). Modules build these
// from the runtime's clients; this file only lists them.
import type express from 'express';
import type { ApiRoute } from '../shared/http/api-route.js';
import type { Runtime } from './runtime.js';
import { connectorModule } from './connector-module.js';
import { createLedger } from '../audit/ledger-service.js';
import { auditRoutes } from '../audit/ledger-routes.js';
import { createCheckpointer } from '../audit/checkpointer.js';

export interface ModuleContext {
  runtime: Runtime;
  /** The URL people and identity providers use to reach this server (final once it listens). */
  publicUrl: () => string;
}

/** Something that runs beside the HTTP server for as long as it runs. */
export interface BackgroundService {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerModules {
  routes: ApiRoute[];
  protocolRouters: { path: string; router: express.Router }[];
  services: BackgroundService[];
}

export async function buildModules(ctx: ModuleContext): Promise<ServerModules> {
  const { config, orm, secrets, log } = ctx.runtime;
  // The ledger every other module appends to (they take it as a LedgerAppender).
  const ledger = createLedger({ orm, signer: secrets });
  return {
    routes: [...auditRoutes({ ledger, exporter: { ledger, signer: secrets } }), ...connectorModule(ctx.runtime).routes],
    protocolRouters: [],
    services: [
      createCheckpointer({
        ledger,
        everyEntries: config.LEDGER_CHECKPOINT_EVERY_ENTRIES,
        intervalMs: config.LEDGER_CHECKPOINT_INTERVAL_SECONDS * 1000,
        log: log.child({ module: 'audit' }),
      }),
    ],
  };
}
