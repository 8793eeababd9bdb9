// A signed-in browser: the session cookie's SHA-256, who it belongs to, the roles it carries, and
// when it ends. In PostgreSQL so every replica sees every session and a revocation at once.
import { defineEntity, p } from '@mikro-orm/core';

export const AuthSession = defineEntity({
  name: 'AuthSession',
  tableName: 'auth_session',
  properties: {
    id: p.uuid().primary(),
    tokenHash: p.text().unique(),
    userId: p.uuid(),
    roles: p.array(),
    method: p.enum(['oidc', 'bootstrap-link'] as const),
    /** The OIDC_ISSUERS id the person signed in with. */
    provider: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastSeenAt: p.datetime(),
    expiresAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
  },
});
