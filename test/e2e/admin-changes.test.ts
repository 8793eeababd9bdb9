// Governance of the governance (issue 12, item 8), in a running Gatehouse (its embedded worker, real
// PostgreSQL, Vault and Temporal): the first policy is the recorded bootstrap; after it, one admin
// alone cannot publish access policy. The publication waits as an admin change at the same approval
// gate as access changes, the proposer cannot approve it, a second admin can, and only then is it in
// force, with the approvals on the ledger. A policy can relax or tighten that rule for itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { waitUntil } from '../helpers/access-world.js';
import { startAccessServer, type AccessServer } from '../helpers/access-server.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
interface AdminChange {
  id: string;
  status: string;
  summary: string;
  reasons: string[];
  stage?: { name: string };
  decisions: { userId: string; verdict: string }[];
  closingReason?: string;
  youMayDecide?: { allowed: boolean; reason?: string; as?: string };
}

const policy = (name: string, extra = '') => `
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: ${name}
rules:
  - { id: accounts, match: { kinds: [create-account] }, effect: allow }
${extra}`;

describe('admin changes: publishing access policy needs a second admin', () => {
  let s: AccessServer;
  let bea: PersonCredentials; // a second admin
  let zed: PersonCredentials; // signed in, no role
  const ledger = () => createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
  const inForce = async () => (await s.api<{ inForce: { versionHash: string; name: string } | null }>(s.admin, 'GET', '/api/policies')).body.inForce;
  const closed = (id: string) =>
    waitUntil(`admin change ${id} to close`, async () => {
      const c = await s.api<AdminChange>(s.admin, 'GET', `/api/admin-changes/${id}`);
      return c.body.status === 'pending' ? undefined : c.body;
    });
  /** Decides once the gate has opened (until then the server answers 409 "still opening"). */
  const decide = (as: PersonCredentials, id: string, verdict: 'approve' | 'deny', reason: string) =>
    waitUntil(`a decision on ${id}`, async () => {
      const r = await s.api<ErrorBody>(as, 'POST', `/api/admin-changes/${id}/decision`, { verdict, reason });
      return r.status === 409 && r.body.error.message.includes('still opening') ? undefined : r;
    });

  /** An API call, naming an approved admin change when `change` is given. */
  const call = async (as: PersonCredentials, path: string, body: unknown, change?: string, method = 'POST') => {
    const res = await fetch(`${s.gatehouse.url}${path}`, {
      method,
      headers: { ...as.headers(), 'content-type': 'application/json', ...(change ? { 'gatehouse-admin-change': change } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & ErrorBody };
  };
  const approved = (id: string) =>
    waitUntil(`admin change ${id} to be approved`, async () => ((await s.api<AdminChange>(s.admin, 'GET', `/api/admin-changes/${id}`)).body.status === 'approved' ? true : undefined));

  beforeAll(async () => {
    s = await startAccessServer();
    const callers = testCallers(s.orm);
    bea = await callers.person(['admin'], 'Bea Admin');
    zed = await callers.person([], 'Zed Bystander');
  });

  afterAll(async () => {
    await s?.close();
  });

  it('publishes the first policy at once and records it as the bootstrap', async () => {
    const first = await s.api<{ published: boolean; publication: { versionHash: string } }>(s.admin, 'POST', '/api/policies', { document: policy('acme-v1') });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const [entry] = (await ledger().query({ action: 'policy.published' })).entries;
    expect(entry?.details).toMatchObject({ versionHash: first.body.publication.versionHash, bootstrap: true });
  });

  it('holds a later publication until a second admin approves it; the proposer and people without the role cannot', async () => {
    const before = await inForce();
    const proposed = await s.api<{ published: boolean; awaitingApproval: AdminChange }>(s.admin, 'POST', '/api/policies', { document: policy('acme-v2'), note: 'tighten accounts' });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(202);
    expect(proposed.body.published).toBe(false);
    const change = proposed.body.awaitingApproval;
    expect(change.status).toBe('pending');
    expect(change.reasons[0]).toContain("second admin's approval");
    expect(await inForce()).toEqual(before);

    // The proposer is told why not, and so is someone the stage does not name.
    const own = await decide(s.admin, change.id, 'approve', 'looks fine to me');
    expect(own.status).toBe(403);
    expect(own.body.error.message).toContain('you proposed this admin change');
    const bystander = await decide(zed, change.id, 'approve', 'sure');
    expect(bystander.status).toBe(403);
    expect(bystander.body.error.message).toContain('role admin');
    const asProposer = await s.api<AdminChange>(s.admin, 'GET', `/api/admin-changes/${change.id}`);
    expect(asProposer.body.youMayDecide).toMatchObject({ allowed: false });
    const asBea = await s.api<AdminChange>(bea, 'GET', `/api/admin-changes/${change.id}`);
    expect(asBea.body.youMayDecide).toMatchObject({ allowed: true, as: 'role admin' });

    const approved = await decide(bea, change.id, 'approve', 'reviewed the diff');
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const done = await closed(change.id);
    expect(done.status, done.closingReason).toBe('applied');
    expect((await inForce())?.name).toBe('acme-v2');

    // The ledger holds the proposal, the approval and the publication that names both.
    const entries = (await ledger().query({ changeId: change.id, order: 'oldest' })).entries.map((e) => e.action);
    expect(entries).toEqual(expect.arrayContaining(['admin.change.proposed', 'admin.change.approved', 'admin.change.closed', 'admin.change.applied']));
    const published = (await ledger().query({ action: 'policy.published' })).entries.find((e) => (e.details as { adminChange?: string }).adminChange === change.id);
    expect(published?.actor.id).toBe(s.admin.userId);
    expect((published?.details as { approvedBy: { userId: string }[] }).approvedBy.map((a) => a.userId)).toEqual([bea.userId]);
  });

  it('publishes nothing when the second admin denies', async () => {
    const before = await inForce();
    const proposed = await s.api<{ awaitingApproval: AdminChange }>(s.admin, 'POST', '/api/policies', { document: policy('acme-v3') });
    expect(proposed.status).toBe(202);
    expect((await decide(bea, proposed.body.awaitingApproval.id, 'deny', 'not this quarter')).status).toBe(200);
    const done = await closed(proposed.body.awaitingApproval.id);
    expect(done.status).toBe('denied');
    expect(await inForce()).toEqual(before);
  });

  it('refuses an approved proposal when another version was published since it was proposed', async () => {
    const a = await s.api<{ awaitingApproval: AdminChange }>(s.admin, 'POST', '/api/policies', { document: policy('acme-v4a') });
    const b = await s.api<{ awaitingApproval: AdminChange }>(s.admin, 'POST', '/api/policies', { document: policy('acme-v4b') });
    expect((await decide(bea, a.body.awaitingApproval.id, 'approve', 'ok')).status).toBe(200);
    expect((await closed(a.body.awaitingApproval.id)).status).toBe('applied');
    expect((await decide(bea, b.body.awaitingApproval.id, 'approve', 'ok too')).status).toBe(200);
    const late = await closed(b.body.awaitingApproval.id);
    expect(late.status).toBe('failed');
    expect(late.closingReason).toContain('not applied');
    expect((await inForce())?.name).toBe('acme-v4a');
  });

  it('follows what the policy in force says about publishing: allow, once that rule was itself approved', async () => {
    const relaxed = policy('acme-v5', 'administration:\n  publishPolicy: { effect: allow }\n');
    const proposed = await s.api<{ awaitingApproval: AdminChange }>(s.admin, 'POST', '/api/policies', { document: relaxed });
    expect(proposed.status).toBe(202);
    await decide(bea, proposed.body.awaitingApproval.id, 'approve', 'we accept single-admin publication in the lab');
    expect((await closed(proposed.body.awaitingApproval.id)).status).toBe('applied');

    const direct = await s.api<{ published: boolean }>(s.admin, 'POST', '/api/policies', { document: policy('acme-v6') });
    expect(direct.status, JSON.stringify(direct.body)).toBe(201);
    const [entry] = (await ledger().query({ action: 'policy.published' })).entries;
    expect(String((entry?.details as { authority?: string }).authority)).toContain('allows publishing access policy without approval (administration.publishPolicy)');
  });

  it('holds token creation for approval when the policy says so, and then makes exactly the approved call once, for its proposer', async () => {
    await s.publish(
      policy(
        'acme-tokens',
        `administration:
  createApiTokens: { effect: require-approval, approval: { stages: [{ name: Second admin, approvers: [{ role: admin }] }] } }
  createScimTokens: { effect: require-approval, approval: { stages: [{ name: Second admin, approvers: [{ role: admin }] }] } }
`,
      ),
    );
    const tokenBody = { name: 'ci-monitoring', scopes: ['read:System'], expiresInDays: 7 };
    const held = await call(s.admin, '/api/tokens', tokenBody);
    expect(held.status, JSON.stringify(held.body)).toBe(202);
    const id = (held.body.awaitingApproval as AdminChange).id;
    expect(String(held.body.next)).toContain(`gatehouse-admin-change: ${id}`);
    const names = async () => (await s.api<{ tokens: { name: string }[] }>(s.admin, 'GET', '/api/tokens')).body.tokens.map((t) => t.name);
    expect(await names()).not.toContain('ci-monitoring');
    expect((await call(s.admin, '/api/tokens', tokenBody, id)).body.error.message).toContain('is pending, not approved');

    expect((await decide(bea, id, 'approve', 'monitoring needs it')).status).toBe(200);
    await approved(id);
    const byOther = await call(bea, '/api/tokens', tokenBody, id);
    expect(byOther.status).toBe(403);
    expect(byOther.body.error.message).toContain('only its proposer makes the approved call');
    const other = await call(s.admin, '/api/tokens', { ...tokenBody, scopes: ['read:System', 'read:Run'] }, id);
    expect(other.status).toBe(409);
    expect(other.body.error.message).toContain('is not the one approved');

    const made = await call(s.admin, '/api/tokens', tokenBody, id);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(String(made.body.token)).toMatch(/^gatehouse_/);
    expect(await names()).toContain('ci-monitoring');
    const again = await call(s.admin, '/api/tokens', tokenBody, id);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('already made');
    const entries = (await ledger().query({ changeId: id, order: 'oldest' })).entries.map((e) => e.action);
    expect(entries).toEqual(expect.arrayContaining(['admin.change.proposed', 'admin.change.approved', 'admin.change.closed', 'admin.change.applied']));

    // SCIM tokens for an identity provider, the same way.
    const scim = await call(s.admin, `/api/directories/${s.directoryId}/tokens`, { label: 'second IdP' });
    expect(scim.status, JSON.stringify(scim.body)).toBe(202);
    expect((scim.body.awaitingApproval as AdminChange).summary).toContain(`POST /api/directories/${s.directoryId}/tokens`);
  });

  it('holds connector changes for approval without storing their secrets; the proposer gives them again with the approved call', async () => {
    await s.publish(policy('acme-connectors', 'administration:\n  changeConnectors: { effect: require-approval, approval: { stages: [{ name: Second admin, approvers: [{ role: admin }] }] } }\n'));
    const config = s.target.config();
    const body = { name: 'crm-db', type: 'postgresql', config };
    const held = await call(s.admin, '/api/connectors', body);
    expect(held.status, JSON.stringify(held.body)).toBe(202);
    const id = (held.body.awaitingApproval as AdminChange).id;
    // The password is nowhere in what the proposal stored or recorded.
    const stored = await s.orm.em.fork().getConnection().execute<{ payload: string }[]>('SELECT payload::text AS payload FROM admin_change WHERE id = ?', [id]);
    expect(stored[0]!.payload).toContain('"host"');
    expect(stored[0]!.payload).not.toContain(String(config.password));
    const recorded = await s.orm.em.fork().getConnection().execute<{ n: number }[]>("SELECT count(*)::int AS n FROM ledger_entry WHERE entry LIKE ?", [`%${String(config.password)}%`]);
    expect(recorded[0]!.n).toBe(0);
    expect((await s.api<{ connectors: { name: string }[] }>(s.admin, 'GET', '/api/connectors')).body.connectors.map((c) => c.name)).not.toContain('crm-db');

    await decide(bea, id, 'approve', 'new CRM database');
    await approved(id);
    // Another host than the one approved is another call.
    expect((await call(s.admin, '/api/connectors', { ...body, config: { ...config, host: 'db.elsewhere.test' } }, id)).status).toBe(409);
    const made = await call(s.admin, '/api/connectors', body, id);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body.secrets).toEqual({ password: { set: true } });

    const removal = await call(s.admin, `/api/connectors/${String(made.body.id)}`, undefined, undefined, 'DELETE');
    expect(removal.status).toBe(202);
  });

  it('expires an approved call its proposer did not make within seven days, on record', async () => {
    const removal = await call(s.admin, '/api/connectors/crm-db', undefined, undefined, 'DELETE');
    expect(removal.status).toBe(202);
    const id = (removal.body.awaitingApproval as AdminChange).id;
    await decide(bea, id, 'approve', 'decommissioned');
    await approved(id);
    // Stand-in for eight days passing: the approval's time is moved back in the database.
    await s.orm.em.fork().getConnection().execute("UPDATE admin_change SET closed_at = now() - interval '8 days' WHERE id = ?", [id]);
    const late = await call(s.admin, '/api/connectors/crm-db', undefined, id, 'DELETE');
    expect(late.status).toBe(409);
    expect(late.body.error.message).toContain('was not used within 7 days; propose it again');
    expect((await s.api<AdminChange>(s.admin, 'GET', `/api/admin-changes/${id}`)).body.status).toBe('expired');
    expect((await s.api(s.admin, 'GET', '/api/connectors/crm-db')).status).toBe(200);
    const expired = (await ledger().query({ changeId: id, action: 'admin.change.expired' })).entries;
    expect(expired).toHaveLength(1);
  });

  it('lists admin changes for policy readers, and refuses bad input with the field named', async () => {
    const list = await s.api<{ adminChanges: AdminChange[] }>(s.admin, 'GET', '/api/admin-changes?status=applied');
    expect(list.body.adminChanges.length).toBeGreaterThanOrEqual(4);
    expect(list.body.adminChanges.every((c) => c.status === 'applied')).toBe(true);
    expect((await s.api(zed, 'GET', '/api/admin-changes')).status).toBe(403);
    const bad = await s.api<ErrorBody>(s.admin, 'GET', '/api/admin-changes?status=maybe');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('status');
    expect((await s.api(bea, 'POST', `/api/admin-changes/${crypto.randomUUID()}/decision`, { verdict: 'approve', reason: 'x' })).status).toBe(404);
  });
});
