// The inventory report in a real browser (Debian's Chromium): an auditor sees the credentials, narrows
// them with the filters (kept in the address), downloads exactly what is shown, and is told, naming
// the parameter, when a filter is not valid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { parse as parseCsv } from 'csv-parse/sync';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { launchBrowser } from '../helpers/browser.js';
import { createPostgresTarget, type PostgresTarget } from '../helpers/postgres-target.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, type MikroORM, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

describe('web UI: inventory report', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let target: PostgresTarget;
  let gatehouse: RunningGatehouse;
  let orm: MikroORM;
  let browser: Browser;
  let auditor: PersonCredentials;

  beforeAll(async () => {
    let vault;
    [db, vault, temporal, target] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal(), createPostgresTarget()]);
    gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { GATEHOUSE_EMBEDDED_WORKER: 'false' }), createLogger({ level: 'silent' }), { announce: () => undefined });
    orm = await openOrm(db.appUrl, 2);
    const callers = testCallers(orm);
    const admin = await callers.person(['admin']);
    auditor = await callers.person(['auditor']);
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${gatehouse.url}${path}`, { method: 'POST', headers: { ...admin.headers(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status, await res.clone().text()).toBe(201);
    };
    await post('/api/connectors', { name: 'pg-web', type: 'postgresql', config: target.config() });
    await post('/api/credentials', { name: 'web-reports', connector: 'pg-web', account: { name: 'svc_reports' }, secret: 'Web-Reports-Passw0rd' });
    await post('/api/credentials', { name: 'web-admin', connector: 'pg-web', account: { name: 'svc_admin' }, secret: 'Web-Admin-Passw0rd', privileged: true });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await orm?.close(true);
    await gatehouse?.stop();
    await temporal?.close();
    await target?.drop();
    await db?.drop();
  });

  it('lists, filters (in the address), downloads what is shown, and explains a bad filter', async () => {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'gatehouse.sid', value: auditor.sessionCookie, url: gatehouse.url }]);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const names = async () => (await page.getByTestId('inventory-row').locator('td:first-child strong').allTextContents()).sort();

    await page.goto(`${gatehouse.url}/inventory`);
    await expect.poll(names).toEqual(['pg-web-login', 'web-admin', 'web-reports']);

    await page.getByTestId('filter-finding').selectOption('privileged');
    await expect.poll(names).toEqual(['web-admin']);
    expect(new URL(page.url()).searchParams.get('finding')).toBe('privileged');
    expect(await page.getByTestId('findings').first().textContent()).toContain('privileged');

    // The download link carries the same filters: the file holds exactly the rows shown.
    const href = (await page.getByTestId('export-csv').getAttribute('href'))!;
    expect(href).toContain('finding=privileged');
    const file = await page.request.get(new URL(href, gatehouse.url).toString());
    expect(file.headers()['content-disposition']).toMatch(/^attachment; filename="?credential-inventory-[\d-]+\.csv"?$/);
    const rows = parseCsv(await file.text(), { columns: true }) as { name: string }[];
    expect(rows.map((r) => r.name)).toEqual(['web-admin']);

    // A page opened with filters in its address shows them applied.
    await page.goto(`${gatehouse.url}/inventory?kind=service-account&q=reports`);
    await expect.poll(names).toEqual(['web-reports']);
    expect(await page.getByTestId('filter-kind').inputValue()).toBe('service-account');

    await page.getByTestId('filter-owner').fill('not-an-owner');
    await page.getByTestId('filter-owner').press('Enter');
    await expect.poll(() => page.getByTestId('inventory-error').textContent()).toContain('owner');
    expect(errors).toEqual([]);
    await context.close();
  });
});
