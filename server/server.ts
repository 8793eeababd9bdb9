// Starts Gatehouse: its services, the worker (in-process by default), and the HTTP server.
// Everything started is stopped again, in reverse, on failure or shutdown.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from '@temporalio/worker';
import type { Config } from './config.js';
import { dataDir, publicUrl } from './config.js';
import type { Logger } from './logger.js';
import { startRuntime, type Runtime } from './runtime.js';
import { StartupError } from './embedded/process.js';
import { createApp } from './app.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { systemRoutes } from './system-routes.js';
import { buildActivities } from './activities.js';
import type { ApiRoute } from '../shared/http/api-route.js';
import { createWorker, workflowBundlePath } from '../workflows/worker.js';
import { ensureCanary } from '../workflows/selfcheck/activities.js';
import { GATEHOUSE_VERSION } from './version.js';
import { buildModules, type BackgroundService } from './modules.js';
import { createAuth } from './auth/auth-module.js';
import { assertKnownAccess } from './auth/authorize.js';
import { ledgerAuthEvents, type AuthEventSink } from './auth/auth-events.js';
import { DECISION_KEY_NAME } from '../policies/decision-signature.js';
import { createIdentityResolver } from './access/identity-resolver.js';
import { egressPolicyFrom } from '../connectors/spi/egress.js';

export const WEB_DIST = fileURLToPath(new URL('../web/dist', import.meta.url));

export interface RunningGatehouse {
  runtime: Runtime;
  url: string;
  port: number;
  /** Every API route this server mounted, as declared (the authorization matrix test walks them). */
  routes: ApiRoute[];
  stop(): Promise<void>;
}

/** Builds and runs the worker until stopped; resolves once it is polling. */
export async function startWorker(runtime: Runtime): Promise<{ worker: Worker; done: Promise<void> }> {
  const worker = await createWorker({
    connection: await runtime.temporal.nativeConnection(),
    namespace: runtime.config.TEMPORAL_NAMESPACE,
    taskQueue: runtime.config.TEMPORAL_TASK_QUEUE,
    activities: buildActivities({
      orm: runtime.orm,
      secrets: runtime.secrets,
      ledger: runtime.ledger,
      temporal: { client: runtime.temporal.client, taskQueue: runtime.config.TEMPORAL_TASK_QUEUE },
      egress: egressPolicyFrom(runtime.config, [runtime.config.DATABASE_URL, runtime.config.DATABASE_APP_URL, runtime.config.DATABASE_LEDGER_URL, runtime.config.TEMPORAL_ADDRESS, runtime.config.VAULT_ADDR, runtime.database.appUrl, runtime.temporal.address]),
    }),
    bundlePath: await workflowBundlePath(dataDir(runtime.config, 'cache')),
  });
  const done = worker.run();
  return { worker, done };
}

async function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new StartupError(`port ${port} for the Gatehouse server is already in use: stop whatever listens there, or set PORT to a free port`)
          : err.code === 'EACCES'
            ? new StartupError(`not allowed to listen on ${host}:${port}: choose a PORT above 1023 or run with the needed privilege`)
            : new StartupError(`cannot listen on ${host}:${port} (HOST, PORT): ${err.message}`),
      );
    });
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}

export interface StartOptions {
  webDir?: string;
  /** Where the first-start one-time admin link is printed. Default: standard output. */
  announce?: (text: string) => void;
  /** Where sign-in events go. Default: the ledger and the security log. */
  authEvents?: AuthEventSink;
}

export async function startGatehouse(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningGatehouse> {
  const started = Date.now();
  const runtime = await startRuntime(config, log);
  let worker: { worker: Worker; done: Promise<void> } | undefined;
  let server: http.Server | undefined;
  const startedServices: BackgroundService[] = [];
  try {
    await runtime.secrets.ensureSigningKey('gatehouse-ledger');
    await runtime.secrets.ensureSigningKey(DECISION_KEY_NAME);
    await ensureCanary(runtime.secrets);
    if (config.GATEHOUSE_EMBEDDED_WORKER) {
      worker = await startWorker(runtime);
      worker.done.catch((err: unknown) => log.fatal({ err }, 'the embedded Temporal worker stopped with an error'));
    }

    // Listen first: the port (and so the public URL, without PUBLIC_URL) is then known for certain,
    // and every module is built with it. Requests wait for the app, attached below.
    server = http.createServer();
    server.keepAliveTimeout = 65_000;
    const port = await listen(server, config.HOST, config.PORT);
    const url = publicUrl(config, port);

    const modules = await buildModules({ runtime, publicUrl: url });
    const auth = createAuth({
      orm: runtime.orm,
      config,
      log,
      publicUrl: () => url,
      events: options.authEvents ?? ledgerAuthEvents(runtime.ledger, log),
      identityLinks: createIdentityResolver({ orm: runtime.orm }),
    });
    for (const service of [...modules.services, ...auth.services]) {
      await service.start();
      startedServices.push(service);
    }

    const routes: ApiRoute[] = [...modules.routes, ...auth.routes];
    let openApi: Record<string, unknown> | undefined;
    routes.push(
      ...systemRoutes({
        readiness: () => runtime.readiness(),
        isSignedIn: (req) => auth.isSignedIn(req),
        openApiDocument: () => (openApi ??= buildOpenApiDocument(routes, { version: GATEHOUSE_VERSION, serverUrl: url, sessionCookie: auth.sessionCookie })),
      }),
    );
    assertKnownAccess(routes);
    const app = createApp({
      log,
      routes,
      protocols: modules.protocols,
      webDir: options.webDir ?? WEB_DIST,
      authorize: auth.authorize,
      rateLimits: auth.rateLimits,
      onRefused: auth.onRefused,
      govern: modules.govern,
    });
    server.on('request', app);
    log.info({ url, ms: Date.now() - started, temporalUi: runtime.temporal.uiUrl }, `Gatehouse is ready at ${url}`);
    await auth.announceOneTimeLink(options.announce ?? ((text) => process.stdout.write(text)));

    const srv = server;
    const w = worker;
    const stopServices = async () => {
      for (const service of startedServices.reverse()) {
        await service.stop().catch((err: unknown) => log.warn({ err }, `stopping ${service.name} failed`));
      }
    };
    return {
      runtime,
      url,
      port,
      routes,
      async stop() {
        await new Promise<void>((resolve) => {
          srv.close(() => resolve());
          srv.closeIdleConnections();
        });
        await stopServices();
        if (w) {
          w.worker.shutdown();
          await w.done.catch(() => undefined);
        }
        await runtime.stop();
      },
    };
  } catch (err) {
    server?.close();
    for (const service of startedServices.reverse()) await service.stop().catch(() => undefined);
    if (worker) {
      worker.worker.shutdown();
      await worker.done.catch(() => undefined);
    }
    await runtime.stop();
    throw err;
  }
}

export const repoRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
