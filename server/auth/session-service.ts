// Browser sessions in PostgreSQL: created at sign-in, resolved from the cookie on each request,
// ended by sign-out, expiry, idleness, or an admin disabling the person. Any replica can serve any
// session; the last-seen time is written at most once a minute, not on every request.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Role } from '../../shared/auth/permissions.js';
import { AuthSession } from './session.entity.js';
import { randomSecret, secretHash } from './secret-values.js';

export interface SessionServiceDeps {
  orm: MikroORM;
  /** A session ends this long after sign-in, however active. */
  maxAgeMs: number;
  /** A session ends after this long without a request. */
  idleMs: number;
  /** How stale last-seen may get before a request refreshes it. */
  touchEveryMs?: number;
  now?: () => Date;
}

export interface ActiveSession {
  id: string;
  userId: string;
  roles: Role[];
  method: 'oidc' | 'bootstrap-link';
  provider: string | null;
  createdAt: Date;
  expiresAt: Date;
  /** When the session ends for idleness if nothing else happens. */
  idleExpiresAt: Date;
  user: { displayName: string | null; email: string | null };
}

interface SessionRow {
  id: string;
  user_id: string;
  roles: string[];
  method: 'oidc' | 'bootstrap-link';
  provider: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  display_name: string | null;
  email: string | null;
}

export function createSessionService(deps: SessionServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const touchEveryMs = deps.touchEveryMs ?? 60_000;
  const connection = () => deps.orm.em.getConnection();

  return {
    /** A new session; the secret goes into the cookie and nowhere else. */
    async create(input: { userId: string; roles: Role[]; method: ActiveSession['method']; provider?: string }): Promise<{ secret: string; id: string; expiresAt: Date }> {
      const secret = randomSecret();
      const at = now();
      const em = deps.orm.em.fork();
      const session = em.create(AuthSession, {
        id: randomUUID(),
        tokenHash: secretHash(secret),
        userId: input.userId,
        roles: input.roles,
        method: input.method,
        provider: input.provider ?? null,
        createdAt: at,
        lastSeenAt: at,
        expiresAt: new Date(at.getTime() + deps.maxAgeMs),
      });
      await em.flush();
      return { secret, id: session.id, expiresAt: session.expiresAt };
    },

    /** The live session behind a cookie, or undefined when it is unknown, ended, or its person is disabled. */
    async resolve(secret: string): Promise<ActiveSession | undefined> {
      const rows = await connection().execute<SessionRow[]>(
        `SELECT s.id, s.user_id, s.roles, s.method, s.provider, s.created_at, s.last_seen_at, s.expires_at, u.display_name, u.email
           FROM auth_session s JOIN gatehouse_user u ON u.id = s.user_id
          WHERE s.token_hash = ? AND s.revoked_at IS NULL AND u.disabled_at IS NULL`,
        [secretHash(secret)],
      );
      const row = rows[0];
      if (!row) return undefined;
      const at = now();
      const lastSeen = new Date(row.last_seen_at);
      const expiresAt = new Date(row.expires_at);
      if (expiresAt <= at || lastSeen.getTime() + deps.idleMs <= at.getTime()) return undefined;
      let seen = lastSeen;
      if (at.getTime() - lastSeen.getTime() >= touchEveryMs) {
        await connection().execute('UPDATE auth_session SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?', [at, row.id, at]);
        seen = at;
      }
      return {
        id: row.id,
        userId: row.user_id,
        roles: row.roles as Role[],
        method: row.method,
        provider: row.provider,
        createdAt: new Date(row.created_at),
        expiresAt,
        idleExpiresAt: new Date(Math.min(expiresAt.getTime(), seen.getTime() + deps.idleMs)),
        user: { displayName: row.display_name, email: row.email },
      };
    },

    async revoke(id: string): Promise<void> {
      await connection().execute('UPDATE auth_session SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now(), id]);
    },

    /** Ends a session by its cookie (the one a browser held before signing in again). */
    async revokeBySecret(secret: string): Promise<void> {
      await connection().execute('UPDATE auth_session SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL', [now(), secretHash(secret)]);
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
