// A flow whose runs need their plan approved past a blast radius, in a running Gatehouse (real
// PostgreSQL, Vault, Temporal): the run works out what it would write, waits for a person other than
// its starter to approve exactly that plan (by its digest), checks the live diff against it right
// before writing, and stops for re-approval when the source changed meanwhile. A rejected plan writes
// nothing; a plan within the threshold needs nobody. Every step is on the ledger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type LedgerEntry } from '../../audit/index.js';
import { waitUntil } from '../helpers/access-world.js';
import { createHrConnector, startAccessServer, type AccessServer, type ServerPerson } from '../helpers/access-server.js';
import { withPg } from '../helpers/services.js';
import type { FlowRun } from '../../workflows/flows/flow-service.js';

describe('approving a run’s plan', () => {
  let s: AccessServer;
  let sam: ServerPerson;
  let connector: string;
  const FLOW = 'hr-planned';
  const ledger = () => createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
  const entries = async (action: string): Promise<LedgerEntry[]> => (await ledger().query({ action })).entries;
  const copied = () => withPg(s.target.superuserUrl, async (c) => (await c.query<{ employee_id: string }>('SELECT employee_id FROM hr.people_copy ORDER BY 1')).rows.map((r) => r.employee_id));
  const addPeople = (...ids: string[]) =>
    withPg(s.target.superuserUrl, (c) => c.query(`INSERT INTO hr.people (employee_id, email, display_name) SELECT id, id || '@corp.example', 'Person ' || id FROM unnest($1::text[]) id`, [ids]));
  const runOf = async (id: string) => (await s.api<FlowRun>(s.admin, 'GET', `/api/flows/${FLOW}/runs/${id}`)).body;
  const start = async () => {
    const started = await s.api<FlowRun>(s.admin, 'POST', `/api/flows/${FLOW}/runs`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    return started.body.id;
  };
  const planWaiting = (id: string, digestNot?: string) =>
    waitUntil(`run ${id}'s plan to wait for a decision`, async () => {
      const r = await runOf(id);
      return r.plan?.state === 'awaiting-approval' && r.plan.digest !== digestNot ? r : undefined;
    });
  const ended = (id: string) =>
    waitUntil(`run ${id} to end`, async () => {
      const r = await runOf(id);
      return r.status === 'running' ? undefined : r;
    });
  const decide = (id: string, body: { verdict: 'approve' | 'reject'; digest: string; reason?: string }, as = sam.as!) => s.api<FlowRun & { error?: { message: string } }>(as, 'POST', `/api/flows/${FLOW}/runs/${id}/plan-decision`, body);

  beforeAll(async () => {
    s = await startAccessServer();
    sam = await s.person('sam', { name: 'Sam Security', roles: ['security-approver'], department: 'Security' });
    connector = await createHrConnector(s);
    const published = await s.api(s.admin, 'POST', '/api/flows', {
      document: `
apiVersion: gatehouse.dev/v1
kind: Flow
name: ${FLOW}
source: { connector: ${connector}, objectClass: people, pageSize: 2 }
target: { connector: ${connector}, objectClass: people-copy }
mapping: '{ "employee_id": employee_id, "display_name": display_name }'
plan: { maxWrites: 2, deadline: 1h }
`,
    });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
    await addPeople('P1', 'P2', 'P3');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('waits with its plan past the threshold; its starter cannot approve it, nor anyone a plan they did not see', async () => {
    const id = await start();
    const run = await planWaiting(id);
    expect(run.plan).toMatchObject({ counts: { create: 3, update: 0 }, read: 3, reasons: ['3 records to create or update, more than the 2 a run writes without approval'], digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await copied()).toEqual([]);
    expect((await entries('flow.plan.proposed')).find((e) => e.details?.runId === id)?.details).toMatchObject({ digest: run.plan!.digest, create: 3 });

    const own = await decide(id, { verdict: 'approve', digest: run.plan!.digest }, s.admin);
    expect(own.status).toBe(403);
    expect(own.body.error!.message).toBe('you started this run, so someone else decides its plan');
    const unseen = await decide(id, { verdict: 'approve', digest: 'f'.repeat(64) });
    expect(unseen.status).toBe(409);
    expect(unseen.body.error!.message).toContain(`its digest is now ${run.plan!.digest}`);
  });

  it('an approved plan the source has drifted from stops for re-approval; the new plan, approved, is what is written', async () => {
    const [{ id }] = (await s.api<{ runs: FlowRun[] }>(s.admin, 'GET', `/api/flows/${FLOW}/runs`)).body.runs as [FlowRun];
    const first = (await runOf(id)).plan!;
    await addPeople('P4'); // the source changes after the approver looked
    const approved = await decide(id, { verdict: 'approve', digest: first.digest, reason: 'HR backfill' });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);

    const again = await planWaiting(id, first.digest);
    expect(again.plan).toMatchObject({ driftedFrom: first.digest, counts: { create: 4 }, state: 'awaiting-approval' });
    expect(await copied()).toEqual([]);
    expect((await entries('flow.plan.drifted')).find((e) => e.details?.runId === id)?.details).toMatchObject({ approvedDigest: first.digest, digest: again.plan!.digest });

    expect((await decide(id, { verdict: 'approve', digest: again.plan!.digest })).status).toBe(200);
    const done = await ended(id);
    expect(done).toMatchObject({ status: 'succeeded', created: 4, plan: { state: 'approved', digest: again.plan!.digest, decidedBy: { kind: 'human' } } });
    expect(await copied()).toEqual(['P1', 'P2', 'P3', 'P4']);
    const approvals = (await entries('flow.plan.approved')).filter((e) => e.details?.runId === id).sort((a, b) => a.seq - b.seq);
    expect(approvals.map((e) => e.details!.digest)).toEqual([first.digest, again.plan!.digest]);
  });

  it('a rejected plan fails the run with who and why, and writes nothing; a plan within the threshold needs nobody', async () => {
    await addPeople('P5', 'P6', 'P7');
    const id = await start();
    const waiting = await planWaiting(id);
    expect((await decide(id, { verdict: 'reject', digest: waiting.plan!.digest, reason: 'not during the audit freeze' })).status).toBe(200);
    const rejected = await ended(id);
    expect(rejected.status).toBe('failed');
    expect(rejected.error).toBe('its plan was rejected by Sam Security: not during the audit freeze');
    expect(await copied()).toEqual(['P1', 'P2', 'P3', 'P4']);

    await withPg(s.target.superuserUrl, (c) => c.query("DELETE FROM hr.people WHERE employee_id IN ('P6', 'P7')"));
    const small = await ended(await start());
    expect(small).toMatchObject({ status: 'succeeded', created: 1, plan: { state: 'not-needed', reasons: [] } });
    expect(await copied()).toEqual(['P1', 'P2', 'P3', 'P4', 'P5']);
  });
});
