// The sync flows page in a real browser (Debian's Chromium) against a running Gatehouse: an admin
// finds the flow, previews and runs it and follows the run to its counts, sees the record the target
// refused set aside (redacted), and replays it after the fix; an approver may look but is refused,
// with the reason, when they try to run it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { WEB_DIST } from '../../server/server.js';
import { launchBrowser } from '../helpers/browser.js';
import { createHrConnector, startAccessServer, type AccessServer } from '../helpers/access-server.js';
import { withPg } from '../helpers/services.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

describe('the sync flows page in the browser', () => {
  let s: AccessServer;
  let browser: Browser;
  let approver: PersonCredentials;

  beforeAll(async () => {
    if (!existsSync(path.join(WEB_DIST, 'index.html'))) throw new Error('the UI is not built: run `npm run build:web` (npm test does)');
    s = await startAccessServer();
    approver = await testCallers(s.orm).person(['security-approver'], 'Sam Approver');
    const connector = await createHrConnector(s, [{ name: 'people', schema: 'hr', table: 'people', cursor: 'changed' }, { name: 'copy', schema: 'hr', table: 'people_copy', writable: true }]);
    await withPg(s.target.superuserUrl, async (c) => {
      await c.query("ALTER TABLE hr.people_copy ADD CONSTRAINT no_poison CHECK (display_name IS DISTINCT FROM 'POISON')");
      await c.query("INSERT INTO hr.people (employee_id, email, display_name) VALUES ('U1', 'u1@corp.example', 'Una'), ('U2', 'u2@corp.example', 'POISON'), ('U3', 'u3@corp.example', 'Ulf')");
    });
    const flow = `apiVersion: gatehouse.dev/v1
kind: Flow
name: hr-copy
description: people into the copy table
source: { connector: ${connector}, objectClass: people }
target: { connector: ${connector}, objectClass: copy }
mapping: '{ "employee_id": employee_id, "email": email, "display_name": display_name }'
fields:
  email: { classification: pii, rule: hash }
`;
    expect((await s.api(s.admin, 'POST', '/api/flows', { document: flow })).status).toBe(201);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  async function signedIn(as: PersonCredentials): Promise<BrowserContext> {
    const context = await browser.newContext();
    // A step that cannot happen fails in 20 s, naming the step, instead of the whole test timing out.
    context.setDefaultTimeout(20_000);
    await context.addCookies([{ name: 'gatehouse.sid', value: as.sessionCookie, url: s.gatehouse.url, httpOnly: true, sameSite: 'Strict' }]);
    return context;
  }

  it('lets an admin preview and run a flow, follow the run, and replay the record set aside after the fix', async () => {
    const context = await signedIn(s.admin);
    const page = await context.newPage();
    await page.goto(`${s.gatehouse.url}/`);
    await page.getByTestId('nav-flows').click();
    await page.waitForURL(`${s.gatehouse.url}/flows`);
    const row = page.getByTestId('flow-hr-copy');
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await row.textContent()).toContain('people into the copy table');
    await row.getByRole('button', { name: 'hr-copy' }).click();
    await expect.poll(() => page.getByTestId('flow-runs-empty').isVisible()).toBe(true);

    await page.getByTestId('flow-preview').click();
    await expect.poll(() => page.getByTestId('flow-preview-result').textContent(), { timeout: 30_000 }).toContain('The next 3 records: 3 to create, 0 to update');

    await page.getByTestId('flow-run').click();
    await expect.poll(() => page.getByTestId('flows-notice').textContent()).toMatch(/^Run [0-9a-f-]{36} started\.$/);
    const status = page.locator('[data-testid^="run-"] [data-testid="run-status"]').first();
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toBe('succeeded');
    expect(await page.locator('[data-testid="run-written"]').first().textContent()).toBe('2 created, 0 updated, 0 unchanged');
    expect(await page.locator('[data-testid="run-dead-lettered"]').first().textContent()).toBe('1');

    const letter = page.locator('[data-testid^="dead-letter-"]').first();
    expect(await letter.getByTestId('dead-letter-error').textContent()).toContain('no_poison');
    const shown = (await letter.textContent()) ?? '';
    expect(shown).toContain('"employee_id": "U2"');
    expect(shown).not.toContain('u2@corp.example');

    await withPg(s.target.superuserUrl, (c) => c.query('ALTER TABLE hr.people_copy DROP CONSTRAINT no_poison'));
    await letter.getByRole('button', { name: 'Replay' }).click();
    await expect.poll(() => page.getByTestId('flows-notice').textContent(), { timeout: 30_000 }).toContain('Replayed: written (1 created');
    await expect.poll(() => page.getByTestId('dead-letters-empty').isVisible()).toBe(true);
    const copied = await withPg(s.target.superuserUrl, (c) => c.query("SELECT display_name FROM hr.people_copy WHERE employee_id = 'U2'"));
    expect(copied.rows).toEqual([{ display_name: 'POISON' }]);

    // The flow drawn as a pipeline, and its mapping tried on the source's first records before publishing.
    expect(await page.getByTestId('flow-pipeline').textContent()).toMatch(/people\s+→\s+mapping\s+→\s+field rules \(1\)\s+→\s+.*copy \(upsert\)/);
    await page.getByTestId('mapping-editor').fill('{ "employee_id": employee_id, "display_name": $uppercase(display_name), "email": email }');
    await page.getByTestId('mapping-try').click();
    await expect.poll(() => page.getByTestId('flows-notice').textContent(), { timeout: 30_000 }).toBe('Tried the mapping on the first 3 records of the source: nothing was written.');
    const results = await page.getByTestId('mapping-result-record').allTextContents();
    expect(results[0]).toContain('"display_name": "UNA"');
    const sideBySide = (await page.getByTestId('mapping-result').textContent()) ?? '';
    expect(sideBySide).toContain('"display_name": "Una"');
    expect(sideBySide).not.toContain('u1@corp.example');
    expect((await withPg(s.target.superuserUrl, (c) => c.query("SELECT display_name FROM hr.people_copy WHERE employee_id = 'U1'"))).rows).toEqual([{ display_name: 'Una' }]);
    await context.close();
  });

  it('shows an approver the flow and its runs, and the reason when they try to run it', async () => {
    const context = await signedIn(approver);
    const page = await context.newPage();
    await page.goto(`${s.gatehouse.url}/flows?flow=hr-copy`);
    await expect.poll(() => page.locator('[data-testid^="run-"] [data-testid="run-status"]').first().textContent()).toBe('succeeded');
    await page.getByTestId('flow-run').click();
    await expect.poll(() => page.getByTestId('flows-error').textContent()).toContain('Cannot execute "run" on "Flow"');
    await context.close();
  });

  it('shows an approver a run waiting for its plan, what it would write, and lets them approve it', async () => {
    const gated = `apiVersion: gatehouse.dev/v1
kind: Flow
name: hr-gated
source: { connector: hr-${s.target.tag}, objectClass: people }
target: { connector: hr-${s.target.tag}, objectClass: copy }
mapping: '{ "employee_id": employee_id, "display_name": display_name & " (checked)" }'
plan: { approval: always }
`;
    expect((await s.api(s.admin, 'POST', '/api/flows', { document: gated })).status).toBe(201);
    const started = await s.api<{ id: string }>(s.admin, 'POST', '/api/flows/hr-gated/runs');
    expect(started.status).toBe(202);

    const context = await signedIn(approver);
    const page = await context.newPage();
    await page.goto(`${s.gatehouse.url}/flows?flow=hr-gated`);
    const card = page.getByTestId(`plan-${started.body.id}`);
    await expect.poll(() => card.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await card.textContent()).toContain('the flow has every plan approved');
    expect(await card.getByTestId('plan-counts').textContent()).toContain('Of the 3 records it covers, it would create 0, update 3');
    expect(await page.locator(`[data-testid="run-${started.body.id}"] [data-testid="run-status"]`).textContent()).toBe('waiting for plan approval');
    await page.getByTestId(`plan-reason-${started.body.id}`).fill('names marked as checked');
    await page.getByTestId(`plan-approve-${started.body.id}`).click();
    await expect.poll(() => page.getByTestId('flows-notice').textContent()).toContain('Plan approved');
    await expect.poll(() => page.locator(`[data-testid="run-${started.body.id}"] [data-testid="run-status"]`).textContent(), { timeout: 30_000 }).toBe('succeeded');
    const copied = await withPg(s.target.superuserUrl, (c) => c.query("SELECT display_name FROM hr.people_copy WHERE employee_id = 'U1'"));
    expect(copied.rows).toEqual([{ display_name: 'Una (checked)' }]);
    await context.close();
  });
});
