// Sign-in and authorization for the admin plane, assembled from the configuration and the
// database: the authorize step every route passes, sign-in's own routes, the rate limiters, the
// background housekeeping, and the first-start one-time admin link.
import type { Request, RequestHandler } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { GatehouseError } from '../../shared/errors.js';
import type { ApiRoute, RouteRateLimit } from '../../shared/http/api-route.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { BackgroundService } from '../modules.js';
import type { Authorize } from '../http/mount-routes.js';
import { createApiTokenService, type ApiTokenService } from './api-token-service.js';
import { apiTokenRoutes } from './api-token-routes.js';
import { createAuthCookies } from './auth-cookies.js';
import { logAuthEvents, type AuthEventSink } from './auth-events.js';
import { authHousekeeping } from './auth-housekeeping.js';
import { authRoutes } from './auth-routes.js';
import { createAuthenticate } from './authenticate.js';
import { createAuthorize } from './authorize.js';
import { bootstrapLinkUrl, createBootstrapLinkService, type BootstrapLinkService } from './bootstrap-link-service.js';
import { createOidcProviders } from './oidc-providers.js';
import { createOidcSignIn, type OidcAttemptState } from './oidc-sign-in.js';
import { createRateLimiters } from './rate-limits.js';
import { createSessionService, type SessionService } from './session-service.js';
import { createSignInAttemptStore } from './sign-in-attempt-store.js';
import { createStartSession } from './start-session.js';
import { createUserService, type UserService } from './user-service.js';
import { userRoutes } from './user-routes.js';

export type AuthConfig = Pick<
  Config,
  | 'OIDC_ISSUERS'
  | 'AUTH_SESSION_MAX_AGE_HOURS'
  | 'AUTH_SESSION_IDLE_MINUTES'
  | 'AUTH_BOOTSTRAP_LINK_MINUTES'
  | 'AUTH_API_TOKEN_MAX_DAYS'
  | 'AUTH_SIGN_IN_RATE_LIMIT'
  | 'AUTH_TOKEN_RATE_LIMIT'
  | 'FLOW_WEBHOOK_RATE_LIMIT'
>;

export type { IdentityLinkCheck } from './oidc-sign-in.js';
import type { IdentityLinkCheck } from './oidc-sign-in.js';

export interface AuthDeps {
  orm: MikroORM;
  config: AuthConfig;
  log: Logger;
  /** The address people reach Gatehouse at; read when needed, since the port may be known only after listening. */
  publicUrl: () => string;
  /** Where sign-in events go. Default: the security log. The ledger plugs in here once it lands. */
  events?: AuthEventSink;
  /** Whom a person who signs in is linked to; an ambiguous link is recorded at sign-in. */
  identityLinks?: IdentityLinkCheck;
}

export interface Auth {
  authorize: Authorize;
  /** Whether a request carries a valid session or API token; for public routes that tell signed-in callers more. */
  isSignedIn(req: Request): Promise<boolean>;
  /** The session cookie's name (__Host- prefixed behind TLS). */
  sessionCookie: string;
  routes: ApiRoute[];
  rateLimits: Record<RouteRateLimit, RequestHandler>;
  services: BackgroundService[];
  /** Records a refusal the error renderer is about to send (403). */
  onRefused(req: Request, error: GatehouseError): Promise<void>;
  /** With no OpenID Provider configured, issues a one-time admin sign-in link and prints it. */
  announceOneTimeLink(print: (line: string) => void): Promise<void>;
  users: UserService;
  sessions: SessionService;
  apiTokens: ApiTokenService;
  bootstrapLinks: BootstrapLinkService;
}

const SIGN_IN_ATTEMPT_TTL_MS = 10 * 60_000;

