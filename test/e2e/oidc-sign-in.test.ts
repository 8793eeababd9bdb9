// People signing in with OpenID Connect, end to end, against two real OpenID Providers running in
// this process: the full authorization code flow with PKCE, state and nonce; group and role claims
// mapped to Gatehouse roles (from the ID token, and from UserInfo); and every way a provider's
// answer can be wrong (tampered state or nonce, an expired ID token, an ID token for another
// client) refused without a session.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { freePort } from '../../server/embedded/process.js';
import { TEST_ADMIN, connectTestTemporal, createTestDatabase, createTestVault, ledgerFor, openOrm, testConfig, withPg, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { createDirectoryService } from '../../scim/directory-service.js';
import { startTestOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js';
import { TestBrowser } from '../helpers/test-browser.js';
import { capturingEvents, oidcSignIn, whoAmI } from '../helpers/sign-in.js';

const corpSecret = randomBytes(24).toString('hex');
const partnerSecret = randomBytes(24).toString('hex');
const otherAppSecret = randomBytes(24).toString('hex');

describe('OpenID Connect sign-in against real providers', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;
  let corp: TestOidcProvider;
  let partner: TestOidcProvider;
  let url: string;
  const events = capturingEvents();
  const announced: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    url = `http://localhost:${port}`;
    [corp, partner] = await Promise.all([
      startTestOidcProvider({
        clients: [
          {
            client_id: 'gatehouse',
            client_secret: corpSecret,
            redirect_uris: [`${url}/api/auth/oidc/corp/callback`],
            post_logout_redirect_uris: [`${url}/sign-in`],
          },
          { client_id: 'other-app', client_secret: otherAppSecret, redirect_uris: ['http://127.0.0.1:9/cb'] },
        ],
        accounts: [
          { sub: 'alice', email: 'alice@corp.example', name: 'Alice Admin', groups: ['gatehouse-admins', 'auditors', 'engineering'] },
          { sub: 'bob', email: 'bob@corp.example', name: 'Bob Approver', groups: ['security-team'] },
          { sub: 'carol', email: 'carol@corp.example', name: 'Carol', groups: ['engineering'] },
          { sub: 'erin', email: 'erin@corp.example', name: 'Erin', groups: ['service-owners'] },
          // Claims an executive's address her provider never verified.
          { sub: 'mallory', email: 'cfo@corp.example', emailVerified: false, name: 'Mallory', groups: ['engineering'] },
        ],
      }),
      // This one keeps roles out of the ID token (the library's default), so Gatehouse reads UserInfo.
      startTestOidcProvider({
        conformIdTokenClaims: true,
        clients: [
          {
            client_id: 'gatehouse-partner',
            client_secret: partnerSecret,
            token_endpoint_auth_method: 'client_secret_post',
            redirect_uris: [`${url}/api/auth/oidc/partner/callback`],
          },
        ],
        accounts: [{ sub: 'dave', email: 'dave@partner.example', name: 'Dave', roles: ['nhi-owners', 'unrelated'] }],
      }),
    ]);
    let vault;
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    const config = testConfig(
      { db, vault, temporal },
      {
        PORT: String(port),
        PUBLIC_URL: url,
        // Rate limits have their own test; this suite signs in more often than the default allows.
        AUTH_SIGN_IN_RATE_LIMIT: '1000',
        OIDC_ISSUERS: JSON.stringify([
          {
            id: 'corp',
            name: 'Corp SSO',
            issuer: corp.issuer,
            clientId: 'gatehouse',
            clientSecret: corpSecret,
            scopes: 'openid email profile groups',
            rolesClaim: 'groups',
            roles: { admin: ['gatehouse-admins'], 'security-approver': ['security-team'], auditor: ['auditors'], 'nhi-owner': ['service-owners'] },
          },
          {
            id: 'partner',
            issuer: partner.issuer,
            clientId: 'gatehouse-partner',
            clientSecret: partnerSecret,
            clientAuth: 'client_secret_post',
            scopes: 'openid email profile roles',
            rolesClaim: 'roles',
            roles: { 'nhi-owner': ['nhi-owners'] },
            userinfo: true,
          },
          // Nothing listens here: a provider that is down.
          { id: 'down', issuer: 'http://127.0.0.1:1', clientId: 'gatehouse', clientSecret: 'unused' },
        ]),
      },
    );
    gatehouse = await startGatehouse(config, createLogger({ level: 'silent' }), { authEvents: events, announce: (text) => announced.push(text) });
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await Promise.all([corp?.stop(), partner?.stop()]);
    await temporal?.close();
    await db?.drop();
  });

  it('lists the providers, and offers no one-time link', async () => {
    const res = await fetch(`${url}/api/auth/providers`);
    expect(await res.json()).toEqual({ providers: [{ id: 'corp', name: 'Corp SSO' }, { id: 'partner', name: 'partner' }, { id: 'down', name: 'down' }], oneTimeLink: false });
    expect(announced).toEqual([]);
    const link = await fetch(`${url}/api/auth/one-time-link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'x'.repeat(43) }) });
    expect(link.status).toBe(409);
    expect(((await link.json()) as { error: { message: string } }).error.message).toBe('one-time links are off once an OpenID Provider is configured: sign in with your provider');
  });

  it('signs a person in through the full code flow with PKCE, state and nonce, and maps their groups to roles', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    const result = await oidcSignIn(browser, url, 'corp', { returnTo: '/runs?page=2' });

    const request = result.authorizeUrl;
    expect(request.origin).toBe(corp.issuer);
    expect(request.searchParams.get('response_type')).toBe('code');
    expect(request.searchParams.get('client_id')).toBe('gatehouse');
    expect(request.searchParams.get('redirect_uri')).toBe(`${url}/api/auth/oidc/corp/callback`);
    expect(request.searchParams.get('scope')).toBe('openid email profile groups');
    expect(request.searchParams.get('code_challenge_method')).toBe('S256');
    expect(request.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(request.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(request.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(result.callbackUrl.searchParams.get('code')).toBeTruthy();

    expect(result).toMatchObject({ status: 303, location: `${url}/runs?page=2`, sessionCookieSet: true });
    const me = await whoAmI(browser, url);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      via: 'session',
      provider: 'corp',
      principal: { kind: 'human', displayName: 'Alice Admin', email: 'alice@corp.example', roles: ['admin', 'auditor'] },
      csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });

    // The person is recorded once, by issuer and subject; the session cookie is stored only as its hash.
    const cookie = browser.cookie(url, 'gatehouse.sid')!;
    const rows = await withPg(db.superuserUrl, async (c) => ({
      users: (await c.query('SELECT id, issuer, subject, email, display_name, roles FROM gatehouse_user WHERE subject = $1', ['alice'])).rows,
      sessions: (await c.query('SELECT token_hash, user_id, roles, method, provider FROM auth_session')).rows,
      attempts: (await c.query('SELECT count(*)::int AS n FROM auth_sign_in_attempt')).rows[0].n as number,
      everything: (await c.query(`SELECT string_agg(t::text, ' ') AS text FROM (SELECT * FROM auth_session) t`)).rows[0].text as string,
    }));
    expect(rows.users).toEqual([{ id: me.body.principal.id, issuer: corp.issuer, subject: 'alice', email: 'alice@corp.example', display_name: 'Alice Admin', roles: ['admin', 'auditor'] }]);
    expect(rows.sessions).toContainEqual({
      token_hash: createHash('sha256').update(cookie).digest('hex'),
      user_id: me.body.principal.id,
      roles: ['admin', 'auditor'],
      method: 'oidc',
      provider: 'corp',
    });
    expect(rows.everything).not.toContain(cookie);
    expect(rows.attempts).toBe(0);

    expect(events.ofType('sign-in')).toContainEqual(expect.objectContaining({ userId: me.body.principal.id, method: 'oidc', provider: 'corp', roles: ['admin', 'auditor'] }));
  });

  it('sets the session cookie HttpOnly and SameSite=Strict, and the sign-in cookie only for the round trip', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    const start = await browser.fetch(`${url}/api/auth/oidc/corp/sign-in`);
    const attemptCookie = start.hop.setCookies.find((c) => c.name === 'gatehouse.signin')!;
    expect(attemptCookie).toMatchObject({ httpOnly: true, sameSite: 'lax', path: '/', maxAge: 600 });
    const flow = await browser.followUntil(start.hop.location!, (next) => next.startsWith(`${url}/api/auth/oidc/corp/callback`));
    const done = await browser.fetch(flow.stoppedAt!);
    const session = done.hop.setCookies.find((c) => c.name === 'gatehouse.sid')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'strict', path: '/' });
    expect(session.secure).toBeFalsy(); // http:// here; Secure and __Host- behind TLS (unit-tested)
    expect(done.hop.setCookies.find((c) => c.name === 'gatehouse.signin')?.value).toBe('');
  });

  it('maps a group claim to the approver role, and a person with no mapped group to no role', async () => {
    const bob = new TestBrowser();
    corp.signInAs('bob');
    expect((await oidcSignIn(bob, url, 'corp')).status).toBe(303);
    expect((await whoAmI(bob, url)).body.principal.roles).toEqual(['security-approver']);

    const carol = new TestBrowser();
    corp.signInAs('carol');
    const signedIn = await oidcSignIn(carol, url, 'corp');
    expect(signedIn).toMatchObject({ status: 303, location: `${url}/`, sessionCookieSet: true });
    expect((await whoAmI(carol, url)).body.principal.roles).toEqual([]);
    const refused = await carol.fetch(`${url}/api/users`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
      'Cannot execute "read" on "User": you have no Gatehouse role: ask an admin to map your groups to one',
    );
  });

  it('takes an e-mail only where the provider asserts it verified: an unverified one links the person to nobody', async () => {
    const mallory = new TestBrowser();
    corp.signInAs('mallory');
    expect((await oidcSignIn(mallory, url, 'corp')).status).toBe(303);
    const me = await whoAmI(mallory, url);
    expect(me.body.principal).toMatchObject({ kind: 'human', displayName: 'Mallory' });
    expect(me.body.principal).not.toHaveProperty('email');
    const stored = await withPg(db.superuserUrl, async (c) => (await c.query('SELECT email FROM gatehouse_user WHERE subject = $1', ['mallory'])).rows);
    expect(stored).toEqual([{ email: null }]);
  });

  it('records an ambiguous link at sign-in: two active identities carrying the person’s e-mail link neither (issue 12, item 1)', async () => {
    const orm = await openOrm(db.appUrl, 2);
    try {
      const directories = createDirectoryService({ orm, ledger: await ledgerFor(orm) });
      const d = await directories.createDirectory('corp-workforce', TEST_ADMIN, { signInIssuers: [corp.issuer] });
      const { secret } = await directories.createToken(d.id, TEST_ADMIN);
      const ids: string[] = [];
      for (const userName of ['carol', 'carol.twin']) {
        const res = await fetch(`${url}/scim/v2/Users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, emails: [{ value: 'carol@corp.example' }] }),
        });
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      const browser = new TestBrowser();
      corp.signInAs('carol');
      expect((await oidcSignIn(browser, url, 'corp')).status).toBe(303);
      expect(events.ofType('identity-link-refused').at(-1)).toMatchObject({ provider: 'corp', identities: expect.arrayContaining(ids.map((id) => ({ id, directoryId: d.id }))) });
      // Still signed in: only the link is refused.
      expect((await whoAmI(browser, url)).status).toBe(200);
      // Alice, with no identity there, is no ambiguity.
      const before = events.ofType('identity-link-refused').length;
      corp.signInAs('alice');
      await oidcSignIn(new TestBrowser(), url, 'corp');
      expect(events.ofType('identity-link-refused')).toHaveLength(before);
    } finally {
      await orm.close();
    }
  });

  it('reads roles from UserInfo for a provider that keeps them out of the ID token, with client_secret_post', async () => {
    const browser = new TestBrowser();
    partner.signInAs('dave');
    const result = await oidcSignIn(browser, url, 'partner');
    expect(result.status).toBe(303);
    const me = await whoAmI(browser, url);
    expect(me.body).toMatchObject({ provider: 'partner', principal: { email: 'dave@partner.example', displayName: 'Dave', roles: ['nhi-owner'] } });
  });

  it('refuses a callback whose state was tampered with, and the attempt cannot be retried', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    let genuine: URL | undefined;
    const result = await oidcSignIn(browser, url, 'corp', {
      tamperCallback: (u) => {
        genuine = new URL(u);
        u.searchParams.set('state', 'forged-state-value-0123456789');
      },
    });
    expect(result).toMatchObject({ status: 303, location: `${url}/sign-in?error=state_mismatch`, sessionCookieSet: false });
    expect((await whoAmI(browser, url)).status).toBe(401);
    expect(events.ofType('sign-in-failed').at(-1)).toMatchObject({ reason: 'state_mismatch', provider: 'corp', detail: expect.stringContaining('state') });

    // The untampered answer is no good afterwards either: the attempt was used up.
    const replay = await browser.fetch(genuine!.href);
    expect(replay.hop.location).toBe(`${url}/sign-in?error=attempt_missing`);
  });

  it('refuses an ID token whose nonce is not the one this browser sent', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    const result = await oidcSignIn(browser, url, 'corp', { tamperAuthorize: (u) => u.searchParams.set('nonce', 'attacker-chosen-nonce-0123456789') });
    expect(result).toMatchObject({ status: 303, location: `${url}/sign-in?error=nonce_mismatch`, sessionCookieSet: false });
    expect(events.ofType('sign-in-failed').at(-1)).toMatchObject({ reason: 'nonce_mismatch', detail: expect.stringContaining('nonce') });
  });

  it('refuses an expired ID token (stand-in fault: the provider clock runs two hours behind)', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    corp.setClockBehind(2 * 3600);
    try {
      const result = await oidcSignIn(browser, url, 'corp');
      expect(result).toMatchObject({ status: 303, location: `${url}/sign-in?error=id_token_expired`, sessionCookieSet: false });
    } finally {
      corp.setClockBehind(0);
    }
    expect(events.ofType('sign-in-failed').at(-1)).toMatchObject({ reason: 'id_token_expired', detail: expect.stringContaining('"exp"') });
  });

  it('refuses an ID token issued to another client (stand-in fault: the token response is swapped)', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    // The swapped-in token is genuine in every other way: same provider, same person, same nonce.
    corp.substituteIdToken(async (idToken) => {
      corp.substituteIdToken(undefined);
      const nonce = (JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as { nonce: string }).nonce;
      return idTokenForOtherApp(corp, nonce);
    });
    try {
      const result = await oidcSignIn(browser, url, 'corp');
      expect(result).toMatchObject({ status: 303, location: `${url}/sign-in?error=wrong_audience`, sessionCookieSet: false });
    } finally {
      corp.substituteIdToken(undefined);
    }
    expect(events.ofType('sign-in-failed').at(-1)).toMatchObject({ reason: 'wrong_audience', detail: expect.stringContaining('"aud"') });
  });

  it('refuses a callback arriving in a browser that did not start the sign-in', async () => {
    const starter = new TestBrowser();
    corp.signInAs('alice');
    let stolen: URL | undefined;
    await oidcSignIn(starter, url, 'corp', {
      tamperCallback: (u) => {
        stolen = new URL(u);
        u.searchParams.delete('code'); // the starter's own callback fails harmlessly
      },
    });
    const victim = new TestBrowser();
    const res = await victim.fetch(stolen!.href);
    expect(res.hop.location).toBe(`${url}/sign-in?error=attempt_missing`);
    expect(victim.cookie(url, 'gatehouse.sid')).toBeUndefined();
  });

  it('answers 503 naming a provider that cannot be reached, and signs in with the others meanwhile', async () => {
    const res = await fetch(`${url}/api/auth/oidc/down/sign-in`, { redirect: 'manual' });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^OpenID Provider down: discovery at http:\/\/127\.0\.0\.1:1 failed: /);
    corp.signInAs('bob');
    expect((await oidcSignIn(new TestBrowser(), url, 'corp')).sessionCookieSet).toBe(true);
  });

  it('answers 404 for a provider that is not configured', async () => {
    const res = await fetch(`${url}/api/auth/oidc/nope/sign-in`, { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('OpenID Provider nope was not found');
  });

  it('signs out: refuses without the CSRF token, then ends the session and offers the provider sign-out', async () => {
    const browser = new TestBrowser();
    corp.signInAs('alice');
    await oidcSignIn(browser, url, 'corp');
    const { body } = await whoAmI(browser, url);
    const cookie = browser.cookie(url, 'gatehouse.sid')!;

    const noCsrf = await browser.fetch(`${url}/api/auth/session`, { method: 'DELETE' });
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as { error: { message: string } }).error.message).toMatch(/^missing or wrong x-csrf-token header/);
    expect((await whoAmI(browser, url)).status).toBe(200);

    const out = await browser.fetch(`${url}/api/auth/session`, { method: 'DELETE', headers: { 'x-csrf-token': body.csrfToken! } });
    expect(out.status).toBe(200);
    const answer = (await out.json()) as { signedOut: boolean; providerSignOutUrl: string };
    const endSession = new URL(answer.providerSignOutUrl);
    expect(`${endSession.origin}${endSession.pathname}`).toBe(`${corp.issuer}/session/end`);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${url}/sign-in`);
    expect(browser.cookie(url, 'gatehouse.sid')).toBeUndefined();

    // The old cookie is dead on the server too, not just forgotten by the browser.
    const kept = new TestBrowser();
    kept.setCookie(url, 'gatehouse.sid', cookie);
    const after = await whoAmI(kept, url);
    expect(after.status).toBe(401);
    expect(events.ofType('sign-out')).toContainEqual(expect.objectContaining({ userId: body.principal.id }));
  });

  it('ends a disabled person’s sessions at once and refuses their next sign-in', async () => {
    const erin = new TestBrowser();
    corp.signInAs('erin');
    await oidcSignIn(erin, url, 'corp');
    const erinId = (await whoAmI(erin, url)).body.principal.id;
    const erinCookie = erin.cookie(url, 'gatehouse.sid')!;

    const admin = new TestBrowser();
    corp.signInAs('alice');
    await oidcSignIn(admin, url, 'corp');
    const csrf = (await whoAmI(admin, url)).body.csrfToken!;
    const listed = (await (await admin.fetch(`${url}/api/users`)).json()) as { users: { id: string; subject: string; roles: string[]; disabledAt: string | null }[] };
    expect(listed.users.find((u) => u.id === erinId)).toMatchObject({ subject: 'erin', roles: ['nhi-owner'], disabledAt: null });
    const disabled = await admin.fetch(`${url}/api/users/${erinId}/disable`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
    expect(disabled.status).toBe(200);
    expect(((await disabled.json()) as { disabledAt: string | null }).disabledAt).not.toBeNull();

    const stale = new TestBrowser();
    stale.setCookie(url, 'gatehouse.sid', erinCookie);
    expect((await whoAmI(stale, url)).status).toBe(401);

    corp.signInAs('erin');
    const again = await oidcSignIn(new TestBrowser(), url, 'corp');
    expect(again).toMatchObject({ location: `${url}/sign-in?error=account_disabled`, sessionCookieSet: false });

    const enabled = await admin.fetch(`${url}/api/users/${erinId}/enable`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
    expect(enabled.status).toBe(200);
    corp.signInAs('erin');
    expect((await oidcSignIn(new TestBrowser(), url, 'corp')).sessionCookieSet).toBe(true);
  });
});

/** Runs the code flow for the provider's other client with the given nonce and returns its ID token. */
async function idTokenForOtherApp(op: TestOidcProvider, nonce: string): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://127.0.0.1:9/cb';
  const authorize = new URL(`${op.issuer}/auth`);
  for (const [k, v] of Object.entries({ client_id: 'other-app', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, nonce, state: 'other', code_challenge: challenge, code_challenge_method: 'S256' })) {
    authorize.searchParams.set(k, v);
  }
  const flow = await new TestBrowser().followUntil(authorize.href, (next) => next.startsWith(redirectUri));
  const code = new URL(flow.stoppedAt!).searchParams.get('code')!;
  const res = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`other-app:${otherAppSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  const body = (await res.json()) as { id_token: string };
  return body.id_token;
}
