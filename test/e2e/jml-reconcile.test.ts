// Reconciliation on a Temporal Schedule per connector: access changed on the targets behind
// Gatehouse's back is found (what Gatehouse applied against what the target holds), reported on the
// ledger and through the runs API, and, where the policy says `reconcile: correct`, corrected with
// changes that are decided and applied like any other. Real PostgreSQL and OpenLDAP targets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribute, Change } from 'ldapts';
import { waitUntil } from '../helpers/access-world.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld, type RunBody } from '../helpers/jml-world.js';
import { syncReconcileSchedules } from '../../server/jml/reconcile-schedules.js';
import { reconcileScheduleId } from '../../workflows/reconcile/workflow.js';

type ReconcileRun = RunBody & { drift: { mode: string; items: { kind: string; entitlementId?: string; accountName: string }[]; unmanagedAccounts: number; managedAccounts: number } };

describe('reconciliation per connector', () => {
  let w: JmlWorld;
  let rex: string;

  beforeAll(async () => {
    w = await startJmlWorld();
    const policy = birthrightPolicy(w).replace(`  - { connector: ${w.connectors.pg.name} }`, `  - { connector: ${w.connectors.pg.name}, reconcile: correct }`);
    expect(policy).toContain('reconcile: correct');
    await w.publish(policy);
    rex = await w.join({ key: 'rex', name: 'Rex Reconciled', department: 'Engineering' });
    expect(await w.waitForRun(rex)).toMatchObject({ status: 'completed' });
  });

  afterAll(async () => {
    await w?.close();
  });

  const reconcileRuns = async (connectorId: string) => (await w.api<{ runs: RunBody[] }>(w.admin, 'GET', `/api/runs?kind=reconcile&connector=${connectorId}`)).body.runs;
  const passOf = async (connectorId: string, n: number) => {
    await w.temporal.client.schedule.getHandle(reconcileScheduleId(connectorId)).trigger();
    const run = await waitUntil(`reconciliation pass ${n} of ${connectorId}`, async () => {
      const runs = await reconcileRuns(connectorId);
      return runs.length >= n && runs[0]!.status !== 'running' ? runs[0] : undefined;
    });
    return (await w.run(run.id)) as ReconcileRun;
  };

  it('keeps one Temporal Schedule per connector', async () => {
    await syncReconcileSchedules({ orm: w.orm, client: w.temporal.client, taskQueue: w.temporal.taskQueue, everyMinutes: 60 });
    for (const c of [w.connectors.pg, w.connectors.ldap]) {
      const d = await w.temporal.client.schedule.getHandle(reconcileScheduleId(c.id)).describe();
      expect(d.spec.intervals?.[0]?.every).toBe(3_600_000);
      expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'reconcileConnectorWorkflow', args: [{ connectorId: c.id }] });
    }
  });

  it('finds nothing to report when the targets are as Gatehouse left them', async () => {
    const run = await passOf(w.connectors.pg.id, 1);
    expect(run).toMatchObject({ kind: 'reconcile', status: 'completed', steps: [] });
    expect(run.drift).toMatchObject({ mode: 'correct', managedAccounts: 1, items: [] });
    expect(run.drift.unmanagedAccounts).toBeGreaterThan(0);
  });

  it('corrects drift on PostgreSQL, where the policy says correct: a revoked role granted back, a role granted outside revoked', async () => {
    const login = w.login('rex');
    await w.pgAdmin(async (c) => {
      await c.query(`REVOKE ${c.escapeIdentifier(w.pg.groups.analysts)} FROM ${c.escapeIdentifier(login)}`);
      await c.query(`GRANT ${c.escapeIdentifier(w.pg.groups.auditors)} TO ${c.escapeIdentifier(login)}`);
    });
    const run = await passOf(w.connectors.pg.id, 2);
    expect(run.drift.items.map((i) => `${i.kind} ${i.entitlementId}`).sort()).toEqual([`entitlement-missing ${w.pg.groups.analysts}`, `entitlement-unexpected ${w.pg.groups.auditors}`]);
    expect(run.status).toBe('completed');
    expect(run.steps.map((s) => `${s.kind} ${s.entitlementId} ${s.status}`).sort()).toEqual([`grant ${w.pg.groups.analysts} applied`, `revoke ${w.pg.groups.auditors} applied`]);
    expect(await w.pgGroupsOf(login)).toEqual([w.pg.groups.analysts]);
    const actions = run.timeline!.map((e) => e.action);
    expect(actions).toContain('reconcile.drift.detected');
    expect(actions.filter((a) => a === 'access.change.applied')).toHaveLength(2);
    expect(actions.indexOf('reconcile.drift.detected')).toBeLessThan(actions.indexOf('access.change.decided'));
  });

  it('reports drift on LDAP without changing it (reconcile: report, the default)', async () => {
    const login = w.login('rex');
    await w.ldapRoot((c) => c.modify(`cn=engineers,${w.ldap.groupsDn}`, [new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [`uid=${login},${w.ldap.usersDn}`] }) })]));
    const run = await passOf(w.connectors.ldap.id, 1);
    expect(run.drift).toMatchObject({ mode: 'report', items: [{ kind: 'entitlement-missing', entitlementId: 'engineers', accountName: login }] });
    expect(run).toMatchObject({ status: 'completed', steps: [] });
    expect(await w.ldapGroupsOf(login)).toEqual(['vpn']);
    const detected = run.timeline!.find((e) => e.action === 'reconcile.drift.detected')!;
    expect(detected.details).toMatchObject({ mode: 'report', drift: 1 });
  });

  it('an admin’s retry of a reconciliation starts a pass now', async () => {
    const [last] = await reconcileRuns(w.connectors.ldap.id);
    expect((await w.api(w.admin, 'POST', `/api/runs/${last!.id}/retry`)).status).toBe(202);
    await waitUntil('the second LDAP pass', async () => ((await reconcileRuns(w.connectors.ldap.id)).filter((r) => r.status !== 'running').length >= 2 ? true : undefined));
  });
});
