// A real OpenID Provider (npm oidc-provider) in the test process: discovery, the authorization code
// flow with PKCE, signed ID tokens, UserInfo and RP-initiated logout, all as the library does them.
// Its login and consent screens are replaced by a handler that signs in whichever account the test
// chose, so a test drives the whole flow over HTTP. Two faults a conforming provider never commits
// can be switched on, each named as the stand-in it is: a clock running behind (ID tokens that are
// already expired) and an ID token swapped for one issued to another client.
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { freePort } from '../../server/embedded/process.js';

export interface TestAccount {
  sub: string;
  email?: string;
  /** Whether the provider asserts the e-mail as verified (default true). */
  emailVerified?: boolean;
  name?: string;
  groups?: string[];
  roles?: string[];
}

export interface TestOidcProvider {
  issuer: string;
  port: number;
  provider: Provider;
  /** The account the next login interaction signs in. */
  signInAs(sub: string): void;
  /** Stand-in fault: the provider's clock runs this many seconds behind while it issues tokens. */
  setClockBehind(seconds: number): void;
  /** Stand-in fault: the token endpoint's ID token is replaced by what this returns. */
  substituteIdToken(fn: ((idToken: string) => Promise<string>) | undefined): void;
  stop(): Promise<void>;
}

export interface TestOidcProviderOptions {
  port?: number;
  clients: ClientMetadata[];
  accounts: TestAccount[];
  /** false: scope claims go into the ID token; true (the library's default): only into UserInfo. */
  conformIdTokenClaims?: boolean;
}

export async function startTestOidcProvider(options: TestOidcProviderOptions): Promise<TestOidcProvider> {
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map(options.accounts.map((a) => [a.sub, a]));
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  let nextAccount: string | undefined;
  let clockBehindSeconds = 0;
  let substitute: ((idToken: string) => Promise<string>) | undefined;

  const configuration: Configuration = {
    clients: options.clients,
    jwks: { keys: [{ ...signingKey, kid: 'test-signing-key', use: 'sig', alg: 'RS256' } as never] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'], roles: ['roles'] },
    conformIdTokenClaims: options.conformIdTokenClaims ?? false,
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx: KoaContextWithOIDC, id: string) => {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          ...(account.email ? { email: account.email, email_verified: account.emailVerified ?? true } : {}),
          ...(account.name ? { name: account.name } : {}),
          ...(account.groups ? { groups: account.groups } : {}),
          ...(account.roles ? { roles: account.roles } : {}),
        }),
      };
    },
  };
  const provider = new Provider(issuer, configuration);

  provider.use(async (ctx, next) => {
    if (ctx.path !== '/token') return next();
    if (clockBehindSeconds) {
      const realNow = Date.now;
      Date.now = () => realNow() - clockBehindSeconds * 1000;
      try {
        await next();
      } finally {
        Date.now = realNow;
      }
    } else {
      await next();
    }
    const body = ctx.body as { id_token?: string } | undefined;
    if (substitute && body?.id_token) ctx.body = { ...body, id_token: await substitute(body.id_token) };
  });

  const oidc = provider.callback();
  const server = http.createServer((req, res) => {
    const match = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
    if (!match) return oidc(req, res);
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        if (!nextAccount) throw new Error('test OpenID Provider: call signInAs() before a sign-in');
        await provider.interactionFinished(req, res, { login: { accountId: nextAccount } }, { mergeWithLastSubmission: false });
        return;
      }
      const promptDetails = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      const grant = details.grantId
        ? (await provider.Grant.find(details.grantId))!
        : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
      if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
      if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(promptDetails.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    })().catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    issuer,
    port,
    provider,
    signInAs(sub) {
      if (!accounts.has(sub)) throw new Error(`test OpenID Provider: no account ${sub}`);
      nextAccount = sub;
    },
    setClockBehind(seconds) {
      clockBehindSeconds = seconds;
    },
    substituteIdToken(fn) {
      substitute = fn;
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
