// The approval inbox page in a real browser (Debian's Chromium) against a running Gatehouse: an
// approver sees what they may decide (with the justification, the policy's reasons and a
// separation-of-duties warning), approves with a reason, and the request moves on; the subject
// sees nothing to decide, and a person without the approver role is told so.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { WEB_DIST } from '../../server/server.js';
import { launchBrowser } from '../helpers/browser.js';
import { startAccessServer, type AccessServer, type ServerPerson } from '../helpers/access-server.js';
import type { PersonCredentials } from '../helpers/test-callers.js';

describe('the approval inbox in the browser', () => {
  let s: AccessServer;
  let browser: Browser;
  let dana: ServerPerson;
  let sam: ServerPerson;
  let zed: ServerPerson;
  let requestId: string;

  beforeAll(async () => {
    if (!existsSync(path.join(WEB_DIST, 'index.html'))) throw new Error('the UI is not built: run `npm run build:web` (npm test does)');
    s = await startAccessServer();
    const c = s.connector.name;
    const { analysts, auditors } = s.target.groups;
    await s.publish(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme-access
rules:
  - { id: accounts, match: { kinds: [create-account] }, effect: allow }
  - { id: auditors-self-service, match: { kinds: [grant], entitlements: ["${c}:${auditors}"] }, effect: allow }
  - id: analysts-reviewed
    description: analysts see customer data
    match: { kinds: [grant], entitlements: ["${c}:${analysts}"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 1h }] }
separationOfDuties:
  - id: analyse-and-audit
    description: nobody audits what they analyse
    entitlements: ["${c}:${analysts}", "${c}:${auditors}"]
    effect: require-approval
    stage: { name: Risk review, approvers: [{ role: security-approver }], deadline: 1h }
`);
    dana = await s.person('dana', { name: 'Dana Developer', roles: ['security-approver'], department: 'Engineering' });
    sam = await s.person('sam', { name: 'Sam Security', roles: ['security-approver'], department: 'Security' });
    zed = await s.person('zed', { name: 'Zed Bystander', department: 'Sales' });
    const ask = async (body: Record<string, unknown>, until: string[]) => {
      const r = await s.api<{ id: string }>(dana.as, 'POST', '/api/requests', { for: 'self', connector: c, justification: 'month-end reports', ...body });
      await s.waitForStatus(r.body.id, until);
      return r.body.id;
    };
    await ask({ kind: 'create-account', accountName: `dana_${s.target.tag}` }, ['applied']);
    await ask({ entitlement: auditors }, ['applied']);
    requestId = await ask({ entitlement: analysts }, ['awaiting-approval']);
    const { waitUntil } = await import('../helpers/access-world.js');
    await waitUntil('the request open at the gate', async () => ((await s.api<{ approval?: { status: string } }>(s.admin, 'GET', `/api/requests/${requestId}`)).body.approval?.status === 'pending' ? true : undefined));
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  async function signedIn(as: PersonCredentials): Promise<BrowserContext> {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'gatehouse.sid', value: as.sessionCookie, url: s.gatehouse.url, httpOnly: true, sameSite: 'Strict' }]);
    return context;
  }

  it('shows the approver the request with its justification, reasons and SoD warning, and records an approval with a reason', async () => {
    const context = await signedIn(sam.as!);
    const page = await context.newPage();
    await page.goto(`${s.gatehouse.url}/`);
    await page.getByTestId('nav-inbox').click();
    await page.waitForURL(`${s.gatehouse.url}/inbox`);
    const item = page.getByTestId(`inbox-item-${requestId}`);
    await expect.poll(() => item.isVisible()).toBe(true);
    expect(await item.getByTestId('inbox-what').textContent()).toBe(`grant ${s.target.groups.analysts} on ${s.connector.name}`);
    expect(await item.getByTestId('inbox-justification').textContent()).toBe('month-end reports');
    expect(await item.textContent()).toContain('rule analysts-reviewed (analysts see customer data) requires approval');
    expect(await item.getByTestId('inbox-sod').textContent()).toContain('nobody audits what they analyse');
    expect((await item.getByTestId('inbox-stage').textContent())?.replace(/\s+/g, ' ')).toMatch(/Security \(1 of 2\): 0 of 1 approval, due .*; you may decide as role security-approver/);

    // No reason, no decision.
    expect(await page.getByTestId(`approve-${requestId}`).isDisabled()).toBe(true);
    await page.getByTestId(`reason-${requestId}`).fill('reviewed the data access with the team lead');
    await page.getByTestId(`approve-${requestId}`).click();
    await expect.poll(() => page.getByTestId('decision-result').textContent()).toContain('Approved: Dana Developer');
    // Sam decided; the next stage needs someone else, so it leaves his inbox.
    await expect.poll(() => page.getByTestId('inbox-empty').isVisible()).toBe(true);

    const after = await s.api<{ approval: { decisions: { userId: string; verdict: string; reason: string }[] } }>(s.admin, 'GET', `/api/requests/${requestId}`);
    expect(after.body.approval.decisions).toEqual([expect.objectContaining({ userId: sam.as!.userId, verdict: 'approve', reason: 'reviewed the data access with the team lead' })]);
    await context.close();
  });

  it("shows a second admin the policy publication another admin proposed, and publishes it on their approval", async () => {
    const proposed = await s.api<{ awaitingApproval: { id: string } }>(s.admin, 'POST', '/api/policies', {
      document: 'apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: acme-access-v2\nrules:\n  - { id: accounts, match: { kinds: [create-account] }, effect: allow }\n',
    });
    expect(proposed.status).toBe(202);
    const id = proposed.body.awaitingApproval.id;
    // The proposer is not shown it to decide.
    const own = await signedIn(s.admin);
    const ownPage = await own.newPage();
    await ownPage.goto(`${s.gatehouse.url}/inbox`);
    await expect.poll(() => ownPage.getByTestId('inbox-empty').isVisible()).toBe(true);
    await own.close();

    const { testCallers } = await import('../helpers/test-callers.js');
    const bea = await testCallers(s.orm).person(['admin'], 'Bea Admin');
    const context = await signedIn(bea);
    const page = await context.newPage();
    await page.goto(`${s.gatehouse.url}/inbox`);
    const card = page.getByTestId(`admin-change-${id}`);
    await expect.poll(() => card.isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await card.getByTestId('admin-change-what').textContent()).toContain('publish policy acme-access-v2');
    expect(await card.textContent()).toContain("needs a second admin's approval");
    expect(await card.textContent()).toMatch(/Proposed by\s*Ada Admin/);
    await page.getByTestId(`reason-${id}`).fill('read the diff');
    await page.getByTestId(`approve-${id}`).click();
    await expect.poll(() => page.getByTestId('decision-result').textContent()).toContain('Approved: publish policy acme-access-v2');
    const { waitUntil } = await import('../helpers/access-world.js');
    await waitUntil('the publication', async () => ((await s.api<{ inForce: { name: string } }>(s.admin, 'GET', '/api/policies')).body.inForce.name === 'acme-access-v2' ? true : undefined));
    await context.close();
  });

  it('shows the subject, and a person no policy names, that nothing waits for them', async () => {
    const context = await signedIn(dana.as!);
    const page = await context.newPage();
    await page.goto(`${s.gatehouse.url}/inbox`);
    await expect.poll(() => page.getByTestId('inbox-empty').isVisible()).toBe(true);
    await context.close();

    const other = await signedIn(zed.as!);
    const zpage = await other.newPage();
    await zpage.goto(`${s.gatehouse.url}/inbox`);
    await expect.poll(() => zpage.getByTestId('inbox-empty').isVisible()).toBe(true);
    await other.close();
  });
});
