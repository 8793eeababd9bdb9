// Directory bearer tokens: generated, hashed, and checked on every SCIM request. The directory a
// request acts in comes from its token and nothing else.
import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { GatehouseError } from '../shared/errors.js';

export const TOKEN_PREFIX = 'gh_scim_';
const TOKEN_PATTERN = /^gh_scim_[A-Za-z0-9_-]{43}$/;

/** 256 bits from the CSPRNG, base64url, with a prefix that secret scanners can recognise. */
export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * SHA-256 is the right hash here, and a slow password hash (argon2, bcrypt) would be the wrong one:
 * those exist to make guessing low-entropy human passwords expensive. A token carries 256 random
 * bits, so a stolen hash cannot be searched for its token, and a fast hash keeps authentication off
 * the SCIM request's critical path. Lookup is by the hash (a unique index), so no token comparison
 * leaks timing.
 */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export interface TokenPrincipal {
  tokenId: string;
  directoryId: string;
}

export interface TokenAuthenticatorDeps {
  pool: Pool;
  log: Pick<Logger, 'warn'>;
  /**
   * How long a valid token is trusted without asking the database. Revocation in this process is
   * immediate (forget); other processes see it within this time.
   */
  cacheTtlMs?: number;
  /** last_used_at is written at most this often per token, so it never becomes a write hot spot. */
  lastUsedEveryMs?: number;
  now?: () => number;
}

export interface TokenAuthenticator {
  /** The token's directory, or a 401 that says why. */
  authenticate(authorization: string | undefined): Promise<TokenPrincipal>;
  /** The token's directory when this process validated the token recently; never a database lookup. */
  cached(authorization: string | undefined): TokenPrincipal | undefined;
  /** Drops a token from this process's cache (after revocation). */
  forget(tokenId: string): void;
}

const MAX_CACHED = 10_000;

export function createTokenAuthenticator(deps: TokenAuthenticatorDeps): TokenAuthenticator {
  const ttl = deps.cacheTtlMs ?? 5_000;
  const lastUsedEvery = deps.lastUsedEveryMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { principal: TokenPrincipal; expires: number }>();
  const lastUsedWritten = new Map<string, number>();

  function touch(tokenId: string): void {
    const t = now();
    if (t - (lastUsedWritten.get(tokenId) ?? -Infinity) < lastUsedEvery) return;
    lastUsedWritten.set(tokenId, t);
    // The WHERE clause keeps several server processes to about one write per interval too.
    deps.pool
      .query(
        `UPDATE scim_directory_token SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
        [tokenId, lastUsedEvery / 1000],
      )
      .catch((err: unknown) => deps.log.warn({ err: (err as Error).message, tokenId }, 'could not record when a SCIM token was last used'));
  }

  /** The cache key of a well-formed token in the header, or undefined. */
  function keyOf(authorization: string | undefined): string | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return match && TOKEN_PATTERN.test(match[1]!) ? hashToken(match[1]!).toString('base64') : undefined;
  }

  return {
    cached(authorization) {
      const key = keyOf(authorization);
      const cached = key === undefined ? undefined : cache.get(key);
      if (!cached || cached.expires <= now()) return undefined;
      touch(cached.principal.tokenId);
      return cached.principal;
    },
    async authenticate(authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!match) throw new GatehouseError('unauthenticated', 'send the directory token as "Authorization: Bearer <token>"');
      const token = match[1]!;
      if (!TOKEN_PATTERN.test(token)) throw new GatehouseError('unauthenticated', 'the bearer token is not a Gatehouse directory token');
      const hash = hashToken(token);
      const key = hash.toString('base64');
      const cached = cache.get(key);
      if (cached && cached.expires > now()) {
        touch(cached.principal.tokenId);
        return cached.principal;
      }
      const { rows } = await deps.pool.query<{ id: string; directory_id: string }>({
        name: 'scim_token_lookup',
        text: 'SELECT id, directory_id FROM scim_directory_token WHERE token_hash = $1 AND revoked_at IS NULL',
        values: [hash],
      });
      const row = rows[0];
      if (!row) {
        cache.delete(key);
        throw new GatehouseError('unauthenticated', 'the directory token is unknown or revoked');
      }
      const principal = { tokenId: row.id, directoryId: row.directory_id };
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
      cache.set(key, { principal, expires: now() + ttl });
      touch(principal.tokenId);
      return principal;
    },
    forget(tokenId) {
      for (const [key, entry] of cache) if (entry.principal.tokenId === tokenId) cache.delete(key);
    },
  };
}
