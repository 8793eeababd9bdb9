// Mounts declared routes on express: the route's rate limit, then the access check, then input
// validation, then the handler.
import type { Request, Response, NextFunction, RequestHandler, Router } from 'express';
import type { ApiRoute, RouteAccess, RouteRateLimit } from '../../shared/http/api-route.js';

/** Decides whether the caller may use a route; throws a GatehouseError (401 or 403) when not. */
export type Authorize = (req: Request, access: RouteAccess, route: ApiRoute) => Promise<void> | void;

export function mountRoutes(router: Router, routes: ApiRoute[], authorize: Authorize, rateLimits: Partial<Record<RouteRateLimit, RequestHandler>> = {}): void {
  for (const route of routes) {
    const limiter = route.rateLimit && rateLimits[route.rateLimit];
    if (route.rateLimit && !limiter) throw new Error(`${route.method.toUpperCase()} ${route.path} names the rate limit ${route.rateLimit}, which this server does not have`);
    const before: RequestHandler[] = limiter ? [limiter] : [];
    router[route.method](route.path, ...before, async (req: Request, res: Response, next: NextFunction) => {
      try {
        await authorize(req, route.access, route);
        if (route.request?.params) req.params = route.request.params.parse(req.params) as Request['params'];
        if (route.request?.query) {
          // Express 5 makes req.query a getter; keep the parsed copy where handlers look for it.
          Object.defineProperty(req, 'query', { value: route.request.query.parse(req.query), writable: true });
        }
        if (route.request?.body) req.body = route.request.body.parse(req.body ?? {});
        await route.handler(req, res);
      } catch (err) {
        next(err);
      }
    });
  }
}
