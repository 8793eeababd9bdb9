// Sign-in's API: which providers there are, signing in (OpenID Connect, or a one-time admin link
// before any provider exists), who is signed in, and signing out.
import { z } from 'zod';
import * as client from 'openid-client';
import { ROLES } from '../../shared/auth/permissions.js';
import { GatehouseError, conflict } from '../../shared/errors.js';
import { defineRoute, type ApiRoute } from '../../shared/http/api-route.js';
import { principalOf } from '../../shared/http/request-auth.js';
import type { AuthEventSink } from './auth-events.js';
import type { AuthCookies } from './auth-cookies.js';
import type { BootstrapLinkService } from './bootstrap-link-service.js';
import type { OidcProviders } from './oidc-providers.js';
import { safeReturnTo, type OidcSignIn } from './oidc-sign-in.js';
import { csrfTokenFor } from './secret-values.js';
import type { SessionService } from './session-service.js';
import type { StartSession } from './start-session.js';
import { BOOTSTRAP_ISSUER } from './user-types.js';
import type { UserService } from './user-service.js';

export interface AuthRouteDeps {
  providers: OidcProviders;
  oidcSignIn: OidcSignIn;
  bootstrapLinks: BootstrapLinkService;
  users: UserService;
  sessions: SessionService;
  startSession: StartSession;
  cookies: AuthCookies;
  events: AuthEventSink;
  publicUrl: () => string;
}

const principalSchema = z.object({
  kind: z.enum(['human', 'token', 'system']),
  id: z.string(),
  displayName: z.string().optional(),
  email: z.string().optional(),
  roles: z.array(z.enum(ROLES)),
  scopes: z.array(z.string()).optional(),
});

export const sessionInfoSchema = z.object({
  principal: principalSchema,
  via: z.enum(['session', 'api-token']),
  /** For browsers: send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE. */
  csrfToken: z.string().optional(),
  provider: z.string().nullable().optional(),
  expiresAt: z.iso.datetime().optional(),
  idleExpiresAt: z.iso.datetime().optional(),
});

