// The access API in a running Gatehouse (its embedded worker, real PostgreSQL, Vault, Temporal and a
// PostgreSQL target): publishing policy versions (ledger entries, history, conflicts), people asking
// for access for themselves and for a non-human identity they own, the inbox showing each person
// exactly what they may decide, decisions through the API, the requests list, and simulation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { LEDGER_ACTIONS } from '../../workflows/change/change-authority.js';
import { startAccessServer, type AccessServer, type ServerPerson } from '../helpers/access-server.js';

interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
interface InboxItem {
  id: string;
  subject: { id: string };
  entitlement?: string;
  justification?: string;
  reasons: string[];
  stage: { name: string; quorum: number; approvals: number };
  eligibleAs: string;
  policy: { versionHash: string };
}

describe('the access API: policies, requests, the inbox and decisions', () => {
  let s: AccessServer;
  let mia: ServerPerson; // manager of Dana, security approver
  let dana: ServerPerson; // security approver; owns the bot
  let sam: ServerPerson; // security approver
  let zed: ServerPerson; // no role
  let bot: ServerPerson; // a service account owned by Dana
  let policyHash: string;
  let analysts: string;
  let auditors: string;
  const account = (who: string) => `${who}_${s.target.tag}`;

  const policy = (extra = '') => `
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme-access
rules:
  - id: accounts
    match: { kinds: [create-account] }
    effect: allow
  - id: analysts-manager-then-security
    match: { kinds: [grant], entitlements: ["${s.connector.name}:${analysts}"], subject: { type: human } }
    effect: require-approval
    approval:
      stages:
        - { name: Manager, approvers: [{ manager: true }], deadline: 1h }
        - { name: Security, approvers: [{ role: security-approver }], deadline: 1h }
  - id: service-accounts-reviewed
    match: { kinds: [grant], subject: { type: nhi } }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 1h }] }
${extra}`;

  beforeAll(async () => {
    s = await startAccessServer();
    analysts = s.target.groups.analysts;
    auditors = s.target.groups.auditors;
    mia = await s.person('mia', { name: 'Mia Manager', roles: ['security-approver'], department: 'Engineering' });
    dana = await s.person('dana', { name: 'Dana Developer', roles: ['security-approver'], department: 'Engineering', manager: mia });
    sam = await s.person('sam', { name: 'Sam Security', roles: ['security-approver'], department: 'Security' });
    zed = await s.person('zed', { name: 'Zed Bystander', department: 'Sales' });
    bot = await s.person('etl-bot', { name: 'ETL bot', userType: 'service', manager: dana, signIn: false });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('publishes policy versions through the API, each on the ledger, and keeps them all', async () => {
    const bad = await s.api<ErrorBody>(s.admin, 'POST', '/api/policies', { document: 'apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: x\nrules:\n  - { id: r, effect: maybe }\n' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ field: 'rules[0].effect' });
    expect((await s.api<ErrorBody>(s.admin, 'POST', '/api/policies', {})).body.error.field).toBe('document');
    expect((await s.api<ErrorBody>(sam.as, 'POST', '/api/policies', { document: policy() })).status).toBe(403);

    const first = await s.api<{ published: boolean; publication: { versionHash: string; seq: number } }>(s.admin, 'POST', '/api/policies', { document: policy(), note: 'first version' });
    expect(first.status).toBe(201);
    const again = await s.api<{ published: boolean }>(s.admin, 'POST', '/api/policies', { document: `# same meaning, other formatting\n${policy()}` });
    expect(again).toMatchObject({ status: 200, body: { published: false } });
    const stale = await s.api<ErrorBody>(s.admin, 'POST', '/api/policies', { document: policy('  - { id: extra, match: { kinds: [disable] }, effect: deny }\n'), replaces: 'f'.repeat(64) });
    expect(stale.status).toBe(409);
    expect(stale.body.error.field).toBe('replaces');
    policyHash = first.body.publication.versionHash;

    const listed = await s.api<{ inForce: { versionHash: string; source: string; publication: { note: string } }; publications: unknown[] }>(sam.as, 'GET', '/api/policies');
    expect(listed.body.inForce).toMatchObject({ versionHash: policyHash, publication: { note: 'first version' } });
    expect(listed.body.publications).toHaveLength(1);
    expect((await s.api(sam.as, 'GET', `/api/policies/versions/${policyHash}`)).status).toBe(200);
    expect((await s.api(sam.as, 'GET', `/api/policies/versions/${'0'.repeat(64)}`)).status).toBe(404);

    const ledger = createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
    const published = (await ledger.query({ action: 'policy.published' })).entries;
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ actor: { kind: 'human', id: s.admin.userId }, subject: { type: 'policy', id: 'acme-access' }, policy: { id: 'acme-access', versionHash: policyHash }, details: { note: 'first version', previous: null } });
  });

  it('lets people ask for access for themselves, and refuses what is incomplete or unknown, naming the field', async () => {
    const missing = await s.api<ErrorBody>(dana.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, entitlement: analysts });
    expect(missing).toMatchObject({ status: 400, body: { error: { field: 'justification' } } });
    const unknown = await s.api<ErrorBody>(dana.as, 'POST', '/api/requests', { for: 'self', connector: 'no-such-connector', entitlement: analysts, justification: 'x' });
    expect(unknown).toMatchObject({ status: 400, body: { error: { field: 'connector' } } });
    const noEntitlement = await s.api<ErrorBody>(dana.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, kind: 'grant', justification: 'x' });
    expect(noEntitlement.body.error.field).toBe('entitlement');

    for (const [who, p] of [['dana', dana], ['mia', mia]] as const) {
      const created = await s.api<{ id: string; status: string }>(p.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.id, kind: 'create-account', accountName: account(who), justification: 'my login' });
      expect([201, 202]).toContain(created.status);
      await s.waitForStatus(created.body.id, ['applied']);
    }
  });

  it("refuses a request aimed at someone else's account by name: accountName is for create-account only", async () => {
    const requestsBefore = await s.api<{ requests: unknown[] }>(mia.as, 'GET', '/api/requests?limit=200');
    for (const kind of ['revoke', 'grant'] as const) {
      const aimed = await s.api<ErrorBody>(zed.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, kind, entitlement: analysts, accountName: account('dana'), justification: 'x' });
      expect(aimed.status).toBe(400);
      expect(aimed.body.error).toMatchObject({ field: 'accountName' });
      expect(aimed.body.error.message).toMatch(/only for create-account/);
    }
    const requestsAfter = await s.api<{ requests: unknown[] }>(mia.as, 'GET', '/api/requests?limit=200');
    expect(requestsAfter.body.requests).toHaveLength(requestsBefore.body.requests.length);
  });

  it('lets an owner ask for access for their non-human identity, and nobody else', async () => {
    const stranger = await s.api<ErrorBody>(zed.as, 'POST', '/api/requests', { for: { nhi: bot.id }, connector: s.connector.name, kind: 'create-account', accountName: account('etl'), justification: 'x' });
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.message).toMatch(/do not own the non-human identity ETL bot/);
    const notNhi = await s.api<ErrorBody>(dana.as, 'POST', '/api/requests', { for: { nhi: zed.id }, connector: s.connector.name, kind: 'create-account', accountName: 'x', justification: 'x' });
    expect(notNhi).toMatchObject({ status: 400, body: { error: { field: 'for.nhi' } } });
    const owned = await s.api<{ id: string }>(dana.as, 'POST', '/api/requests', { for: { nhi: bot.id }, connector: s.connector.name, kind: 'create-account', accountName: account('etl'), justification: 'the nightly load' });
    expect([201, 202]).toContain(owned.status);
    await s.waitForStatus(owned.body.id, ['applied']);
  });

  let danaAnalysts: string;
  let botAuditors: string;

  it('shows each person exactly what they may decide', async () => {
    danaAnalysts = (await s.api<{ id: string; status: string }>(dana.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, entitlement: analysts, justification: 'quarterly close' })).body.id;
    botAuditors = (await s.api<{ id: string }>(dana.as, 'POST', '/api/requests', { for: { nhi: bot.id }, connector: s.connector.name, entitlement: auditors, justification: 'reads the audit tables' })).body.id;
    await s.waitForStatus(danaAnalysts, ['awaiting-approval']);
    await s.waitForStatus(botAuditors, ['awaiting-approval']);
    const duplicate = await s.api<ErrorBody>(dana.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, entitlement: analysts, justification: 'again' });
    expect(duplicate.status).toBe(409);

    const inbox = async (p: ServerPerson) => {
      // The gate's record follows the workflow; wait until both requests are open there.
      const r = await s.api<{ approvals: InboxItem[] }>(p.as, 'GET', '/api/approvals');
      return r;
    };
    await waitForOpen([danaAnalysts, botAuditors]);
    const ids = async (p: ServerPerson) => (await inbox(p)).body.approvals.map((a) => a.id).sort();

    // Mia: Dana's manager (stage Manager of Dana's request) and a security approver (the bot's only stage).
    expect(await ids(mia)).toEqual([danaAnalysts, botAuditors].sort());
    // Sam: only the bot's request (he is nobody's manager).
    expect(await ids(sam)).toEqual([botAuditors]);
    // Dana: neither (one changes her access, the other is for what she owns, and she asked for both).
    expect(await ids(dana)).toEqual([]);
    // Zed and the admin are eligible for nothing here: their inboxes are empty.
    expect(await ids(zed)).toEqual([]);
    expect((await s.api<{ approvals: unknown[] }>(s.admin, 'GET', '/api/approvals')).body.approvals).toEqual([]);

    const item = (await inbox(mia)).body.approvals.find((a) => a.id === danaAnalysts)!;
    expect(item).toMatchObject({ subject: { id: dana.id }, entitlement: analysts, justification: 'quarterly close', stage: { name: 'Manager', quorum: 1, approvals: 0 }, eligibleAs: "the subject's manager", policy: { versionHash: policyHash } });
    expect(item.reasons[0]).toMatch(/analysts-manager-then-security/);
  });

  it('takes decisions through the API, refusing the ineligible with the reason, and applies what is approved', async () => {
    const own = await s.api<ErrorBody>(dana.as, 'POST', `/api/approvals/${botAuditors}/decision`, { verdict: 'approve', reason: 'mine' });
    expect(own.status).toBe(403);
    expect(own.body.error.message).toMatch(/your own access|you requested this change/);
    expect((await s.api<ErrorBody>(zed.as, 'POST', `/api/approvals/${danaAnalysts}/decision`, { verdict: 'approve', reason: 'x' })).status).toBe(403);
    expect((await s.api<ErrorBody>(sam.as, 'POST', `/api/approvals/${danaAnalysts}/decision`, { verdict: 'approve', reason: 'x' })).body.error.message).toMatch(/not an approver for stage "Manager"/);
    expect((await s.api<ErrorBody>(mia.as, 'POST', `/api/approvals/${danaAnalysts}/decision`, { verdict: 'approve' })).body.error.field).toBe('reason');

    const managerOk = await s.api<{ state: { stageName: string } }>(mia.as, 'POST', `/api/approvals/${danaAnalysts}/decision`, { verdict: 'approve', reason: 'she needs it for the close' });
    expect(managerOk.status).toBe(200);
    // Mia decided already; Sam may now decide the Security stage.
    await waitForStage(danaAnalysts, 'Security');
    expect((await s.api<{ approvals: InboxItem[] }>(mia.as, 'GET', '/api/approvals')).body.approvals.map((a) => a.id)).toEqual([botAuditors]);
    expect((await s.api<{ approvals: InboxItem[] }>(sam.as, 'GET', '/api/approvals')).body.approvals.map((a) => a.id).sort()).toEqual([danaAnalysts, botAuditors].sort());
    expect((await s.api(sam.as, 'POST', `/api/approvals/${danaAnalysts}/decision`, { verdict: 'approve', reason: 'reviewed' })).status).toBe(200);

    const done = await s.waitForStatus(danaAnalysts, ['applied']);
    expect(done).toMatchObject({ approval: { status: 'approved' }, decision: { effect: 'require-approval', policy: { versionHash: policyHash } } });
    expect(await s.membershipsOf(account('dana'))).toContain(analysts);
    expect((await s.api<ErrorBody>(sam.as, 'POST', `/api/approvals/${danaAnalysts}/decision`, { verdict: 'approve', reason: 'late' })).status).toBe(409);
  });

  it('simulates a draft against held access and pending requests before anyone publishes it', async () => {
    const draft = policy().replace(/ {2}- id: service-accounts-reviewed[\s\S]*$/, '');
    expect((await s.api(sam.as, 'POST', '/api/policies/simulate', { document: draft })).status).toBe(403);
    const report = await s.api<{ assignments: { differences: { ref: Record<string, string>; after: { effect: string } }[] }; pendingRequests: { differences: { ref: Record<string, string>; before: { effect: string }; after: { effect: string } }[] }; inForce: { versionHash: string } }>(
      s.admin,
      'POST',
      '/api/policies/simulate',
      { document: draft },
    );
    expect(report.status).toBe(200);
    expect(report.body.inForce.versionHash).toBe(policyHash);
    expect(report.body.pendingRequests.differences).toEqual([expect.objectContaining({ ref: expect.objectContaining({ requestId: botAuditors }), before: expect.objectContaining({ effect: 'require-approval' }), after: expect.objectContaining({ effect: 'deny' }) })]);
    expect(report.body.assignments.differences).toEqual([]);
    // Nothing was published.
    expect((await s.api<{ inForce: { versionHash: string } }>(s.admin, 'GET', '/api/policies')).body.inForce.versionHash).toBe(policyHash);
  });

  it('records a denial with its reason, and a denied request never reaches the target', async () => {
    expect((await s.api(sam.as, 'POST', `/api/approvals/${botAuditors}/decision`, { verdict: 'deny', reason: 'use the read replica instead' })).status).toBe(200);
    const denied = await s.waitForStatus(botAuditors, ['rejected']);
    expect(denied).toMatchObject({ approval: { status: 'denied', decisions: [expect.objectContaining({ verdict: 'deny', reason: 'use the read replica instead', userId: sam.as!.userId })] } });
    expect(await s.membershipsOf(account('etl'))).not.toContain(auditors);
    const ledger = createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
    const entries = (await ledger.query({ changeId: botAuditors, order: 'oldest' })).entries;
    expect(entries.find((e) => e.action === LEDGER_ACTIONS.denied)).toMatchObject({ actor: { kind: 'human', id: sam.as!.userId }, policy: { versionHash: policyHash }, details: { reason: 'use the read replica instead' } });
  });

  it('lists requests: reviewers see everything, everyone else their own and the ones about them', async () => {
    const list = async (p: ServerPerson | undefined, query = '') => (await s.api<{ requests: { id: string; status: string }[] }>(p?.as ?? s.admin, 'GET', `/api/requests${query}`)).body.requests.map((r) => r.id);
    const all = await list(undefined);
    expect(all).toEqual(expect.arrayContaining([danaAnalysts, botAuditors]));
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(await list(zed)).toEqual([]);
    // A person without a reviewing role sees their own request, and nothing of anyone else's.
    const nora = await s.person('nora', { name: 'Nora Newcomer', department: 'Engineering' });
    const hers = await s.api<{ id: string }>(nora.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, kind: 'create-account', accountName: account('nora'), justification: 'first day' });
    await s.waitForStatus(hers.body.id, ['applied']);
    expect(await list(nora)).toEqual([hers.body.id]);
    expect(await list(nora, '?mine=about-me')).toEqual([hers.body.id]);
    expect(await list(dana, '?status=rejected')).toEqual([botAuditors]);
    expect(await list(sam, `?subjectId=${dana.id}&status=applied`)).toEqual(expect.arrayContaining([danaAnalysts]));
    const page1 = await s.api<{ requests: { id: string }[]; nextCursor: string }>(s.admin, 'GET', '/api/requests?limit=2');
    const page2 = await s.api<{ requests: { id: string }[] }>(s.admin, 'GET', `/api/requests?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.requests.map((r) => r.id).some((id) => page1.body.requests.map((r) => r.id).includes(id))).toBe(false);
    expect((await s.api<ErrorBody>(s.admin, 'GET', '/api/requests?status=maybe')).body.error.field).toBe('status');
    expect((await s.api(zed.as, 'GET', `/api/requests/${danaAnalysts}`)).status).toBe(403);
    expect((await s.api(dana.as, 'GET', `/api/requests/${danaAnalysts}`)).status).toBe(200);
  });

  it('lets a manager with no Gatehouse role decide the stage the policy gives them, and nothing else', async () => {
    const max = await s.person('max', { name: 'Max Manager', department: 'Finance' });
    const ivy = await s.person('ivy', { name: 'Ivy Analyst', department: 'Finance', manager: max });
    const asked = (await s.api<{ id: string }>(ivy.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, entitlement: analysts, justification: 'budget review' })).body.id;
    await waitForOpen([asked]);
    const maxInbox = await s.api<{ approvals: InboxItem[] }>(max.as, 'GET', '/api/approvals');
    expect(maxInbox.body.approvals.map((a) => a.id)).toEqual([asked]);
    expect(maxInbox.body.approvals[0]).toMatchObject({ stage: { name: 'Manager' }, eligibleAs: "the subject's manager" });
    const decided = await s.api<{ state: { stageName: string } }>(max.as, 'POST', `/api/approvals/${asked}/decision`, { verdict: 'approve', reason: 'part of her role' });
    expect(decided.status).toBe(200);
    await waitForStage(asked, 'Security');
    // The Security stage is the security team's: Max is not in it, and cannot decide it.
    expect((await s.api<{ approvals: InboxItem[] }>(max.as, 'GET', '/api/approvals')).body.approvals).toEqual([]);
    const refused = await s.api<ErrorBody>(max.as, 'POST', `/api/approvals/${asked}/decision`, { verdict: 'approve', reason: 'again' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/not an approver for stage "Security"|already decided/);
    expect((await s.api(sam.as, 'POST', `/api/approvals/${asked}/decision`, { verdict: 'deny', reason: 'use the finance share instead' })).status).toBe(200);
    await s.waitForStatus(asked, ['rejected']);
    // Several round trips through the gate and the worker: well over a minute on a busy 2-core machine.
  }, 180_000);

  it('lets the requester or an admin withdraw a request waiting for approval, on record, and nobody else', async () => {
    const wes = await s.person('wes', { name: 'Wes Withdrawer', department: 'Engineering', manager: mia });
    const ask = async () => (await s.api<{ id: string; status: string }>(wes.as, 'POST', '/api/requests', { for: 'self', connector: s.connector.name, entitlement: analysts, justification: 'month end' })).body.id;
    const first = await ask();
    await waitForOpen([first]);
    const withdraw = (p: ServerPerson | undefined, id: string, body: unknown) => s.api<ErrorBody & { status: string; approval?: { status: string; closingReason?: string } }>(p?.as ?? s.admin, 'POST', `/api/requests/${id}/withdraw`, body);

    expect((await withdraw(zed, first, { reason: 'not mine' })).status).toBe(404);
    const notHers = await withdraw(dana, first, { reason: 'tidying up' });
    expect(notHers.status).toBe(403);
    expect(notHers.body.error).toMatchObject({ code: 'forbidden', details: { action: 'cancel', subject: 'AccessRequest' } });
    expect((await withdraw(wes, first, {})).body.error.field).toBe('reason');
    expect((await withdraw(wes, first, { reason: 'x', extra: 1 })).body.error.field).toBe('extra');
    expect((await s.api<{ approval: { status: string } }>(s.admin, 'GET', `/api/requests/${first}`)).body.approval.status).toBe('pending');

    const withdrawn = await withdraw(wes, first, { reason: 'asked for the wrong group' });
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.approval).toMatchObject({ status: 'cancelled', closingReason: expect.stringContaining('asked for the wrong group') });
    expect(await s.waitForStatus(first, ['cancelled'])).not.toHaveProperty('result');
    const again = await withdraw(wes, first, { reason: 'again' });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/no longer waiting for approval/);
    const ledger = createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
    const cancelled = (await ledger.query({ changeId: first, order: 'oldest' })).entries.filter((e) => e.action === LEDGER_ACTIONS.requestCancelled);
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toMatchObject({ actor: { kind: 'human', id: wes.as!.userId } });
    expect(JSON.stringify(cancelled[0]!.details)).toContain('asked for the wrong group');

    // Withdrawn, the same change may be asked for again; an admin may withdraw anyone's.
    const second = await ask();
    await waitForOpen([second]);
    expect((await withdraw(undefined, second, { reason: 'the team was reorganised' })).body.approval).toMatchObject({ status: 'cancelled' });
    await s.waitForStatus(second, ['cancelled']);
    // A request that never waited at the gate has nothing to withdraw.
    const allowed = (await s.api<{ requests: { id: string }[] }>(s.admin, 'GET', '/api/requests?status=applied&limit=1')).body.requests[0]!.id;
    expect((await withdraw(undefined, allowed, { reason: 'too late' })).status).toBe(409);
    // Several round trips through the gate and the worker: well over a minute on a busy 2-core machine.
  }, 180_000);

  async function waitForOpen(ids: string[]) {
    const { waitUntil } = await import('../helpers/access-world.js');
    await waitUntil('the requests to be open at the gate', async () => {
      const r = await s.api<{ requests: { id: string; approval?: { status: string } }[] }>(s.admin, 'GET', '/api/requests?status=awaiting-approval&limit=200');
      return ids.every((id) => r.body.requests.find((x) => x.id === id)?.approval?.status === 'pending') ? true : undefined;
    });
  }

  async function waitForStage(id: string, stage: string) {
    const { waitUntil } = await import('../helpers/access-world.js');
    await waitUntil(`request ${id} at stage ${stage}`, async () => {
      const r = await s.api<{ approval?: { stage?: string } }>(s.admin, 'GET', `/api/requests/${id}`);
      return r.body.approval?.stage === stage ? true : undefined;
    });
  }
});
