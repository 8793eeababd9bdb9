// A mirror flow in a running Gatehouse (real PostgreSQL, Vault, Temporal): a snapshot of the source
// is copied and what the target holds beyond it is deleted at the pass's end; more deletions than the
// flow allows wait for a person to approve the plan; a pass with a record that could not be mapped
// deletes nothing (its key is unknown); an incremental source and a mirror of memberships are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { waitUntil } from '../helpers/access-world.js';
import { createHrConnector, startAccessServer, type AccessServer, type ServerPerson } from '../helpers/access-server.js';
import { withPg } from '../helpers/services.js';
import type { FlowRun } from '../../workflows/flows/flow-service.js';

describe('mirror flows: deletes what the source no longer has', () => {
  let s: AccessServer;
  let sam: ServerPerson;
  let connector: string;
  const copied = () => withPg(s.target.superuserUrl, async (c) => (await c.query<{ employee_id: string }>('SELECT employee_id FROM hr.people_copy ORDER BY 1')).rows.map((r) => r.employee_id));
  const source = (sql: string) => withPg(s.target.superuserUrl, (c) => c.query(sql));
  const runOf = async (name: string, id: string) => (await s.api<FlowRun>(s.admin, 'GET', `/api/flows/${name}/runs/${id}`)).body;
  const start = async (name: string) => {
    const started = await s.api<FlowRun>(s.admin, 'POST', `/api/flows/${name}/runs`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    return started.body.id;
  };
  const ended = (name: string, id: string) =>
    waitUntil(`run ${id} to end`, async () => {
      const r = await runOf(name, id);
      return r.status === 'running' ? undefined : r;
    });
  const flow = (name: string, sourceClass: string, mapping = '{ "employee_id": employee_id, "display_name": display_name }') => `
apiVersion: gatehouse.dev/v1
kind: Flow
name: ${name}
source: { connector: ${connector}, objectClass: ${sourceClass}, pageSize: 2 }
target: { connector: ${connector}, objectClass: copy, operation: mirror }
mapping: '${mapping}'
plan: { maxDeletes: 1 }
`;

  beforeAll(async () => {
    s = await startAccessServer();
    sam = await s.person('sam', { name: 'Sam Security', roles: ['security-approver'], department: 'Security' });
    connector = await createHrConnector(s, [
      { name: 'everyone', schema: 'hr', table: 'people' },
      { name: 'changes', schema: 'hr', table: 'people', cursor: 'changed' },
      { name: 'copy', schema: 'hr', table: 'people_copy', writable: true },
    ]);
    await source(`INSERT INTO hr.people (employee_id, email, display_name) SELECT id, lower(id) || '@corp.example', 'Person ' || id FROM unnest(ARRAY['M1','M2','M3','M4','M5']) id;
      INSERT INTO hr.people_copy (employee_id, display_name) VALUES ('ORPHAN', 'left over from an old import')`);
    const published = await s.api(s.admin, 'POST', '/api/flows', { document: flow('hr-mirror', 'everyone', '$.employee_id = "BAD" ? $number(email) : { "employee_id": employee_id, "display_name": display_name }') });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('copies the snapshot and deletes what the target had beyond it, on the ledger', async () => {
    const run = await ended('hr-mirror', await start('hr-mirror'));
    expect(run).toMatchObject({ status: 'succeeded', read: 5, created: 5, deleted: 1, plan: { state: 'not-needed', counts: { create: 5, delete: 1 } } });
    expect(await copied()).toEqual(['M1', 'M2', 'M3', 'M4', 'M5']);
    const ledger = createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
    expect((await ledger.query({ action: 'flow.run.succeeded' })).entries.find((e) => e.details?.runId === run.id)?.details).toMatchObject({ deleted: 1 });
  });

  it('waits for approval when the pass would delete more than the flow allows, then deletes them', async () => {
    await source("DELETE FROM hr.people WHERE employee_id IN ('M4', 'M5')");
    const preview = await s.api<{ counts: { delete: number }; sample: { situation: string; record: Record<string, unknown> }[] }>(s.admin, 'POST', '/api/flows/hr-mirror/preview', { limit: 100 });
    expect(preview.body.counts.delete).toBe(2);
    expect(preview.body.sample.filter((x) => x.situation === 'delete').map((x) => x.record)).toEqual([{ employee_id: 'M4' }, { employee_id: 'M5' }]);

    const id = await start('hr-mirror');
    const waiting = await waitUntil('the plan to wait', async () => {
      const r = await runOf('hr-mirror', id);
      return r.plan?.state === 'awaiting-approval' ? r : undefined;
    });
    expect(waiting.plan!.reasons).toEqual(['2 records to delete, more than the 1 a run deletes without approval']);
    expect(await copied()).toEqual(['M1', 'M2', 'M3', 'M4', 'M5']);
    expect((await s.api(sam.as!, 'POST', `/api/flows/hr-mirror/runs/${id}/plan-decision`, { verdict: 'approve', digest: waiting.plan!.digest })).status).toBe(200);
    expect(await ended('hr-mirror', id)).toMatchObject({ status: 'succeeded', deleted: 2 });
    expect(await copied()).toEqual(['M1', 'M2', 'M3']);
  });

  it('deletes nothing in a pass with a record it could not map (its key is unknown), and catches up once it can', async () => {
    await source("DELETE FROM hr.people WHERE employee_id = 'M3'; INSERT INTO hr.people (employee_id, email, display_name) VALUES ('BAD', 'not-a-number', 'Bad Record')");
    const unsafe = await ended('hr-mirror', await start('hr-mirror'));
    expect(unsafe).toMatchObject({ status: 'succeeded', deleted: 0, deadLettered: 1 });
    expect(await copied()).toEqual(['M1', 'M2', 'M3']);

    await source("DELETE FROM hr.people WHERE employee_id = 'BAD'");
    expect(await ended('hr-mirror', await start('hr-mirror'))).toMatchObject({ status: 'succeeded', deleted: 1 });
    expect(await copied()).toEqual(['M1', 'M2']);
  });

  it('refuses an incremental source, and a mirror of memberships, saying why', async () => {
    expect((await s.api(s.admin, 'POST', '/api/flows', { document: flow('hr-mirror-changes', 'changes') })).status).toBe(201);
    const failed = await ended('hr-mirror-changes', await start('hr-mirror-changes'));
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('target.operation: mirror needs a snapshot source (an object class without a cursor)');
    expect(await copied()).toEqual(['M1', 'M2']);

    const memberships = await s.api<{ error: { field: string; message: string } }>(s.admin, 'POST', '/api/flows', {
      document: flow('grants-mirror', 'everyone').replace('objectClass: copy', 'objectClass: memberships'),
    });
    expect(memberships.status).toBe(400);
    expect(memberships.body.error).toMatchObject({ field: 'target.operation', message: expect.stringContaining('mirror of memberships') });
  });
});
