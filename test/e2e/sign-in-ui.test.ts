// The sign-in pages in a real browser (Chromium): signing in with a provider and seeing who is
// signed in, signing out, a refused sign-in explained, and the first admin's one-time link.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, WEB_DIST, type RunningGatehouse } from '../../server/server.js';
import { freePort } from '../../server/embedded/process.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { startTestOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js';

const CHROMIUM = '/usr/bin/chromium';

describe('sign-in in the browser', () => {
  let dbs: TestDatabase[] = [];
  let temporal: TestTemporal;
  let withProvider: RunningGatehouse;
  let firstStart: RunningGatehouse;
  let op: TestOidcProvider;
  let browser: Browser;
  const printed: string[] = [];

  beforeAll(async () => {
    if (!existsSync(path.join(WEB_DIST, 'index.html'))) throw new Error('the UI is not built: run `npm run build:web` (npm test does)');
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run \`npm run setup\` as root`);
    const port = await freePort();
    const url = `http://localhost:${port}`;
    const secret = randomBytes(24).toString('hex');
    op = await startTestOidcProvider({
      clients: [{ client_id: 'gatehouse', client_secret: secret, redirect_uris: [`${url}/api/auth/oidc/corp/callback`], post_logout_redirect_uris: [`${url}/sign-in`] }],
      accounts: [{ sub: 'alice', name: 'Alice Admin', email: 'alice@corp.example', groups: ['gh-admins', 'audit'] }],
    });
    temporal = await connectTestTemporal();
    // One after the other: createTestDatabase re-applies role passwords, which PostgreSQL refuses to do concurrently.
    const db1 = await createTestDatabase();
    const db2 = await createTestDatabase();
    const vault = await createTestVault();
    dbs = [db1, db2];
    const log = createLogger({ level: 'silent' });
    withProvider = await startGatehouse(
      testConfig(
        { db: db1, vault, temporal },
        {
          PORT: String(port),
          PUBLIC_URL: url,
          OIDC_ISSUERS: JSON.stringify([
            { id: 'corp', name: 'Corp SSO', issuer: op.issuer, clientId: 'gatehouse', clientSecret: secret, scopes: 'openid email profile groups', roles: { admin: ['gh-admins'], auditor: ['audit'] } },
          ]),
        },
      ),
      log,
    );
    firstStart = await startGatehouse(testConfig({ db: db2, vault, temporal }, { GATEHOUSE_EMBEDDED_WORKER: 'false' }), log, { announce: (t) => printed.push(t) });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await firstStart?.stop();
    await withProvider?.stop();
    await op?.stop();
    await temporal?.close();
    for (const db of dbs) await db.drop();
  });

  it('signs in with the provider, shows who is signed in, and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${withProvider.url}/`);
    await page.getByTestId('sign-in-link').click();
    await page.waitForURL(`${withProvider.url}/sign-in`);

    op.signInAs('alice');
    await page.getByTestId('sign-in-corp').click();
    await page.waitForURL(`${withProvider.url}/`);
    await expect.poll(() => page.getByTestId('signed-in-as').textContent()).toBe('Alice Admin');
    expect(await page.getByTestId('signed-in-roles').textContent()).toBe('admin, auditor');
    const cookies = await context.cookies(withProvider.url);
    expect(cookies.find((c) => c.name === 'gatehouse.sid')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    await page.getByTestId('sign-out').click();
    await page.waitForURL((u) => u.href.startsWith(`${op.issuer}/session/end`));
    await page.goto(`${withProvider.url}/`);
    await expect.poll(() => page.getByTestId('sign-in-link').isVisible()).toBe(true);
    await context.close();
  });

  it('explains a refused sign-in', async () => {
    const page = await browser.newPage();
    await page.goto(`${withProvider.url}/sign-in?error=id_token_expired`);
    await expect.poll(() => page.getByTestId('sign-in-error').textContent()).toContain("The provider's ID token had already expired.");
    await page.close();
  });

  it('signs the first admin in with the one-time link printed at start, once', async () => {
    const link = /(http:\/\/\S+\/sign-in\/link#token=[A-Za-z0-9_-]{43})/.exec(printed.join(''))?.[1];
    expect(link).toBeDefined();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link!);
    await page.waitForURL(`${firstStart.url}/`);
    await expect.poll(() => page.getByTestId('signed-in-roles').textContent()).toBe('admin');

    const again = await browser.newPage();
    await again.goto(link!);
    await expect.poll(() => again.getByTestId('one-time-link-error').textContent()).toContain('this sign-in link is not valid');
    expect(again.url()).toBe(`${firstStart.url}/sign-in/link`); // the token is gone from the address bar
    await again.close();
    await context.close();
  });
});