export function createAuth(deps: AuthDeps): Auth {
  const { orm, config } = deps;
  const events = deps.events ?? logAuthEvents(deps.log);
  // Secure cookies exactly when people reach Gatehouse over TLS.
  const cookies = createAuthCookies({ secure: deps.publicUrl().startsWith('https://') });
  const users = createUserService({ orm, events });
  const sessions = createSessionService({ orm, maxAgeMs: config.AUTH_SESSION_MAX_AGE_HOURS * 3_600_000, idleMs: config.AUTH_SESSION_IDLE_MINUTES * 60_000 });
  const apiTokens = createApiTokenService({ orm, events, maxDays: config.AUTH_API_TOKEN_MAX_DAYS });
  const bootstrapLinks = createBootstrapLinkService({ orm, ttlMs: config.AUTH_BOOTSTRAP_LINK_MINUTES * 60_000 });
  const providers = createOidcProviders({ issuers: config.OIDC_ISSUERS, callbackUrl: (id) => `${deps.publicUrl()}/api/auth/oidc/${id}/callback` });
  const startSession = createStartSession({ sessions, cookies, events });
  const oidcSignIn = createOidcSignIn({
    providers,
    attempts: createSignInAttemptStore<OidcAttemptState>({ orm, ttlMs: SIGN_IN_ATTEMPT_TTL_MS }),
    users,
    startSession,
    cookies,
    events,
    ...(deps.identityLinks ? { identityLinks: deps.identityLinks } : {}),
  });

  const authenticate = createAuthenticate({ sessions, apiTokens, cookies });
  return {
    authorize: createAuthorize({ authenticate, abilityFor: adminAbilityFor }),
    async isSignedIn(req) {
      return (await authenticate(req).catch(() => undefined)) !== undefined;
    },
    sessionCookie: cookies.sessionName,
    routes: [
      ...authRoutes({ providers, oidcSignIn, bootstrapLinks, users, sessions, startSession, cookies, events, publicUrl: deps.publicUrl }),
      ...apiTokenRoutes({ apiTokens }),
      ...userRoutes({ users }),
    ],
    rateLimits: createRateLimiters({ orm, signInPerWindow: config.AUTH_SIGN_IN_RATE_LIMIT, tokenPerWindow: config.AUTH_TOKEN_RATE_LIMIT, webhookPerWindow: config.FLOW_WEBHOOK_RATE_LIMIT }),
    services: [authHousekeeping({ orm, log: deps.log })],

    async onRefused(req, error) {
      const principal = req.principal;
      const details = error.details ?? {};
      await events.record({
        type: 'permission-refused',
        actor: principal ? { kind: principal.kind, id: principal.id } : { kind: 'system', id: 'anonymous' },
        action: typeof details.action === 'string' ? details.action : details.reason === 'csrf' ? 'csrf-check' : 'unknown',
        subject: typeof details.subject === 'string' ? details.subject : 'unknown',
        method: req.method,
        path: req.originalUrl.split('?')[0] ?? req.path,
      });
    },

    async announceOneTimeLink(print) {
      if (config.OIDC_ISSUERS.length) return;
      // Only the very first start prints a link (one replica claims it); restarts say how to get one.
      const claimed = await orm.em.fork().getConnection().execute<{ started_at: Date }[]>('INSERT INTO auth_first_start DEFAULT VALUES ON CONFLICT DO NOTHING RETURNING started_at');
      if (!claimed.length) {
        print(`\nNo OpenID Provider is configured (OIDC_ISSUERS). For a one-time admin sign-in link, run: npx gatehouse sign-in-link\n\n`);
        return;
      }
      const link = await bootstrapLinks.issue('server-start');
      const minutes = config.AUTH_BOOTSTRAP_LINK_MINUTES;
      print(
        `\nNo OpenID Provider is configured (OIDC_ISSUERS). Sign in as the first admin with this one-time link;\n` +
          `it works once and expires in ${minutes} minute${minutes === 1 ? '' : 's'} (at ${link.expiresAt.toISOString()}):\n\n` +
          `  ${bootstrapLinkUrl(deps.publicUrl(), link.secret)}\n\n`,
      );
      deps.log.warn({ expiresAt: link.expiresAt }, 'no OpenID Provider is configured: a one-time admin sign-in link was printed to the console');
    },
    users,
    sessions,
    apiTokens,
    bootstrapLinks,
  };
}
