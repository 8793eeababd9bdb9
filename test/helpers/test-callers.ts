// Credentials for callers of a running test server, made with Gatehouse's own services against the
// suite's database: a signed-in person with given roles (session cookie and CSRF token), or an API
// token with given scopes. What the server then does with them is what the tests check.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Permission, Role } from '../../shared/auth/permissions.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { createApiTokenService } from '../../server/auth/api-token-service.js';
import { createSessionService } from '../../server/auth/session-service.js';
import { createUserService } from '../../server/auth/user-service.js';
import { csrfTokenFor } from '../../server/auth/secret-values.js';
import type { AuthEventSink } from '../../server/auth/auth-events.js';

/** The issuer the test people sign in through; test directories name it, so their people are linked. */
export const TEST_ISSUER = 'https://idp.test.example';

export interface PersonCredentials {
  userId: string;
  sessionCookie: string;
  csrfToken: string;
  /** Headers for a request as this person; the CSRF token is sent unless told otherwise. */
  headers(options?: { csrf?: boolean }): Record<string, string>;
}

export function testCallers(orm: MikroORM, cookieName = 'gatehouse.sid') {
  const events: AuthEventSink = { record: async () => undefined };
  const users = createUserService({ orm, events });
  const sessions = createSessionService({ orm, maxAgeMs: 3_600_000, idleMs: 3_600_000 });
  const tokens = createApiTokenService({ orm, events, maxDays: 30 });
  return {
    /** A signed-in person; with an e-mail, Gatehouse links them to the directory identities that have it. */
    async person(roles: Role[], name = `test person ${roles.join('+') || 'without roles'}`, email?: string): Promise<PersonCredentials> {
      const user = await users.recordSignIn({ issuer: TEST_ISSUER, subject: randomUUID(), displayName: name, roles, ...(email ? { email } : {}) });
      const session = await sessions.create({ userId: user.id, roles, method: 'oidc' });
      const csrfToken = csrfTokenFor(session.secret);
      return {
        userId: user.id,
        sessionCookie: session.secret,
        csrfToken,
        headers: (options = {}) => ({ cookie: `${cookieName}=${session.secret}`, ...(options.csrf === false ? {} : { 'x-csrf-token': csrfToken }) }),
      };
    },
    async token(scopes: Permission[], name = `test token ${scopes.join(' ')}`): Promise<{ id: string; token: string; headers(): Record<string, string> }> {
      const created = await tokens.create({ name, scopes, expiresInDays: 1, by: { kind: 'system', id: 'test' }, creatorAbility: adminAbilityFor({ kind: 'system', id: 'test', roles: [] }) });
      return { id: created.view.id, token: created.token, headers: () => ({ authorization: `Bearer ${created.token}` }) };
    },
  };
}
