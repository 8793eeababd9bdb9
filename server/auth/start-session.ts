// The last step of every sign-in (OpenID Connect or a one-time link): end whatever session this
// browser held, start a fresh one (a new id at every sign-in, so no session can be fixed in advance),
// set its cookie, and report the sign-in.
import type { Request, Response } from 'express';
import type { Role } from '../../shared/auth/permissions.js';
import type { AuthCookies } from './auth-cookies.js';
import type { AuthEventSink } from './auth-events.js';
import type { SessionService } from './session-service.js';

export type StartSession = (
  req: Request,
  res: Response,
  input: { userId: string; roles: Role[]; method: 'oidc' | 'bootstrap-link'; provider?: string },
) => Promise<{ sessionId: string; expiresAt: Date }>;

export function createStartSession(deps: { sessions: SessionService; cookies: AuthCookies; events: AuthEventSink }): StartSession {
  return async (req, res, input) => {
    const previous = deps.cookies.read(req, deps.cookies.sessionName);
    if (previous) await deps.sessions.revokeBySecret(previous);
    const session = await deps.sessions.create(input);
    await deps.events.record({
      type: 'sign-in',
      userId: input.userId,
      method: input.method,
      ...(input.provider ? { provider: input.provider } : {}),
      roles: input.roles,
      sessionId: session.id,
    });
    deps.cookies.setSession(res, session.secret, session.expiresAt);
    return { sessionId: session.id, expiresAt: session.expiresAt };
  };
}
