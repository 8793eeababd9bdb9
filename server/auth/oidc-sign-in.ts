// People signing in with OpenID Connect: send the browser to its provider (authorization code with
// PKCE, state and nonce), then take the provider's answer, have openid-client validate it (state,
// the ID token's signature, issuer, audience, expiry and nonce), map the person's groups to roles,
// record the person and start a session. A refusal sends the browser to the sign-in page with a
// reason code; the details go to the security log (and the ledger, once it lands).
import type { Request, Response } from 'express';
import * as client from 'openid-client';
import { notFound } from '../../shared/errors.js';
import type { AuthCookies } from './auth-cookies.js';
import type { AuthEventSink, SignInFailureReason } from './auth-events.js';
import { rolesFromClaims } from './claim-role-mapping.js';
import { OIDC_STATE_KEY, type OidcIdentity, type OidcProviders } from './oidc-providers.js';
import { runStrategy } from './passport-outcome.js';
import type { SignInAttemptStore } from './sign-in-attempt-store.js';
import type { StartSession } from './start-session.js';
import type { UserService } from './user-service.js';

/** What the strategy keeps between the redirect and the callback (openid-client's own shape). */
export type OidcAttemptState = Record<string, unknown>;

export interface OidcSignInDeps {
  providers: OidcProviders;
  attempts: SignInAttemptStore<OidcAttemptState>;
  users: UserService;
  startSession: StartSession;
  cookies: AuthCookies;
  events: AuthEventSink;
  identityLinks?: IdentityLinkCheck;
}

/** The part of the identity resolver sign-in uses: whom a person is linked to (see identity-resolver.ts). */
export interface IdentityLinkCheck {
  linkOf(principal: { kind: 'human'; id: string; email?: string; roles: [] }): Promise<{ ambiguous: { id: string; directoryId: string }[] }>;
}

/** Only a path on this server: anything else would make the callback an open redirect. */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\') || /[\r\n]/.test(value)) return '/';
  return value;
}

/** Why openid-client refused a provider's answer, as a reason code the sign-in page can explain. */
export function signInFailureOf(err: unknown): { reason: SignInFailureReason; detail: string } {
  const e = err as { code?: string; message?: string; cause?: { message?: string; cause?: { claim?: string } } };
  const detail = [e.message, e.cause?.message].filter(Boolean).join(': ') || String(err);
  if (err instanceof client.AuthorizationResponseError) return { reason: err.error === 'access_denied' ? 'access_denied' : 'provider_error', detail };
  const claim = e.cause?.cause?.claim;
  if (e.code === 'OAUTH_INVALID_RESPONSE' && /"state"/.test(detail)) return { reason: 'state_mismatch', detail };
  if (e.code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED') {
    if (claim === 'nonce') return { reason: 'nonce_mismatch', detail };
    if (claim === 'aud' || claim === 'azp') return { reason: 'wrong_audience', detail };
    if (claim === 'iss') return { reason: 'wrong_issuer', detail };
    return { reason: 'invalid_id_token', detail };
  }
  if (e.code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') return { reason: claim === 'exp' ? 'id_token_expired' : 'invalid_id_token', detail };
  return { reason: 'provider_error', detail };
}

export function createOidcSignIn(deps: OidcSignInDeps) {
  const refuse = async (res: Response, provider: string, reason: SignInFailureReason, detail: string, userId?: string) => {
    await deps.events.record({ type: 'sign-in-failed', method: 'oidc', provider, reason, detail, ...(userId ? { userId } : {}) });
    res.redirect(303, `/sign-in?error=${reason}`);
  };

  return {
    async start(req: Request, res: Response, providerId: string, returnTo: string): Promise<void> {
      if (!deps.providers.get(providerId)) throw notFound('OpenID Provider', providerId);
      const strategy = await deps.providers.strategy(providerId);
      const session: Record<string, unknown> = {};
      Object.assign(req, { session });
      const outcome = await runStrategy(strategy, req);
      if (outcome.kind !== 'redirect') throw outcome.kind === 'error' ? outcome.error : new Error(`the sign-in strategy answered ${outcome.kind} instead of a redirect`);
      const state = session[OIDC_STATE_KEY] as OidcAttemptState | undefined;
      if (!state) throw new Error('the sign-in strategy kept no state for the callback');
      const secret = await deps.attempts.save({ provider: providerId, returnTo, state });
      deps.cookies.setAttempt(res, secret, deps.attempts.ttlMs);
      res.redirect(303, outcome.url);
    },

    async callback(req: Request, res: Response, providerId: string): Promise<void> {
      const issuer = deps.providers.get(providerId);
      if (!issuer) throw notFound('OpenID Provider', providerId);
      const secret = deps.cookies.read(req, deps.cookies.attemptName);
      deps.cookies.clearAttempt(res);
      const attempt = secret ? await deps.attempts.take(secret) : undefined;
      if (!attempt || attempt.provider !== providerId) {
        return refuse(res, providerId, 'attempt_missing', 'no sign-in with this provider was started in this browser, or it expired or was already used');
      }
      const strategy = await deps.providers.strategy(providerId);
      Object.assign(req, { session: { [OIDC_STATE_KEY]: attempt.state } });
      const outcome = await runStrategy(strategy, req);
      if (outcome.kind === 'error') {
        const failure = signInFailureOf(outcome.error);
        return refuse(res, providerId, failure.reason, failure.detail);
      }
      if (outcome.kind !== 'success') {
        const info = outcome.kind === 'fail' ? (outcome.info as { message?: string } | undefined) : undefined;
        return refuse(res, providerId, 'access_denied', info?.message ?? `the provider's answer ended in ${outcome.kind}`);
      }

      const { claims, userinfo } = outcome.user as OidcIdentity;
      const all = { ...userinfo, ...claims };
      const roles = rolesFromClaims(all, issuer);
      const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
      // The e-mail links a person to their directory identities (requests for self, the requester and
      // subject checks): only an address the provider asserts it verified may do that.
      const verified = all.email_verified === true || all.email_verified === 'true';
      const user = await deps.users.recordSignIn({
        issuer: claims.iss,
        subject: claims.sub,
        email: verified ? str(all.email) : undefined,
        displayName: str(all.name) ?? str(all.preferred_username) ?? str(all.email),
        roles,
      });
      if (user.disabledAt) return refuse(res, providerId, 'account_disabled', `user ${user.id} is disabled`, user.id);
      // Two active identities claiming this person: they are linked to neither (issue 12, item 1), on record.
      if (deps.identityLinks && user.email) {
        const { ambiguous } = await deps.identityLinks.linkOf({ kind: 'human', id: user.id, email: user.email, roles: [] });
        if (ambiguous.length) {
          await deps.events.record({ type: 'identity-link-refused', userId: user.id, provider: providerId, identities: ambiguous.map((i) => ({ id: i.id, directoryId: i.directoryId })) });
        }
      }
      await deps.startSession(req, res, { userId: user.id, roles, method: 'oidc', provider: providerId });
      res.redirect(303, attempt.returnTo);
    },
  };
}

export type OidcSignIn = ReturnType<typeof createOidcSignIn>;
