// Joiner, mover and leaver end to end, all real: a person POSTed over SCIM through the HTTP endpoint
// reaches the ledger, the dispatcher signals their workflow, birthright from the published policy is
// planned, and every change is decided, applied and recorded on a PostgreSQL target and an OpenLDAP
// target. Then a move (grants before revokes), a group from the identity provider, a duplicate
// delivery (one effect), and a leave (accounts disabled, every entitlement revoked, and the
// non-human identity the leaver owned handed to their manager and its credential rotated). The runs
// API shows each run with its ledger timeline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPg } from '../helpers/services.js';
import { canLogInToPostgres } from '../helpers/postgres-target.js';
import { historyText } from '../helpers/temporal-history.js';
import { waitUntil } from '../helpers/access-world.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';

describe('joiner, mover, leaver from SCIM to PostgreSQL and LDAP', () => {
  let w: JmlWorld;
  let dana: string;
  let mia: string; // Dana's manager
  const login = () => w.login('dana');

  beforeAll(async () => {
    w = await startJmlWorld();
    await w.publish(
      birthrightPolicy(w, {
        birthrightRules: `    - id: analytics
      when: { groups: [Analytics] }
      entitlements: ["${w.connectors.pg.name}:${w.pg.groups.auditors}"]`,
      }),
    );
  });

  afterAll(async () => {
    await w?.close();
  });

  it('a joiner gets accounts and birthright on both targets, each change decided and applied on record', async () => {
    mia = await w.join({ key: 'mia', name: 'Mia Manager' });
    await w.waitForRun(mia);
    dana = await w.join({ key: 'dana', name: 'Dana Developer', department: 'Engineering', manager: mia });
    const run = await w.waitForRun(dana);
    expect(run).toMatchObject({ kind: 'joiner', status: 'completed', eventKind: 'created' });
    expect(run.steps.map((s) => `${s.kind} ${s.connectorName}${s.entitlementId ? `:${s.entitlementId}` : ''} ${s.status}`)).toEqual([
      `create-account ${w.connectors.ldap.name} applied`,
      `create-account ${w.connectors.pg.name} applied`,
      `grant ${w.connectors.ldap.name}:engineers applied`,
      `grant ${w.connectors.ldap.name}:vpn applied`,
      `grant ${w.connectors.pg.name}:${w.pg.groups.analysts} applied`,
    ]);
    expect(await w.pgRoleExists(login())).toBe(true);
    expect(await w.pgGroupsOf(login())).toEqual([w.pg.groups.analysts]);
    expect(await w.ldapAccount(login())).toEqual({ exists: true, locked: false });
    expect(await w.ldapGroupsOf(login())).toEqual(['engineers', 'vpn']);

    // The timeline: the SCIM event's run opened, then for every change its decision before its apply, then the run closed.
    const actions = run.timeline!.map((e) => e.action);
    expect(actions[0]).toBe('jml.run.started');
    expect(actions[actions.length - 1]).toBe('jml.run.finished');
    for (const step of run.steps) {
      const mine = run.timeline!.filter((e) => e.correlation?.changeId === step.changeId).map((e) => e.action);
      expect(mine.indexOf('access.change.decided')).toBeGreaterThanOrEqual(0);
      expect(mine.indexOf('access.change.applied')).toBeGreaterThan(mine.indexOf('access.change.decided'));
    }
    expect(run.workflow).toMatchObject({ status: 'RUNNING' });
  });

  it('the same SCIM event delivered again has no effect, even after the workflow is gone', async () => {
    const [event] = await withPg(w.db.superuserUrl, async (c) => (await c.query<{ id: string; seq: string }>("SELECT payload->>'id' AS id, seq::text FROM scim_outbox WHERE payload->>'resourceId' = $1 AND kind = 'created'", [dana])).rows);
    const journalBefore = await withPg(w.db.superuserUrl, async (c) => (await c.query('SELECT 1 FROM connector_operation')).rowCount);
    // Delivered again for real: the outbox row is marked undelivered, and the dispatcher hands it over once more.
    await withPg(w.db.superuserUrl, (c) => c.query('UPDATE scim_outbox SET delivered_at = NULL WHERE seq = $1', [event!.seq]));
    await waitUntil('the second delivery', async () => (await withPg(w.db.superuserUrl, async (c) => (await c.query<{ attempts: number; delivered: boolean }>('SELECT attempts, delivered_at IS NOT NULL AS delivered FROM scim_outbox WHERE seq = $1', [event!.seq])).rows[0]))?.delivered ? true : undefined);
    // And once more to a workflow that forgot it: the run's unique event id answers.
    await w.temporal.client.workflow.getHandle(`identity:${w.directoryId}:${dana}`).terminate('test: a workflow that lost its memory');
    await withPg(w.db.superuserUrl, (c) => c.query('UPDATE scim_outbox SET delivered_at = NULL WHERE seq = $1', [event!.seq]));
    await waitUntil('the third delivery', async () => (await withPg(w.db.superuserUrl, async (c) => (await c.query<{ delivered: boolean }>('SELECT delivered_at IS NOT NULL AS delivered FROM scim_outbox WHERE seq = $1', [event!.seq])).rows[0]))?.delivered ? true : undefined);
    const restarted = await w.temporal.client.workflow.getHandle(`identity:${w.directoryId}:${dana}`).describe();
    expect(restarted.status.name).toBe('RUNNING');
    await waitUntil('the restarted workflow to drop the event', async () => {
      const history = await w.temporal.client.workflow.getHandle(`identity:${w.directoryId}:${dana}`).fetchHistory();
      return history.events?.some((e) => e.activityTaskCompletedEventAttributes) ? true : undefined;
    });
    expect((await w.runsOf(dana)).length).toBe(1);
    expect(await withPg(w.db.superuserUrl, async (c) => (await c.query('SELECT 1 FROM connector_operation')).rowCount)).toBe(journalBefore);
    expect(await w.pgGroupsOf(login())).toEqual([w.pg.groups.analysts]);
  });

  it('a mover gets the new birthright before losing the old', async () => {
    await w.patch(dana, [{ op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', value: 'Finance' }]);
    const run = await w.waitForRun(dana, 2);
    expect(run).toMatchObject({ kind: 'mover', status: 'completed', eventKind: 'updated' });
    expect(run.steps.map((s) => `${s.kind} ${s.entitlementId}`)).toEqual([
      'grant finance',
      `grant ${w.pg.groups.auditors}`,
      'revoke engineers',
      `revoke ${w.pg.groups.analysts}`,
    ]);
    expect(await w.pgGroupsOf(login())).toEqual([w.pg.groups.auditors]);
    expect(await w.ldapGroupsOf(login())).toEqual(['finance', 'vpn']);
    // The grants were applied, on record, before the first revoke.
    const applied = run.timeline!.filter((e) => e.action === 'access.change.applied').map((e) => run.steps.find((s) => s.changeId === e.correlation?.changeId)!.kind);
    expect(applied).toEqual(['grant', 'grant', 'revoke', 'revoke']);
  });

  it('a group from the identity provider is birthright too', async () => {
    const bob = await w.join({ key: 'bob', name: 'Bob Builder', department: 'Engineering' });
    await w.waitForRun(bob);
    const group = await w.scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Analytics', members: [{ value: bob }] });
    expect(group.status).toBe(201);
    const run = await w.waitForRun(bob, 2);
    expect(run).toMatchObject({ kind: 'mover', status: 'completed', eventKind: 'updated' });
    expect(run.steps.map((s) => `${s.kind} ${s.entitlementId}`)).toEqual([`grant ${w.pg.groups.auditors}`]);
    expect(await w.pgGroupsOf(w.login('bob'))).toEqual([w.pg.groups.analysts, w.pg.groups.auditors].sort());
  });

  it('a leaver’s accounts are disabled and every entitlement revoked, on both targets; what they owned goes to their manager and is rotated', async () => {
    // Dana owns a non-human identity: the PostgreSQL connector's own login.
    const [connectorLogin] = (await withPg(w.db.superuserUrl, (c) => c.query<{ id: string }>("SELECT id FROM credential WHERE connector_id = $1 AND kind = 'connector-login'", [w.connectors.pg.id]))).rows;
    const owned = await w.api(w.admin, 'PATCH', `/api/credentials/${connectorLogin!.id}`, { owners: [{ directoryId: w.directoryId, userId: dana }] });
    expect(owned.status).toBe(200);
    const passwordBefore = (await w.vault.store.readKv(`gatehouse/connectors/${w.connectors.pg.id}`))!.data.password!;

    await w.patch(dana, [{ op: 'replace', path: 'active', value: false }]);
    const run = await w.waitForRun(dana, 3) as Awaited<ReturnType<JmlWorld['run']>> & { nhi?: { handedOver: { credentialId: string; outcome: string }[]; rotations: { credentialId: string; status: string }[] } };
    expect(run).toMatchObject({ kind: 'leaver', status: 'completed', eventKind: 'deactivated' });
    expect(run.steps.map((s) => `${s.kind} ${s.connectorName}${s.entitlementId ? `:${s.entitlementId}` : ''}`)).toEqual([
      `disable ${w.connectors.ldap.name}`,
      `disable ${w.connectors.pg.name}`,
      `revoke ${w.connectors.ldap.name}:finance`,
      `revoke ${w.connectors.ldap.name}:vpn`,
      `revoke ${w.connectors.pg.name}:${w.pg.groups.auditors}`,
    ]);
    expect(await w.pgGroupsOf(login())).toEqual([]);
    expect(await w.pgCanLogIn(login())).toBe(false);
    expect(await w.ldapGroupsOf(login())).toEqual([]);
    expect(await w.ldapAccount(login())).toEqual({ exists: true, locked: true });

    expect(run.nhi).toEqual({ handedOver: [{ credentialId: connectorLogin!.id, name: expect.any(String), outcome: 'reassigned' }], rotations: [{ credentialId: connectorLogin!.id, status: 'succeeded' }] });
    const credential = await w.api<{ owners: { userId: string }[] }>(w.admin, 'GET', `/api/credentials/${connectorLogin!.id}`);
    expect(credential.body.owners.map((o) => o.userId)).toEqual([mia]);
    const passwordAfter = (await w.vault.store.readKv(`gatehouse/connectors/${w.connectors.pg.id}`))!.data.password!;
    expect(passwordAfter).not.toBe(passwordBefore);
    expect(await canLogInToPostgres(w.pg, w.pg.admin.user, passwordBefore)).toBe(false);
    expect(await canLogInToPostgres(w.pg, w.pg.admin.user, passwordAfter)).toBe(true);

    // Promise 4: no secret in what Temporal stored for this person's workflow.
    const history = await historyText(w.temporal.client.workflow.getHandle(`identity:${w.directoryId}:${dana}`));
    expect(history).toContain(login());
    for (const secret of [passwordBefore, passwordAfter, w.ldap.admin.password, w.vault.token]) expect(history).not.toContain(secret);
  });

  it('lists runs by identity, status, kind and time, with 400s that name the parameter and 404s', async () => {
    const all = await w.api<{ runs: { id: string; identityId: string }[]; nextCursor?: string }>(w.admin, 'GET', `/api/runs?identity=${dana}`);
    expect(all.status).toBe(200);
    expect(all.body.runs.map((r) => r.identityId)).toEqual([dana, dana, dana]);
    expect((await w.api<{ runs: unknown[] }>(w.admin, 'GET', `/api/runs?identity=${mia}`)).body.runs).toHaveLength(1);
    const leavers = await w.api<{ runs: { kind: string }[] }>(w.admin, 'GET', `/api/runs?identity=identity:${w.directoryId}:${dana}&kind=leaver`);
    expect(leavers.body.runs.map((r) => r.kind)).toEqual(['leaver']);
    const page = await w.api<{ runs: { id: string }[]; nextCursor: string }>(w.admin, 'GET', `/api/runs?status=completed&limit=2`);
    expect(page.body.runs).toHaveLength(2);
    const next = await w.api<{ runs: { id: string }[] }>(w.admin, 'GET', `/api/runs?status=completed&limit=2&cursor=${page.body.nextCursor}`);
    expect(next.body.runs.length).toBeGreaterThan(0);
    expect(next.body.runs.map((r) => r.id)).not.toContain(page.body.runs[0]!.id);
    const future = await w.api<{ runs: unknown[] }>(w.admin, 'GET', `/api/runs?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`);
    expect(future.body.runs).toEqual([]);

    for (const [query, field] of [['status=sideways', 'status'], ['from=yesterday', 'from'], ['limit=0', 'limit'], ['cursor=not*a*cursor', 'cursor'], ['colour=red', '']] as const) {
      const bad = await w.api<{ error: { field?: string; message: string } }>(w.admin, 'GET', `/api/runs?${query}`);
      expect(bad.status, query).toBe(400);
      if (field) expect(bad.body.error.field, query).toBe(field);
    }
    expect((await w.api(w.admin, 'GET', '/api/runs/not-a-uuid')).status).toBe(400);
    expect((await w.api(w.admin, 'GET', '/api/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await w.api(w.admin, 'POST', '/api/runs/00000000-0000-4000-8000-000000000000/retry')).status).toBe(404);
    const runId = all.body.runs[0]!.id;
    const notRunning = await w.api<{ error: { message: string } }>(w.admin, 'POST', `/api/runs/${runId}/cancel`, { reason: 'changed my mind' });
    expect(notRunning.status).toBe(409);
    const noReason = await w.api<{ error: { field: string } }>(w.admin, 'POST', `/api/runs/${runId}/cancel`, {});
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.field).toBe('reason');
  });

  it('an admin’s retry runs the plan again from where things stand (nothing left to do), on record', async () => {
    const [last] = (await w.runsOf(dana)).slice(-1);
    const retried = await w.api<{ eventId: string }>(w.admin, 'POST', `/api/runs/${last!.id}/retry`);
    expect(retried.status).toBe(202);
    const run = await w.waitForRun(dana, 4);
    expect(run).toMatchObject({ kind: 'leaver', status: 'completed', eventKind: 'retry', steps: [] });
    expect(run.eventId).toBe(retried.body.eventId);
  });
});
