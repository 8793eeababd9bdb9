// The UI in a real browser: the status page served by the server shows what /readyz says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { launchBrowser } from '../helpers/browser.js';

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

  it('shows each dependency up, with its mode and version', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Nobody is signed in, so the header's "who is signed in?" call answers 401, which Chromium logs;
    // that one is expected, any other error is not.
    page.on('console', (m) => m.type() === 'error' && !m.location().url.endsWith('/api/auth/session') && errors.push(m.text()));
    await page.goto(gatehouse.url);
    await expect.poll(() => page.getByTestId('overall').textContent()).toBe('Ready');
    for (const [key, name] of [['postgres', 'PostgreSQL'], ['temporal', 'Temporal'], ['vault', 'Vault']] as const) {
      const cells = await page.getByTestId(`dep-${key}`).locator('td').allTextContents();
      expect(cells.slice(0, 3)).toEqual([name, 'up', 'external']);
      expect(cells[3]).toMatch(/^\d+\.\d+/);
    }
    expect(errors).toEqual([]);
    // The content security policy is in force on the page that was served.
    const res = await page.request.get(gatehouse.url);
    expect(res.headers()['content-security-policy']).toContain("script-src 'self'");
  });
});
