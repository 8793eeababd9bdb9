// Birthright that policy gates: the joiner's run waits at the approval gate (a person decides in the
// inbox), and the grant is applied only when approved; a denied or expired grant is recorded and
// not applied, and the rest of the run goes on; an admin's cancel closes the gate on record and
// undoes what the run had applied. All real: SCIM over HTTP, Temporal, PostgreSQL and LDAP targets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/access-world.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

describe('gated birthright: approved, denied, expired, cancelled', () => {
  let w: JmlWorld;
  let sam: PersonCredentials; // a security approver

  beforeAll(async () => {
    w = await startJmlWorld();
    sam = await testCallers(w.orm).person(['security-approver'], 'Sam Security', 'sam@security.test');
    const pg = w.connectors.pg.name;
    await w.publish(
      birthrightPolicy(w, {
        rules: `  - id: analysts-gated
    match: { kinds: [grant], entitlements: ["${pg}:${w.pg.groups.analysts}"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 1h }] }
  - id: auditors-gated
    match: { kinds: [grant], entitlements: ["${pg}:${w.pg.groups.auditors}"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 3s }] }`,
      }),
    );
  });

  afterAll(async () => {
    await w?.close();
  });

  const inboxItemFor = (identityId: string) =>
    waitUntil(`an approval request for ${identityId}`, async () => {
      const r = await w.api<{ approvals: { id: string; subject: { id: string }; entitlement: string | { id: string } }[] }>(sam, 'GET', '/api/approvals');
      return r.body.approvals.find((a) => a.subject.id === identityId);
    });

  it('waits at the gate; the grant is applied once a security approver approves', async () => {
    const eve = await w.join({ key: 'eve', name: 'Eve Engineer', department: 'Engineering' });
    const item = await inboxItemFor(eve);
    const [running] = await w.runsOf(eve);
    expect(running).toMatchObject({ status: 'running', kind: 'joiner' });
    const midway = await w.run(running!.id);
    expect(midway.workflow).toMatchObject({ status: 'RUNNING' });
    expect(midway.timeline!.map((e) => e.action)).toContain('access.request.opened');
    expect(await w.pgGroupsOf(w.login('eve'))).toEqual([]);

    const decided = await w.api(sam, 'POST', `/api/approvals/${item.id}/decision`, { verdict: 'approve', reason: 'birthright for engineering' });
    expect(decided.status).toBe(200);
    const run = await w.waitForRun(eve);
    expect(run.status).toBe('completed');
    expect(run.steps.find((s) => s.entitlementId === w.pg.groups.analysts)).toMatchObject({ status: 'applied' });
    expect(await w.pgGroupsOf(w.login('eve'))).toEqual([w.pg.groups.analysts]);
    const gated = run.timeline!.filter((e) => e.correlation?.changeId === item.id).map((e) => e.action);
    expect(gated.indexOf('access.request.approved') >= 0 || gated.some((a) => a.startsWith('access.request.'))).toBe(true);
    expect(gated.indexOf('access.change.applied')).toBeGreaterThan(gated.indexOf('access.change.decided'));
  });

  it('a denied grant is recorded and not applied; the rest of the joiner is', async () => {
    const finn = await w.join({ key: 'finn', name: 'Finn Engineer', department: 'Engineering' });
    const item = await inboxItemFor(finn);
    expect((await w.api(sam, 'POST', `/api/approvals/${item.id}/decision`, { verdict: 'deny', reason: 'not this quarter' })).status).toBe(200);
    const run = await w.waitForRun(finn);
    expect(run.status).toBe('partial');
    expect(run.steps.map((s) => s.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'rejected']);
    expect(await w.pgRoleExists(w.login('finn'))).toBe(true);
    expect(await w.pgGroupsOf(w.login('finn'))).toEqual([]);
    expect(await w.ldapGroupsOf(w.login('finn'))).toEqual(['engineers', 'vpn']);
    const actions = run.timeline!.filter((e) => e.correlation?.changeId === item.id).map((e) => e.action);
    expect(actions).not.toContain('access.change.applied');
  });

  it('an expired grant is recorded and not applied', async () => {
    const fay = await w.join({ key: 'fay', name: 'Fay Finance', department: 'Finance' });
    const run = await w.waitForRun(fay);
    expect(run.status).toBe('partial');
    expect(run.steps.find((s) => s.entitlementId === w.pg.groups.auditors)).toMatchObject({ status: 'expired' });
    expect(await w.pgGroupsOf(w.login('fay'))).toEqual([]);
    expect(await w.ldapGroupsOf(w.login('fay'))).toEqual(['finance', 'vpn']);
  });

  it('an admin cancels a run waiting at the gate: the gate closes as cancelled and the run’s changes are undone, newest first', async () => {
    const gus = await w.join({ key: 'gus', name: 'Gus Engineer', department: 'Engineering' });
    const item = await inboxItemFor(gus);
    const [running] = await w.runsOf(gus);
    const refused = await w.api(sam, 'POST', `/api/runs/${running!.id}/cancel`, { reason: 'wrong person' });
    expect(refused.status).toBe(403);
    expect((await w.api(w.admin, 'POST', `/api/runs/${running!.id}/cancel`, { reason: 'hired by mistake' })).status).toBe(202);
    const run = await w.waitForRun(gus);
    expect(run.status).toBe('cancelled');
    expect(run.error?.message).toMatch(/hired by mistake/);
    expect(run.steps.filter((s) => s.status === 'applied').map((s) => s.compensation)).toEqual(['compensated', 'compensated', 'compensated', 'compensated']);
    expect(await w.pgRoleExists(w.login('gus'))).toBe(false);
    expect(await w.ldapAccount(w.login('gus'))).toEqual({ exists: false, locked: false });
    const compensations = run.timeline!.filter((e) => e.action === 'access.change.compensated').map((e) => run.steps.find((s) => s.changeId === e.correlation?.changeId)!.kind);
    expect(compensations).toEqual(['grant', 'grant', 'create-account', 'create-account']);
    const gate = await w.temporal.client.workflow.getHandle(`approval:${item.id}`).result();
    expect(gate).toMatchObject({ status: 'cancelled' });
  });

  it('a leaver is not queued behind a pending grant: the waiting run is superseded, its gate closed, and the leaver runs', async () => {
    const hal = await w.join({ key: 'hal', name: 'Hal Engineer', department: 'Engineering' });
    const item = await inboxItemFor(hal);
    await w.patch(hal, [{ op: 'replace', path: 'active', value: false }]);
    const first = await w.waitForRun(hal, 1);
    expect(first.status).toBe('superseded');
    expect(first.steps.slice(0, 4).map((s) => s.status)).toEqual(['applied', 'applied', 'applied', 'applied']);
    const gate = await w.temporal.client.workflow.getHandle(`approval:${item.id}`).result();
    expect(gate).toMatchObject({ status: 'cancelled' });
    const leaver = await w.waitForRun(hal, 2);
    expect(leaver).toMatchObject({ kind: 'leaver', status: 'completed' });
    expect(await w.pgCanLogIn(w.login('hal'))).toBe(false);
    expect(await w.pgGroupsOf(w.login('hal'))).toEqual([]);
    expect(await w.ldapGroupsOf(w.login('hal'))).toEqual([]);
    expect(await w.ldapAccount(w.login('hal'))).toEqual({ exists: true, locked: true });
  });
});
