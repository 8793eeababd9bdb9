// Sign-in with two server replicas on one database, and no OpenID Provider configured yet: the very
// first start prints a one-time admin link (later starts say how to get one) that works on either
// replica, once; sessions and sign-outs hold on both; and rate limits count across both.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { createBootstrapLinkService } from '../../server/auth/bootstrap-link-service.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, withPg, type TestDatabase, type TestTemporal, type TestVault } from '../helpers/services.js';
import { TestBrowser } from '../helpers/test-browser.js';
import { capturingEvents, whoAmI } from '../helpers/sign-in.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const linkIn = (printed: string) => {
  const match = /(http:\/\/\S+\/sign-in\/link#token=([A-Za-z0-9_-]{43}))/.exec(printed);
  if (!match) throw new Error(`no link in: ${printed}`);
  return { url: match[1]!, token: match[2]! };
};

describe('sign-in across replicas, before any OpenID Provider is configured', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let a: RunningGatehouse;
  let b: RunningGatehouse;
  const printedA: string[] = [];
  const printedB: string[] = [];
  const events = capturingEvents();

  const redeem = (server: RunningGatehouse, token: string, browser = new TestBrowser()) =>
    browser.fetch(`${server.url}/api/auth/one-time-link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });

  let vault: TestVault;

  beforeAll(async () => {
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    const config = testConfig({ db, vault, temporal }, { AUTH_SIGN_IN_RATE_LIMIT: '6', AUTH_TOKEN_RATE_LIMIT: '3', AUTH_BOOTSTRAP_LINK_MINUTES: '15' });
    const log = createLogger({ level: 'silent' });
    a = await startGatehouse(config, log, { announce: (t) => printedA.push(t), authEvents: events });
    b = await startGatehouse({ ...config, GATEHOUSE_EMBEDDED_WORKER: false }, log, { announce: (t) => printedB.push(t), authEvents: events });
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('prints a one-time admin link on the very first start only, stored only as its hash; later starts say how to get one', async () => {
    expect(printedA).toHaveLength(1);
    expect(printedA[0]).toContain('No OpenID Provider is configured (OIDC_ISSUERS)');
    expect(printedA[0]).toMatch(/expires in 15 minutes/);
    const link = linkIn(printedA[0]!);
    expect(link.url.startsWith(`${a.url}/sign-in/link#token=`)).toBe(true);
    const hashes = await withPg(db.superuserUrl, async (c) => (await c.query('SELECT token_hash FROM auth_bootstrap_link WHERE used_at IS NULL')).rows.map((r: { token_hash: string }) => r.token_hash));
    expect(hashes).toEqual([createHash('sha256').update(link.token).digest('hex')]);
    // Replica B started second: no link of its own, and what to run for one.
    expect(printedB).toHaveLength(1);
    expect(printedB[0]).not.toMatch(/sign-in\/link#token=/);
    expect(printedB[0]).toContain('npx gatehouse sign-in-link');
    // Nor does a restart print one.
    const restarted: string[] = [];
    const again = await startGatehouse({ ...testConfig({ db, vault, temporal }), GATEHOUSE_EMBEDDED_WORKER: false }, createLogger({ level: 'silent' }), { announce: (t) => restarted.push(t), authEvents: events });
    await again.stop();
    expect(restarted.join('')).not.toMatch(/sign-in\/link#token=/);
    expect(await withPg(db.superuserUrl, async (c) => (await c.query('SELECT count(*)::int AS n FROM auth_bootstrap_link')).rows[0].n)).toBe(1);
    expect(await (await fetch(`${a.url}/api/auth/providers`)).json()).toEqual({ providers: [], oneTimeLink: true });
  });

  it("redeems a link on the other replica, once, and retires every other link", async () => {
    // What `gatehouse sign-in-link` prints, issued beside the first start's.
    const asked = await createBootstrapLinkService({ orm: b.runtime.orm, ttlMs: 60_000 }).issue('cli');
    const browser = new TestBrowser();
    const res = await redeem(a, asked.secret, browser);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ principal: { kind: 'human', roles: ['admin'], displayName: 'First admin (one-time link)' } });

    // The session works on the other replica too.
    const onB = await whoAmI(browser, b.url);
    expect(onB.status).toBe(200);
    expect(onB.body.principal.roles).toEqual(['admin']);

    const again = await redeem(b, asked.secret);
    expect(again.status).toBe(401);
    expect(((await again.json()) as ErrorBody).error.message).toMatch(/^this sign-in link is not valid: it was used, it expired, or it was never issued/);
    const other = await redeem(b, linkIn(printedA[0]!).token);
    expect(other.status).toBe(401);
    expect(events.ofType('sign-in')).toHaveLength(1);
    expect(events.ofType('sign-in-failed').map((e) => e.reason)).toEqual(['link_invalid', 'link_invalid']);
  });

  it('refuses an expired link', async () => {
    const link = await createBootstrapLinkService({ orm: a.runtime.orm, ttlMs: 60_000 }).issue('test');
    await withPg(db.superuserUrl, (c) => c.query(`UPDATE auth_bootstrap_link SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [createHash('sha256').update(link.secret).digest('hex')]));
    expect((await redeem(a, link.secret)).status).toBe(401);
  });

  it('signs out on one replica and the session is over on the other', async () => {
    const link = await createBootstrapLinkService({ orm: a.runtime.orm, ttlMs: 60_000 }).issue('test');
    const browser = new TestBrowser();
    expect((await redeem(b, link.secret, browser)).status).toBe(200);
    const { body } = await whoAmI(browser, a.url);
    const cookie = browser.cookie(a.url, 'gatehouse.sid')!;
    const out = await browser.fetch(`${a.url}/api/auth/session`, { method: 'DELETE', headers: { 'x-csrf-token': body.csrfToken! } });
    expect(out.status).toBe(200);
    expect(await out.json()).toEqual({ signedOut: true });
    const kept = new TestBrowser();
    kept.setCookie(b.url, 'gatehouse.sid', cookie);
    expect((await whoAmI(kept, b.url)).status).toBe(401);
  });

  it('counts rate limits across replicas and answers 429 with Retry-After', async () => {
    // The sign-in limit is 6 per window, counted in PostgreSQL: earlier tests here used some of it.
    const used = await withPg(db.superuserUrl, async (c) => (await c.query(`SELECT coalesce(sum(hits), 0)::int AS n FROM auth_rate_limit WHERE key LIKE 'sign-in:%'`)).rows[0].n as number);
    expect(used).toBeGreaterThan(0);
    for (let i = used; i < 6; i++) expect((await redeem(i % 2 ? a : b, 'x'.repeat(43))).status).toBe(401);
    const limited = await redeem(b, 'x'.repeat(43));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.headers.get('ratelimit-policy')).toBe('6;w=900');
    const body = (await limited.json()) as ErrorBody;
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toMatch(/^too many sign-in requests from your address: try again in \d+ seconds$/);

    // Token endpoints have their own, smaller limit here (3): two calls on A, one on B, the fourth anywhere is refused.
    expect((await fetch(`${a.url}/api/tokens`)).status).toBe(401);
    expect((await fetch(`${a.url}/api/tokens`)).status).toBe(401);
    expect((await fetch(`${b.url}/api/tokens`)).status).toBe(401);
    expect((await fetch(`${a.url}/api/tokens`)).status).toBe(429);
    // Routes without a limit are unaffected.
    expect((await fetch(`${a.url}/api/auth/providers`)).status).toBe(200);
  });
});
