// The HTTP application: security headers, request ids and logs, the declared API routes, the web UI,
// and the one error renderer. It takes its dependencies; it starts nothing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type Request } from 'express';
import helmet from 'helmet';
import type { ApiRoute, RouteRateLimit } from '../shared/http/api-route.js';
import { GatehouseError } from '../shared/errors.js';
import type { Logger } from './logger.js';
import { errorMiddleware, type ErrorMiddlewareOptions } from './http/error-middleware.js';
import { mountRoutes, type Authorize } from './http/mount-routes.js';
import { requestLog } from './http/request-log.js';

export interface AppDeps {
  log: Logger;
  routes: ApiRoute[];
  authorize: Authorize;
  /** Built Svelte UI (web/dist); served at / when present. */
  webDir?: string;
  /** Routers that render their own protocol (SCIM), mounted before the API's error handler. */
  protocolRouters?: { path: string; router: express.Router }[];
  /** The rate limiters routes name in their `rateLimit` field. */
  rateLimits?: Partial<Record<RouteRateLimit, express.RequestHandler>>;
  /** Told of every refusal (403), to record it. */
  onRefused?: ErrorMiddlewareOptions['onRefused'];
}


export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { 'script-src': ["'self'"], 'img-src': ["'self'", 'data:'] } },
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use(requestLog(deps.log));
  for (const { path: mountPath, router } of deps.protocolRouters ?? []) app.use(mountPath, router);

  app.use('/api', express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  const api = express.Router();
  mountRoutes(api, deps.routes, deps.authorize, deps.rateLimits);
  app.use(api);
  app.use('/api', (req: Request) => {
    throw new GatehouseError('not_found', `no API route ${req.method} ${req.baseUrl}${req.path}`);
  });

  if (deps.webDir && existsSync(path.join(deps.webDir, 'index.html'))) {
    const webDir = deps.webDir;
    app.use(express.static(webDir, { index: 'index.html', maxAge: '1h', setHeaders: (res, file) => file.endsWith('index.html') && res.setHeader('Cache-Control', 'no-cache') }));
    // Client-side routes fall back to the app shell.
    app.get(/^\/(?!api\/|scim\/).*/, (_req, res) => res.setHeader('Cache-Control', 'no-cache').sendFile(path.join(webDir, 'index.html')));
  }
  app.use((req: Request) => {
    throw new GatehouseError('not_found', `no route ${req.method} ${req.path}`);
  });
  app.use(errorMiddleware(deps.log, deps.onRefused ? { onRefused: deps.onRefused } : {}));
  return app;
}
