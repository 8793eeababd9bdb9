// The worker as a process of its own (`gatehouse worker`, as in production), killed with SIGKILL in
// the middle of a joiner, and started again: the run completes, and nothing is applied twice. The
// kill lands while the run waits at the approval gate with four of its five changes applied, so no
// activity is in flight (one would wait out its start-to-close timeout before Temporal retried it);
// the new process replays the workflow from its history and carries on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/access-world.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';
import { withPg } from '../helpers/services.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';
import type { CliRun } from '../helpers/cli.js';

describe('the worker process killed mid-run', () => {
  let w: JmlWorld;
  let worker: CliRun | undefined;
  let sam: PersonCredentials;

  beforeAll(async () => {
    w = await startJmlWorld({ embeddedWorker: false });
    sam = await testCallers(w.orm).person(['security-approver'], 'Sam Security', 'sam@security.test');
    await w.publish(
      birthrightPolicy(w, {
        rules: `  - id: analysts-gated
    match: { kinds: [grant], entitlements: ["${w.connectors.pg.name}:${w.pg.groups.analysts}"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 1h }] }`,
      }),
    );
  });

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await worker?.exited;
    await w?.close();
  });

  it('completes the run after a SIGKILL and a restart, with every change applied once', async () => {
    worker = w.spawnWorker();
    await worker.waitFor(/worker running/, 120_000);
    const ivy = await w.join({ key: 'ivy', name: 'Ivy Engineer', department: 'Engineering' });
    const approval = await waitUntil('the gated grant at the approval gate', async () => {
      const r = await w.api<{ approvals: { id: string; subject: { id: string } }[] }>(sam, 'GET', '/api/approvals');
      return r.body.approvals.find((a) => a.subject.id === ivy);
    });
    const [running] = await w.runsOf(ivy);
    expect(running!.status).toBe('running');

    worker.kill('SIGKILL');
    expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(await w.pgRoleExists(w.login('ivy'))).toBe(true);

    worker = w.spawnWorker();
    await worker.waitFor(/worker running/, 120_000);
    // The approval is an Update the new worker validates and records.
    expect((await w.api(sam, 'POST', `/api/approvals/${approval.id}/decision`, { verdict: 'approve', reason: 'engineering birthright' })).status).toBe(200);
    const run = await w.waitForRun(ivy);
    expect(run).toMatchObject({ status: 'completed', kind: 'joiner' });
    expect(run.steps.map((s) => s.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
    expect(await w.pgGroupsOf(w.login('ivy'))).toEqual([w.pg.groups.analysts]);
    expect(await w.ldapGroupsOf(w.login('ivy'))).toEqual(['engineers', 'vpn']);

    // Nothing twice: one journal entry per change, reached in one attempt; one applied entry per change.
    const journal = await withPg(w.db.superuserUrl, async (c) => (await c.query<{ key: string; status: string; attempts: number }>('SELECT idempotency_key AS key, status, attempts FROM connector_operation ORDER BY started_at')).rows);
    expect(journal.map((j) => j.key).sort()).toEqual(run.steps.map((s) => s.changeId).sort());
    expect(journal.every((j) => j.status === 'succeeded' && j.attempts === 1)).toBe(true);
    for (const step of run.steps) {
      expect(run.timeline!.filter((e) => e.action === 'access.change.applied' && e.correlation?.changeId === step.changeId)).toHaveLength(1);
    }
    // Two worker processes started cold (each bundles the workflow code) and a whole joiner: minutes
    // on a busy 2-core machine.
  }, 300_000);
});
