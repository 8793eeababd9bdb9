// Failed SCIM authentications per client address. Directory tokens carry 256 bits and cannot be
// guessed; the limit is against floods of bad tokens, each of which costs a database lookup. Failures
// are counted in PostgreSQL (the auth_rate_limit table the sign-in limits use), so the limit holds
// across replicas. Once an address is over it, this process answers that address with 429 before
// any lookup until the window ends, except for a token it already knows to be valid: an identity
// provider behind the same address as an attacker keeps provisioning.
import type { IncomingMessage } from 'node:http';
import type { Pool } from 'pg';
import proxyAddr from 'proxy-addr';
import { GatehouseError } from '../shared/errors.js';

export interface AuthFailureLimits {
  /** Failed authentications allowed per client address per window. */
  limit: number;
  windowSeconds: number;
}

export const DEFAULT_AUTH_FAILURE_LIMITS: AuthFailureLimits = { limit: 30, windowSeconds: 15 * 60 };

export interface AuthFailureLimiter {
  /** The refusal for an address that is over the limit, or undefined. No I/O. */
  refusal(address: string): GatehouseError | undefined;
  /** Counts one failure; the refusal to send instead of 401 when the address is now over the limit. */
  failed(address: string): Promise<GatehouseError | undefined>;
}

/** Addresses remembered as blocked by this process; beyond this, the oldest are forgotten. */
const MAX_BLOCKED = 10_000;

// Proxies on this host may name the client (X-Forwarded-For), as Express's `trust proxy: loopback`.
const trustLoopback = proxyAddr.compile('loopback');

/** The client's address, as the rest of the server sees it. */
export function clientAddress(req: IncomingMessage): string {
  return proxyAddr(req, trustLoopback);
}

export function createAuthFailureLimiter(deps: { pool: Pick<Pool, 'query'>; limits: AuthFailureLimits; now?: () => number }): AuthFailureLimiter {
  const now = deps.now ?? Date.now;
  const { limit, windowSeconds } = deps.limits;
  const blockedUntil = new Map<string, number>();

  const refusal = (until: number) => {
    const seconds = Math.max(1, Math.ceil((until - now()) / 1000));
    return new GatehouseError('rate_limited', `too many failed authentications from your address: try again in ${seconds} seconds`, {
      details: { limit, windowSeconds, retryAfterSeconds: seconds },
    });
  };

  return {
    refusal(address) {
      const until = blockedUntil.get(address);
      if (until === undefined) return undefined;
      if (until > now()) return refusal(until);
      blockedUntil.delete(address);
      return undefined;
    },
    async failed(address) {
      const { rows } = await deps.pool.query<{ hits: number; reset_ms: string }>({
        name: 'scim_auth_failure',
        text: `INSERT INTO auth_rate_limit AS r (key, hits, reset_at) VALUES ($1, 1, now() + make_interval(secs => $2))
               ON CONFLICT (key) DO UPDATE SET
                 hits = CASE WHEN r.reset_at <= now() THEN 1 ELSE r.hits + 1 END,
                 reset_at = CASE WHEN r.reset_at <= now() THEN EXCLUDED.reset_at ELSE r.reset_at END
               RETURNING hits, (extract(epoch FROM r.reset_at - now()) * 1000)::bigint AS reset_ms`,
        values: [`scim-auth:${address}`, windowSeconds],
      });
      const row = rows[0]!;
      if (row.hits <= limit) return undefined;
      // The database's clock says how long is left; this process's clock keeps the deadline.
      const until = now() + Number(row.reset_ms);
      if (blockedUntil.size >= MAX_BLOCKED) blockedUntil.delete(blockedUntil.keys().next().value!);
      blockedUntil.set(address, until);
      return refusal(until);
    },
  };
}
