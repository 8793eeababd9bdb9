// Mounts declared routes on express: the route's rate limit, then the access check, then input
// validation, then (for an admin change) its governance, then the handler.
import type { Request, Response, NextFunction, RequestHandler, Router } from 'express';
import type { ApiRoute, RouteAccess, RouteRateLimit } from '../../shared/http/api-route.js';

/** Decides whether the caller may use a route; throws a GatehouseError (401 or 403) when not. */
export type Authorize = (req: Request, access: RouteAccess, route: ApiRoute) => Promise<void> | void;

/**
 * For a route that is an admin change (`governedAs`), after its input is validated: go on (and say
 * afterwards whether the handler succeeded), or answer instead (202: held for approval).
 */
export type Govern = (req: Request, route: ApiRoute) => Promise<{ proceed: true; finished?: (error?: unknown) => Promise<void> } | { proceed: false; status: number; body: unknown }>;

export function mountRoutes(router: Router, routes: ApiRoute[], authorize: Authorize, rateLimits: Partial<Record<RouteRateLimit, RequestHandler>> = {}, govern?: Govern): void {
  for (const route of routes) {
    if (route.governedAs && !govern) throw new Error(`${route.method.toUpperCase()} ${route.path} is an admin change (${route.governedAs}), and this server cannot govern admin changes`);
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
        const governed = route.governedAs && govern ? await govern(req, route) : undefined;
        if (governed && !governed.proceed) {
          res.status(governed.status).json(governed.body);
          return;
        }
        try {
          await route.handler(req, res);
        } catch (err) {
          await governed?.finished?.(err);
          throw err;
        }
        await governed?.finished?.();
      } catch (err) {
        next(err);
      }
    });
  }
}
