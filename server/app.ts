// The HTTP application: security headers, request ids and logs, the declared API routes, the web UI,
// and the one error renderer. It takes its dependencies; it starts nothing.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type Request } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { ApiRoute, RouteRateLimit } from '../shared/http/api-route.js';
import { GatehouseError } from '../shared/errors.js';
import type { Logger } from './logger.js';
import { errorMiddleware, type ErrorMiddlewareOptions } from './http/error-middleware.js';
import { mountRoutes, type Authorize } from './http/mount-routes.js';

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

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

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
  app.use(
    pinoHttp({
      logger: deps.log,
      // A caller's request id is kept when it is well formed, so traces join up across systems.
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url.replace(/([?&](code|state|token)=)[^&]+/g, '$1[redacted]') }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );
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
