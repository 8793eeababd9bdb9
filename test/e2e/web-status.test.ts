// The UI in a real browser: the status page served by the server shows what /readyz says: ready or
// not to anyone, each dependency to a signed-in person.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { launchBrowser } from '../helpers/browser.js';
import { testCallers } from '../helpers/test-callers.js';

describe('web UI: status page', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;
  let browser: Browser;

  beforeAll(async () => {
    const [d, vault, t] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    db = d;
    temporal = t;
    gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { GATEHOUSE_EMBEDDED_WORKER: 'false' }), createLogger({ level: 'silent' }));
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('tells anyone whether it is ready, and a signed-in person each dependency with its mode and version', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Nobody is signed in, so the header's "who is signed in?" call answers 401, which Chromium logs;
    // that one is expected, any other error is not.
    page.on('console', (m) => m.type() === 'error' && !m.location().url.endsWith('/api/auth/session') && errors.push(m.text()));
    await page.goto(gatehouse.url);
    await expect.poll(() => page.getByTestId('overall').textContent()).toBe('Ready');
    // Anonymous: the answer, not the versions.
    expect(await page.getByTestId('sign-in-for-details').textContent()).toContain('Sign in to see each dependency');
    expect(await page.getByTestId('dep-postgres').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();

    const person = await testCallers(gatehouse.runtime.orm).person(['auditor'], 'Ada Auditor');
    const context = await browser.newContext();
    await context.addCookies([{ name: 'gatehouse.sid', value: person.sessionCookie, url: gatehouse.url }]);
    const signedIn = await context.newPage();
    await signedIn.goto(gatehouse.url);
    await expect.poll(() => signedIn.getByTestId('overall').textContent()).toBe('Ready');
    for (const [key, name] of [['postgres', 'PostgreSQL'], ['temporal', 'Temporal'], ['vault', 'Vault']] as const) {
      await expect.poll(() => signedIn.getByTestId(`dep-${key}`).count()).toBe(1);
      const cells = await signedIn.getByTestId(`dep-${key}`).locator('td').allTextContents();
      expect(cells.slice(0, 3)).toEqual([name, 'up', 'external']);
      expect(cells[3]).toMatch(/^\d+\.\d+/);
    }
    // The content security policy is in force on the page that was served.
    const res = await signedIn.request.get(gatehouse.url);
    expect(res.headers()['content-security-policy']).toContain("script-src 'self'");
    await context.close();
  });
});