const providerParams = z.object({ provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be a provider id from GET /api/auth/providers') });

export function authRoutes(deps: AuthRouteDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/auth/providers',
      summary: 'The OpenID Providers people can sign in with; none means a one-time admin link is in use',
      tags: ['auth'],
      access: 'public',
      responses: {
        200: {
          description: 'the providers',
          schema: z.object({ providers: z.array(z.object({ id: z.string(), name: z.string() })), oneTimeLink: z.boolean() }),
        },
      },
      handler: (_req, res) => {
        const providers = deps.providers.list();
        res.json({ providers, oneTimeLink: providers.length === 0 });
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/auth/oidc/:provider/sign-in',
      summary: "Starts signing in: redirects the browser to the provider's authorization endpoint",
      tags: ['auth'],
      access: 'public',
      rateLimit: 'sign-in',
      request: { params: providerParams, query: z.object({ returnTo: z.string().max(2000).optional() }) },
      responses: { 303: { description: 'to the provider' }, 404: { description: 'no such provider' }, 503: { description: 'the provider cannot be reached' } },
      handler: async (req, res) => {
        const { provider } = req.params as z.infer<typeof providerParams>;
        await deps.oidcSignIn.start(req, res, provider, safeReturnTo((req.query as { returnTo?: string }).returnTo));
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/auth/oidc/:provider/callback',
      summary: "The provider's redirect back: validates its answer and starts a session",
      tags: ['auth'],
      access: 'public',
      rateLimit: 'sign-in',
      request: { params: providerParams },
      responses: { 303: { description: 'signed in (to returnTo), or refused (to /sign-in?error=<reason>)' } },
      handler: async (req, res) => {
        const { provider } = req.params as z.infer<typeof providerParams>;
        await deps.oidcSignIn.callback(req, res, provider);
      },
    }),

    defineRoute({
      method: 'post',
      path: '/api/auth/one-time-link',
      summary: 'Signs in the first admin with a one-time link printed at start (only while no provider is configured)',
      tags: ['auth'],
      access: 'public',
      rateLimit: 'sign-in',
      request: { body: z.object({ token: z.string().min(1, 'must be the token from the link').max(200) }).strict() },
      responses: {
        200: { description: 'signed in', schema: z.object({ principal: principalSchema, expiresAt: z.iso.datetime() }) },
        401: { description: 'the link was used, expired, or never issued' },
        409: { description: 'a provider is configured: sign in with it' },
      },
      handler: async (req, res) => {
        if (deps.providers.list().length) throw conflict('one-time links are off once an OpenID Provider is configured: sign in with your provider');
        const { token } = req.body as { token: string };
        if (!(await deps.bootstrapLinks.redeem(token))) {
          await deps.events.record({ type: 'sign-in-failed', method: 'bootstrap-link', reason: 'link_invalid', detail: 'the link was used, expired, or never issued' });
          throw new GatehouseError('unauthenticated', 'this sign-in link is not valid: it was used, it expired, or it was never issued (run `gatehouse sign-in-link` for a new one)');
        }
        const user = await deps.users.recordSignIn({ issuer: BOOTSTRAP_ISSUER, subject: 'admin', displayName: 'First admin (one-time link)', roles: ['admin'] });
        if (user.disabledAt) {
          await deps.events.record({ type: 'sign-in-failed', method: 'bootstrap-link', reason: 'account_disabled', detail: `user ${user.id} is disabled`, userId: user.id });
          throw new GatehouseError('unauthenticated', 'the first-admin account is disabled');
        }
        const session = await deps.startSession(req, res, { userId: user.id, roles: ['admin'], method: 'bootstrap-link' });
        res.json({ principal: { kind: 'human', id: user.id, displayName: user.displayName ?? undefined, roles: ['admin'] }, expiresAt: session.expiresAt.toISOString() });
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/auth/session',
      summary: 'Who is calling: the signed-in person (with the CSRF token for changes) or the API token',
      tags: ['auth'],
      access: 'authenticated',
      responses: { 200: { description: 'the caller', schema: sessionInfoSchema }, 401: { description: 'not signed in' } },
      handler: (req, res) => {
        const principal = principalOf(req);
        const auth = req.authenticated;
        if (auth?.via !== 'session') {
          res.json({ principal, via: 'api-token' });
          return;
        }
        res.setHeader('Cache-Control', 'no-store');
        res.json({
          principal,
          via: 'session',
          csrfToken: csrfTokenFor(auth.sessionSecret),
          provider: auth.session.provider,
          expiresAt: auth.session.expiresAt.toISOString(),
          idleExpiresAt: auth.session.idleExpiresAt.toISOString(),
        });
      },
    }),

    defineRoute({
      method: 'delete',
      path: '/api/auth/session',
      summary: "Signs out: ends this session; answers the provider's sign-out URL when it has one",
      tags: ['auth'],
      access: 'authenticated',
      responses: {
        200: { description: 'signed out', schema: z.object({ signedOut: z.literal(true), providerSignOutUrl: z.string().optional() }) },
        400: { description: 'an API token cannot sign out; revoke it instead' },
      },
      handler: async (req, res) => {
        const auth = req.authenticated;
        if (auth?.via !== 'session') throw new GatehouseError('invalid_request', 'an API token does not sign out: revoke it with DELETE /api/tokens/:id');
        await deps.sessions.revoke(auth.session.id);
        deps.cookies.clearSession(res);
        await deps.events.record({ type: 'sign-out', userId: auth.session.userId, sessionId: auth.session.id });
        let providerSignOutUrl: string | undefined;
        const provider = auth.session.provider;
        if (provider && deps.providers.get(provider)) {
          // Best effort: Gatehouse's session is already over whether or not the provider can be reached.
          const config = await deps.providers.configuration(provider).catch(() => undefined);
          if (config?.serverMetadata().end_session_endpoint) {
            providerSignOutUrl = client.buildEndSessionUrl(config, { client_id: config.clientMetadata().client_id, post_logout_redirect_uri: `${deps.publicUrl()}/sign-in` }).href;
          }
        }
        res.json({ signedOut: true, ...(providerSignOutUrl ? { providerSignOutUrl } : {}) });
      },
    }),
  ];
}
