// The check every API route passes before its handler: authenticate, put the Principal and its
// CASL ability on the request, require the CSRF token on cookie-authenticated state changes, and
// refuse with 401 (who are you?) or 403 (naming the action and the subject) otherwise.
import type { Request } from 'express';
import { ForbiddenError } from '@casl/ability';
import type { AdminAbility, Action, Principal, Subject } from '../../shared/auth/permissions.js';
import { ACTIONS, SUBJECTS } from '../../shared/auth/permissions.js';
import { ADMIN_ACTIONS } from '../../policies/policy-document.js';
import { GatehouseError } from '../../shared/errors.js';
import type { ApiRoute, RouteAccess } from '../../shared/http/api-route.js';
import type { Authorize } from '../http/mount-routes.js';
import type { Authenticate, Authenticated } from './authenticate.js';
import { csrfTokenFor, sameSecret } from './secret-values.js';

/** The header a browser sends its session's CSRF token in (GET /api/auth/session gives it). */
export const CSRF_HEADER = 'x-csrf-token';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface AuthorizeDeps {
  authenticate: Authenticate;
  abilityFor: (principal: Principal) => AdminAbility;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** How the caller authenticated; set with the principal. */
    authenticated?: Authenticated;
  }
}

function describeGrant(principal: Principal): string {
  if (principal.kind === 'token') return `this API token's scopes (${(principal.scopes ?? []).join(', ') || 'none'}) do not include it`;
  return principal.roles.length ? `your roles (${principal.roles.join(', ')}) do not allow it` : 'you have no Gatehouse role: ask an admin to map your groups to one';
}

/**
 * Cookie-authenticated state changes must carry the session's CSRF token in a header, which a page
 * on another site cannot read or set. Bearer-token calls are exempt: no browser sends them on its own.
 */
function checkCsrf(req: Request, auth: Authenticated): void {
  if (auth.via !== 'session' || !STATE_CHANGING.has(req.method)) return;
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== 'string' || !sameSecret(sent, csrfTokenFor(auth.sessionSecret))) {
    throw new GatehouseError('forbidden', `missing or wrong ${CSRF_HEADER} header: a signed-in browser sends the csrfToken from GET /api/auth/session with every change`, {
      details: { reason: 'csrf' },
    });
  }
}

export function createAuthorize(deps: AuthorizeDeps): Authorize {
  return async (req, access) => {
    if (access === 'public') return;
    const auth = await deps.authenticate(req);
    if (!auth) throw new GatehouseError('unauthenticated', 'sign in first, or send an API token as "Authorization: Bearer <token>"');
    const ability = deps.abilityFor(auth.principal);
    req.authenticated = auth;
    req.principal = auth.principal;
    req.ability = ability;
    checkCsrf(req, auth);
    if (access === 'authenticated') return;
    const refusal = ForbiddenError.from(ability).unlessCan(access.action as Action, access.subject as Subject);
    if (refusal) {
      throw new GatehouseError('forbidden', `${refusal.message}: ${describeGrant(auth.principal)}`, { details: { action: access.action, subject: access.subject } });
    }
  };
}

/** Every route's access rule (and admin change) must use the vocabulary, so a typo fails the start rather than every call. */
export function assertKnownAccess(routes: ApiRoute[]): void {
  for (const route of routes) {
    if (route.governedAs !== undefined && !(ADMIN_ACTIONS as readonly string[]).includes(route.governedAs)) {
      throw new Error(`${route.method.toUpperCase()} ${route.path}: governedAs ${route.governedAs} is not an admin change a policy can name (${ADMIN_ACTIONS.join(', ')})`);
    }
    const access: RouteAccess = route.access;
    if (access === 'public' || access === 'authenticated') continue;
    if (!(ACTIONS as readonly string[]).includes(access.action) || !(SUBJECTS as readonly string[]).includes(access.subject)) {
      throw new Error(`${route.method.toUpperCase()} ${route.path}: access ${access.action}:${access.subject} is not in shared/auth/permissions.ts`);
    }
  }
}
