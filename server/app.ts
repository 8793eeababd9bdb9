// The HTTP application: security headers, request ids and logs, the protocol endpoints (SCIM), the
// declared API routes, the web UI, and the one error renderer. It takes its dependencies; it starts
// nothing.
import { existsSync } from 'node:fs';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import path from 'node:path';
import express, { type Request } from 'express';
import helmet from 'helmet';
import type { ApiRoute, RouteRateLimit } from '../shared/http/api-route.js';
import { GatehouseError } from '../shared/errors.js';
import type { Logger } from './logger.js';
import { errorMiddleware, type ErrorMiddlewareOptions } from './http/error-middleware.js';
import { mountRoutes, type Authorize, type Govern } from './http/mount-routes.js';
import { requestLog } from './http/request-log.js';

export interface AppDeps {
  log: Logger;
  routes: ApiRoute[];
  authorize: Authorize;
  /** Built Svelte UI (web/dist); served at / when present. */
  webDir?: string;
  /** Endpoints that route and render their own protocol (SCIM), ahead of Express. */
  protocols?: ProtocolHandler[];
  /** The rate limiters routes name in their `rateLimit` field. */
  rateLimits?: Partial<Record<RouteRateLimit, express.RequestHandler>>;
  /** Told of every refusal (403), to record it. */
  onRefused?: ErrorMiddlewareOptions['onRefused'];
  /** Holds calls that are admin changes for approval where policy says so (server/admin). */
  govern?: Govern;
}

/** A protocol mounted at `path`; it is given the rest of the request's path (still percent-encoded). */
export interface ProtocolHandler {
  path: string;
  handle(req: IncomingMessage, res: ServerResponse, path: string): void;
}

export function createApp(deps: AppDeps): RequestListener {
  const securityHeaders = helmet({
    contentSecurityPolicy: { directives: { 'script-src': ["'self'"], 'img-src': ["'self'", 'data:'] } },
    crossOriginEmbedderPolicy: false,
  });
  const logRequest = requestLog(deps.log);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(securityHeaders);
  app.use(logRequest);

  // A webhook's signature covers the body's exact bytes, whatever its type: those routes get them raw.
  app.use('/api/hooks', express.raw({ limit: '1mb', type: () => true }));
  app.use('/api', express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  const api = express.Router();
  mountRoutes(api, deps.routes, deps.authorize, deps.rateLimits, deps.govern);
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

  // Protocol requests get the same security headers and request log, then go to their own handler.
  // Mount paths match case-insensitively, as Express's did.
  const protocols = (deps.protocols ?? []).map((p) => ({ prefix: p.path.toLowerCase(), handle: p.handle }));
  return (req, res) => {
    const url = req.url ?? '/';
    for (const { prefix, handle } of protocols) {
      const after = url.charAt(prefix.length);
      if ((after === '' || after === '/' || after === '?') && url.slice(0, prefix.length).toLowerCase() === prefix) {
        const query = url.indexOf('?');
        const rest = (query === -1 ? url : url.slice(0, query)).slice(prefix.length);
        securityHeaders(req, res, () => logRequest(req, res, () => handle(req, res, rest)));
        return;
      }
    }
    void app(req, res);
  };
}
