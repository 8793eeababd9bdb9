// The configured OpenID Providers: each one's metadata is discovered on first use (and again after a
// failure, so a provider that was down at start is picked up once it is back), and each gets an
// openid-client passport strategy doing the authorization code flow with PKCE, state and nonce.
import type { Request } from 'express';
import * as client from 'openid-client';
import { Strategy, type AuthenticateOptions, type VerifyFunctionWithRequest } from 'openid-client/passport';
import { dependencyUnavailable } from '../../shared/errors.js';
import type { OidcIssuerConfig } from './oidc-issuer-config.js';

/** Where a strategy keeps its in-flight state on `req.session`; sign-in moves it to PostgreSQL and back. */
export const OIDC_STATE_KEY = 'oidc';

/** What a successful callback yields: the validated ID token's claims, with UserInfo's where configured. */
export interface OidcIdentity {
  claims: client.IDToken;
  userinfo: Record<string, unknown>;
}

/**
 * openid-client's strategy sends state and nonce only when the provider lacks PKCE; Gatehouse sends
 * all three always, so a provider that ignores PKCE still binds its response to this browser.
 */
class GatehouseOidcStrategy extends Strategy {
  override authorizationRequestParams<T extends AuthenticateOptions>(req: Request, options: T): URLSearchParams {
    const params = new URLSearchParams(super.authorizationRequestParams(req, options));
    params.set('state', client.randomState());
    params.set('nonce', client.randomNonce());
    return params;
  }
}

export interface OidcProviders {
  list(): { id: string; name: string }[];
  get(id: string): OidcIssuerConfig | undefined;
  configuration(id: string): Promise<client.Configuration>;
  strategy(id: string): Promise<Strategy>;
}

export function createOidcProviders(deps: { issuers: OidcIssuerConfig[]; callbackUrl: (id: string) => string; discoveryTimeoutSeconds?: number }): OidcProviders {
  const byId = new Map(deps.issuers.map((issuer) => [issuer.id, issuer]));
  const configurations = new Map<string, Promise<client.Configuration>>();
  const strategies = new Map<string, Promise<Strategy>>();

  const clientAuth = (issuer: OidcIssuerConfig): client.ClientAuth => {
    switch (issuer.clientAuth) {
      case 'client_secret_post':
        return client.ClientSecretPost(issuer.clientSecret);
      case 'none':
        return client.None();
      default:
        return client.ClientSecretBasic(issuer.clientSecret);
    }
  };

  const discover = async (issuer: OidcIssuerConfig): Promise<client.Configuration> => {
    try {
      return await client.discovery(new URL(issuer.issuer), issuer.clientId, undefined, clientAuth(issuer), {
        timeout: deps.discoveryTimeoutSeconds ?? 10,
        // Config refuses http:// issuers in production; elsewhere a local provider may be plain HTTP.
        ...(issuer.issuer.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : {}),
      });
    } catch (err) {
      throw dependencyUnavailable(`OpenID Provider ${issuer.id}`, `discovery at ${issuer.issuer} failed: ${(err as Error).message}`, err);
    }
  };

  const providers: OidcProviders = {
    list: () => deps.issuers.map((i) => ({ id: i.id, name: i.name ?? i.id })),
    get: (id) => byId.get(id),

    configuration(id) {
      const issuer = byId.get(id);
      if (!issuer) return Promise.reject(new Error(`unknown OpenID Provider ${id}`));
      let pending = configurations.get(id);
      if (!pending) {
        pending = discover(issuer);
        configurations.set(id, pending);
        pending.catch(() => configurations.delete(id));
      }
      return pending;
    },

    strategy(id) {
      let pending = strategies.get(id);
      if (!pending) {
        const issuer = byId.get(id)!;
        pending = providers.configuration(id).then((config) => {
          const verify: VerifyFunctionWithRequest = (_req, tokens, verified) => {
            void (async () => {
              const claims = tokens.claims();
              if (!claims) throw new Error('the provider returned no ID token');
              const userinfo = issuer.userinfo ? ((await client.fetchUserInfo(config, tokens.access_token, claims.sub)) as Record<string, unknown>) : {};
              return { claims, userinfo } satisfies OidcIdentity;
            })().then(
              (identity) => verified(null, identity),
              (err: unknown) => verified(err),
            );
          };
          return new GatehouseOidcStrategy(
            { config, name: `oidc-${id}`, sessionKey: OIDC_STATE_KEY, callbackURL: deps.callbackUrl(id), scope: issuer.scopes, passReqToCallback: true },
            verify,
          );
        });
        strategies.set(id, pending);
        pending.catch(() => strategies.delete(id));
      }
      return pending;
    },
  };
  return providers;
}
