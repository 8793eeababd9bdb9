// Who sent a request: an API token in the Authorization header, or a session cookie. Credentials
// that are present but not valid are refused outright rather than treated as anonymous, so a
// caller learns at once that its token or session has ended.
import type { Request } from 'express';
import type { Principal } from '../../shared/auth/permissions.js';
import { GatehouseError } from '../../shared/errors.js';
import type { ApiTokenService } from './api-token-service.js';
import type { AuthCookies } from './auth-cookies.js';
import type { ActiveSession, SessionService } from './session-service.js';

export type Authenticated =
  | { via: 'api-token'; principal: Principal }
  | { via: 'session'; principal: Principal; session: ActiveSession; sessionSecret: string };

export interface AuthenticateDeps {
  sessions: SessionService;
  apiTokens: ApiTokenService;
  cookies: AuthCookies;
}

export type Authenticate = (req: Request) => Promise<Authenticated | undefined>;

export function createAuthenticate(deps: AuthenticateDeps): Authenticate {
  return async (req) => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
      if (!match) throw new GatehouseError('unauthenticated', 'Authorization: only "Bearer <API token>" is accepted');
      const principal = await deps.apiTokens.authenticate(match[1]!);
      if (!principal) throw new GatehouseError('unauthenticated', 'the API token is not valid: it is unknown, expired or revoked, or the person who created it is disabled');
      return { via: 'api-token', principal };
    }
    const secret = deps.cookies.read(req, deps.cookies.sessionName);
    if (secret === undefined) return undefined;
    const session = await deps.sessions.resolve(secret);
    if (!session) throw new GatehouseError('unauthenticated', 'your session has ended (signed out, expired, idle too long, or your account was disabled): sign in again');
    return {
      via: 'session',
      session,
      sessionSecret: secret,
      principal: {
        kind: 'human',
        id: session.userId,
        roles: session.roles,
        ...(session.user.displayName ? { displayName: session.user.displayName } : {}),
        ...(session.user.email ? { email: session.user.email } : {}),
      },
    };
  };
}
