// Rate limits on the sign-in and API token endpoints (express-rate-limit), counted in PostgreSQL so
// a limit holds across every replica rather than per process. Windows run on the database's clock.
import type { RequestHandler } from 'express';
import { rateLimit, type Options, type Store } from 'express-rate-limit';
import type { MikroORM } from '@mikro-orm/postgresql';
import { GatehouseError } from '../../shared/errors.js';
import type { RouteRateLimit } from '../../shared/http/api-route.js';

const WINDOW_MS = 15 * 60_000;

/** An express-rate-limit store over the auth_rate_limit table: one upsert per counted request. */
export function postgresRateLimitStore(orm: MikroORM, prefix: string): Store {
  let windowMs = WINDOW_MS;
  const connection = () => orm.em.getConnection();
  return {
    prefix,
    localKeys: false,
    init(options: Options) {
      windowMs = options.windowMs;
    },
    async increment(key) {
      const rows = await connection().execute<{ hits: number; reset_at: string }[]>(
        `INSERT INTO auth_rate_limit AS r (key, hits, reset_at) VALUES (?, 1, now() + make_interval(secs => ?))
         ON CONFLICT (key) DO UPDATE SET
           hits = CASE WHEN r.reset_at <= now() THEN 1 ELSE r.hits + 1 END,
           reset_at = CASE WHEN r.reset_at <= now() THEN EXCLUDED.reset_at ELSE r.reset_at END
         RETURNING hits, reset_at`,
        [`${prefix}${key}`, windowMs / 1000],
      );
      const row = rows[0]!;
      return { totalHits: Number(row.hits), resetTime: new Date(row.reset_at) };
    },
    async decrement(key) {
      await connection().execute('UPDATE auth_rate_limit SET hits = greatest(hits - 1, 0) WHERE key = ?', [`${prefix}${key}`]);
    },
    async resetKey(key) {
      await connection().execute('DELETE FROM auth_rate_limit WHERE key = ?', [`${prefix}${key}`]);
    },
  };
}

export function createRateLimiters(deps: { orm: MikroORM; signInPerWindow: number; tokenPerWindow: number; webhookPerWindow: number }): Record<RouteRateLimit, RequestHandler> {
  const limiter = (name: RouteRateLimit, limit: number, what: string): RequestHandler =>
    rateLimit({
      windowMs: WINDOW_MS,
      limit,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      store: postgresRateLimitStore(deps.orm, `${name}:`),
      // Refusals go through the one error renderer, like every other error.
      handler: (_req, res, next) => {
        const retryAfter = res.getHeader('Retry-After');
        next(new GatehouseError('rate_limited', `too many ${what} from your address: try again in ${retryAfter ?? 'a few'} seconds`, { details: { limit, windowSeconds: WINDOW_MS / 1000 } }));
      },
    });
  return {
    'sign-in': limiter('sign-in', deps.signInPerWindow, 'sign-in requests'),
    'api-token': limiter('api-token', deps.tokenPerWindow, 'API token requests'),
    webhook: limiter('webhook', deps.webhookPerWindow, 'webhook calls'),
  };
}
