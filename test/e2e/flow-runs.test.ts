// Running a sync flow in a running Gatehouse (its embedded worker, real PostgreSQL source and target,
// Vault, Temporal): the run reads the source page by page from where the last one stopped, filters,
// maps and applies the field rules before writing by key, and records every page on the ledger by
// counts and hashes, never by the values of pii or secret fields. A target whose records grant access
// is refused with the reason, and nothing is written to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type LedgerEntry } from '../../audit/index.js';
import { waitUntil } from '../helpers/access-world.js';
import { createHrConnector, HR_CLASSES, startAccessServer, type AccessServer } from '../helpers/access-server.js';
import { withPg } from '../helpers/services.js';
import { historyText } from '../helpers/temporal-history.js';
import { runCliToEnd } from '../helpers/cli.js';

interface Run {
  id: string;
  status: string;
  pages: number;
  deadLettered: number;
  read: number;
  skipped: number;
  created: number;
  updated: number;
  unchanged: number;
  error?: string;
}

describe('sync flow runs', () => {
  let s: AccessServer;
  let connector: string;
  const ledger = () => createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
  const copyRows = () => withPg(s.target.superuserUrl, async (c) => (await c.query<Record<string, string | null>>('SELECT * FROM hr.people_copy ORDER BY employee_id')).rows);

  const flow = (name: string, targetClass = 'people-copy') => `
apiVersion: gatehouse.dev/v1
kind: Flow
name: ${name}
source: { connector: ${connector}, objectClass: people, pageSize: 2 }
target: { connector: ${connector}, objectClass: ${targetClass} }
filter: 'active'
mapping: '{ "employee_id": employee_id, "email": $lowercase(email), "display_name": display_name, "ssn": ssn }'
fields:
  email: { classification: pii, rule: hash }
  ssn: { classification: secret }
`;

  /** Starts a run and waits for it to end. */
  const run = async (name: string): Promise<Run> => {
    const started = await s.api<Run>(s.admin, 'POST', `/api/flows/${name}/runs`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    return waitUntil(`flow run ${started.body.id}`, async () => {
      const r = await s.api<Run>(s.admin, 'GET', `/api/flows/${name}/runs/${started.body.id}`);
      return r.body.status === 'running' ? undefined : r.body;
    });
  };

  beforeAll(async () => {
    s = await startAccessServer();
    connector = await createHrConnector(s, [...HR_CLASSES, { name: 'app-grants', schema: 'hr', table: 'people_copy', kind: 'membership', writable: true }]);
    await withPg(s.target.superuserUrl, (c) =>
      c.query(`INSERT INTO hr.people (employee_id, email, display_name, ssn, active) VALUES
        ('E1', 'Ada@Corp.example', 'Ada', '111-11-1111', true), ('E2', 'bo@corp.example', 'Bo', '222-22-2222', true),
        ('E3', 'cy@corp.example', 'Cy', '333-33-3333', true), ('E4', 'di@corp.example', 'Di', NULL, true),
        ('E5', 'ed@corp.example', 'Ed', '555-55-5555', true), ('X9', 'gone@corp.example', 'Gone', '999-99-9999', false)`),
    );
    for (const name of ['hr-copy', 'hr-grants']) {
      const published = await s.api(s.admin, 'POST', '/api/flows', { document: flow(name, name === 'hr-grants' ? 'app-grants' : 'people-copy') });
      expect(published.status, JSON.stringify(published.body)).toBe(201);
    }
  });
  afterAll(async () => {
    await s?.close();
  });

  it('copies what the filter accepts, with pii hashed and secrets dropped, and records each page by counts and hashes', async () => {
    const first = await run('hr-copy');
    expect(first).toMatchObject({ status: 'succeeded', read: 6, skipped: 1, created: 5, updated: 0, unchanged: 0 });
    expect(first.pages).toBeGreaterThanOrEqual(3);

    const rows = await copyRows();
    expect(rows.map((r) => r.employee_id)).toEqual(['E1', 'E2', 'E3', 'E4', 'E5']);
    for (const r of rows) {
      expect(r.email).toMatch(/^[0-9a-f]{64}$/);
      expect(r.ssn).toBeNull();
    }
    expect(rows[0]!.display_name).toBe('Ada');

    const entries: LedgerEntry[] = [];
    for (const action of ['flow.run.started', 'flow.page.written', 'flow.run.succeeded']) entries.push(...(await ledger().query({ action })).entries);
    const pages = entries.filter((e) => e.action === 'flow.page.written' && e.details?.runId === first.id);
    expect(pages).toHaveLength(first.pages);
    expect(pages.reduce((n, e) => n + Number(e.details!.read), 0)).toBe(6);
    expect(pages.filter((e) => e.details!.cursorFrom === null)).toHaveLength(1);
    expect(pages.find((e) => e.details!.cursorFrom === null)!.details).toMatchObject({ objectClass: 'people-copy', cursorTo: expect.stringMatching(/^[0-9a-f]{64}$/), writtenHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(entries.find((e) => e.action === 'flow.run.succeeded' && e.details?.runId === first.id)?.details).toMatchObject({ read: 6, created: 5, startedBy: { kind: 'human' } });
    // Neither the ledger nor the run's Temporal history holds a value of a pii or secret field.
    const recorded = JSON.stringify(entries) + (await historyText(s.temporal.client.workflow.getHandle('flow:hr-copy')));
    expect(recorded).toContain('runFlowPage');
    for (const value of ['ada@corp.example', 'Ada@Corp.example', '111-11-1111', 'bo@corp.example', '999-99-9999']) expect(recorded).not.toContain(value);
  });

  it('carries on from where the last run stopped: nothing new, nothing written; a change, one update', async () => {
    expect(await run('hr-copy')).toMatchObject({ status: 'succeeded', read: 0, created: 0, updated: 0 });
    await withPg(s.target.superuserUrl, (c) => c.query("UPDATE hr.people SET display_name = 'Ada L.' WHERE employee_id = 'E1'"));
    expect(await run('hr-copy')).toMatchObject({ status: 'succeeded', read: 1, created: 0, updated: 1, unchanged: 0 });
    expect((await copyRows())[0]!.display_name).toBe('Ada L.');
    const runs = await s.api<{ runs: Run[] }>(s.admin, 'GET', '/api/flows/hr-copy/runs');
    expect(runs.body.runs.map((r) => r.read)).toEqual([1, 0, 6]);

    // A preview of the next run: what it would create and update, with nothing written and the cursor where it was.
    await withPg(s.target.superuserUrl, (c) =>
      c.query("UPDATE hr.people SET display_name = 'Cy C.' WHERE employee_id = 'E3'; INSERT INTO hr.people (employee_id, email, display_name, active) VALUES ('E6', 'eve@corp.example', 'Eve', true)"),
    );
    type Preview = { read: number; moreAfter: boolean; counts: Record<string, number>; sample: { situation: string; record: Record<string, unknown>; changedFields?: string[] }[] };
    const preview = await s.api<Preview>(s.admin, 'POST', '/api/flows/hr-copy/preview', { limit: 10 });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body).toMatchObject({ read: 2, moreAfter: false, counts: { create: 1, update: 1, unchanged: 0, kept: 0, skipped: 0, refused: 0 } });
    const update = preview.body.sample.find((x) => x.situation === 'update')!;
    expect(update).toMatchObject({ record: { employee_id: 'E3', display_name: 'Cy C.' }, changedFields: ['display_name'] });
    expect(update.record.email).toMatch(/^[0-9a-f]{64}$/);
    expect((await copyRows()).map((r) => r.employee_id)).not.toContain('E6');
    expect((await ledger().query({ action: 'flow.previewed' })).entries[0]?.details).toMatchObject({ read: 2, create: 1, update: 1 });
    expect(await run('hr-copy')).toMatchObject({ status: 'succeeded', read: 2, created: 1, updated: 1 });
  });

  it('previews a draft without publishing it: the source\'s first records beside their results, nothing stored', async () => {
    const draft = flow('hr-draft').replace('"display_name": display_name', '"display_name": $uppercase(display_name)');
    type Sample = { situation: string; record: Record<string, unknown>; source?: Record<string, unknown> };
    const tried = await s.api<{ read: number; counts: Record<string, number>; sample: Sample[] }>(s.admin, 'POST', '/api/flows/preview-draft', { document: draft, limit: 10 });
    expect(tried.status, JSON.stringify(tried.body)).toBe(200);
    expect(tried.body.read).toBe(7);
    const first = tried.body.sample.find((x) => x.source?.employee_id === 'E1')!;
    expect(first).toMatchObject({ situation: 'update', record: { employee_id: 'E1', display_name: 'ADA L.' }, source: { employee_id: 'E1', display_name: 'Ada L.' } });
    // The draft's field rules apply to the source record too (by field name): no e-mail or SSN shown.
    expect(first.source!.email).toMatch(/^[0-9a-f]{64}$/);
    expect(first.source).not.toHaveProperty('ssn');
    expect((await s.api(s.admin, 'GET', '/api/flows/hr-draft')).status).toBe(404);
    expect((await copyRows())[0]!.display_name).toBe('Ada L.');

    const bad = await s.api<{ error: { field: string } }>(s.admin, 'POST', '/api/flows/preview-draft', { document: draft.replace("mapping: '{", "mapping: '{{") });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('mapping');
    const nowhere = await s.api<{ error: { field: string } }>(s.admin, 'POST', '/api/flows/preview-draft', { document: draft.replace(`target: { connector: ${connector}`, 'target: { connector: nowhere') });
    expect(nowhere.body.error.field).toBe('target.connector');
  });

  it('a full resync reads the source from its start, on the ledger, and finds everything already written', async () => {
    const started = await s.api<Run>(s.admin, 'POST', '/api/flows/hr-copy/runs', { refresh: true });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const refreshed = await waitUntil('the refresh to end', async () => {
      const r = await s.api<Run>(s.admin, 'GET', `/api/flows/hr-copy/runs/${started.body.id}`);
      return r.body.status === 'running' ? undefined : r.body;
    });
    expect(refreshed).toMatchObject({ status: 'succeeded', read: 7, skipped: 1, created: 0, updated: 0, unchanged: 6 });
    const entry = (await ledger().query({ action: 'flow.refreshed' })).entries.find((e) => e.details?.runId === started.body.id);
    expect(entry?.details?.cursorForgotten).toMatch(/^[0-9a-f]{64}$/);
    expect((await s.api(s.admin, 'POST', '/api/flows/hr-copy/runs', { refresh: 'yes' })).status).toBe(400);
  });

  it('starts a run the moment the last one has ended, while its workflow is still closing', async () => {
    // Each run is started within a few milliseconds of the last one's record closing, when its workflow is still ending.
    let id = (await s.api<Run>(s.admin, 'POST', '/api/flows/hr-copy/runs')).body.id;
    for (let i = 0; i < 5; i++) {
      for (;;) {
        const r = await s.api<Run>(s.admin, 'GET', `/api/flows/hr-copy/runs/${id}`);
        if (r.body.status !== 'running') {
          expect(r.body, JSON.stringify(r.body)).toMatchObject({ status: 'succeeded' });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const next = await s.api<Run>(s.admin, 'POST', '/api/flows/hr-copy/runs');
      expect(next.status, JSON.stringify(next.body)).toBe(202);
      id = next.body.id;
    }
    expect(await waitUntil('the last run', async () => {
      const r = await s.api<Run>(s.admin, 'GET', `/api/flows/hr-copy/runs/${id}`);
      return r.body.status === 'running' ? undefined : r.body;
    })).toMatchObject({ status: 'succeeded' });
  });

  it('previews and runs from the command line, on the running Gatehouse\'s workers', async () => {
    const c = s.gatehouse.runtime.config;
    const env = {
      LOG_LEVEL: 'silent',
      GATEHOUSE_DATA_DIR: c.GATEHOUSE_DATA_DIR,
      DATABASE_URL: s.db.ownerUrl,
      DATABASE_APP_URL: s.db.appUrl,
      DATABASE_LEDGER_URL: s.db.ledgerUrl,
      TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS!,
      TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
      VAULT_ADDR: c.VAULT_ADDR!,
      VAULT_TOKEN: c.VAULT_TOKEN!,
      VAULT_KV_MOUNT: c.VAULT_KV_MOUNT,
      VAULT_TRANSIT_MOUNT: c.VAULT_TRANSIT_MOUNT,
    };
    await withPg(s.target.superuserUrl, (q) => q.query("UPDATE hr.people SET display_name = 'Ed E.' WHERE employee_id = 'E5'"));
    const preview = await runCliToEnd(['flow', 'preview', 'hr-copy'], env);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('flow hr-copy: 1 records after the cursor: 0 to create, 1 to update, 0 unchanged');
    expect(preview.stdout).toContain('  update: fields display_name');
    const ran = await runCliToEnd(['flow', 'run', 'hr-copy'], env);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/run [0-9a-f-]{36} succeeded: 1 pages, 1 read, 0 skipped, 0 created, 1 updated, 0 unchanged/);
  }, 120_000);

  it('refuses to write a class whose records grant access, saying why, and writes nothing', async () => {
    await withPg(s.target.superuserUrl, (c) => c.query("UPDATE hr.people_copy SET display_name = 'untouched'"));
    const failed = await run('hr-grants');
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('app-grants holds membership records, so writing it changes access');
    expect((await copyRows()).every((r) => r.display_name === 'untouched')).toBe(true);
    const [entry] = (await ledger().query({ action: 'flow.run.failed' })).entries;
    expect(entry?.details).toMatchObject({ runId: failed.id, error: expect.stringContaining('changes access') });
  });

  it('runs on its schedule: a schedule made when published with one, a run per tick, and gone when the flow is manual again', async () => {
    const scheduled = flow('hr-nightly').replace('filter:', "trigger: { type: schedule, cron: '0 3 * * *', timezone: Europe/Paris }\nfilter:");
    expect((await s.api(s.admin, 'POST', '/api/flows', { document: scheduled })).status).toBe(201);
    const handle = s.temporal.client.schedule.getHandle('flow-schedule:hr-nightly');
    const described = await waitUntil('the flow schedule', () => handle.describe().then((d) => d, () => undefined));
    expect(described.spec.timezone).toBe('Europe/Paris');
    expect(JSON.stringify(described.spec)).toContain('"hour":[{"start":3');

    // A tick now, as at 03:00: the run opens against the version in force, started by the schedule.
    await handle.trigger();
    const ran = await waitUntil('the scheduled run', async () => {
      const runs = (await s.api<{ runs: (Run & { startedBy: { id: string } })[] }>(s.admin, 'GET', '/api/flows/hr-nightly/runs')).body.runs;
      return runs.find((r) => r.status !== 'running');
    });
    expect(ran, ran.error).toMatchObject({ status: 'succeeded', startedBy: { id: 'schedule' } });
    expect(ran.read).toBeGreaterThan(0);
    const started = (await ledger().query({ action: 'flow.run.started' })).entries.find((e) => e.details?.runId === ran.id);
    expect(started).toMatchObject({ actor: { kind: 'system', id: 'schedule' }, details: { trigger: 'schedule' } });

    expect((await s.api(s.admin, 'POST', '/api/flows', { document: flow('hr-nightly') })).status).toBe(201);
    await waitUntil('the schedule to be deleted', () => handle.describe().then(() => undefined, () => true));
  });

  it('sets aside the records it cannot map or write, goes on with the rest, and lets people replay or discard them', async () => {
    // The target refuses a display name; the mapping fails on another.
    await withPg(s.target.superuserUrl, async (c) => {
      await c.query("ALTER TABLE hr.people_copy ADD CONSTRAINT no_poison CHECK (display_name IS DISTINCT FROM 'POISON')");
      await c.query(`INSERT INTO hr.people (employee_id, email, display_name, ssn, active) VALUES
        ('D1', 'd1@corp.example', 'POISON', '444-44-4444', true), ('D2', 'd2@corp.example', 'MAPFAIL', NULL, true), ('D3', 'd3@corp.example', 'POISON', NULL, true)`);
    });
    const poisoned = (guard: boolean) =>
      flow('hr-poison').replace(
        "mapping: '{",
        `mapping: '${guard ? 'display_name = "MAPFAIL" ? $error("refused") : ' : ''}{`,
      );
    expect((await s.api(s.admin, 'POST', '/api/flows', { document: poisoned(true) })).status).toBe(201);
    const first = await run('hr-poison');
    expect(first, first.error).toMatchObject({ status: 'succeeded', deadLettered: 3 });
    expect(first.created + first.updated + first.unchanged).toBe(first.read - first.skipped - 3);

    type Letter = { id: string; stage: string; status: string; attempts: number; error: string; record: Record<string, unknown>; reason?: string };
    const letters = async (status = 'open') => (await s.api<{ deadLetters: Letter[] }>(s.admin, 'GET', `/api/flows/hr-poison/dead-letters?status=${status}`)).body.deadLetters;
    const open = await letters();
    const byId = (employee: string) => open.find((l) => l.record.employee_id === employee)!;
    expect(open.map((l) => [l.record.employee_id, l.stage]).sort()).toEqual([['D1', 'write'], ['D2', 'map'], ['D3', 'write']]);
    expect(byId('D1').error).toContain('no_poison');
    // What people see is redacted by the flow's field rules: no e-mail address, no SSN.
    expect(byId('D1').record.email).toMatch(/^[0-9a-f]{64}$/);
    expect(byId('D1').record).not.toHaveProperty('ssn');
    const stored = await withPg(s.db.superuserUrl, async (c) => JSON.stringify((await c.query('SELECT * FROM flow_dead_letter')).rows));
    for (const value of ['d1@corp.example', '444-44-4444']) expect(stored).not.toContain(value);

    // Refused again while the target still refuses it: it stays open, with one more attempt.
    const again = await s.api<{ status: string; error: string; deadLetter: Letter }>(s.admin, 'POST', `/api/flows/hr-poison/dead-letters/${byId('D1').id}/replay`);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ status: 'open', deadLetter: { attempts: 2 } });

    // The source fixes D1 and the next run writes it: its dead letter is superseded, not to be replayed over it.
    await withPg(s.target.superuserUrl, (c) => c.query("UPDATE hr.people SET display_name = 'Healed' WHERE employee_id = 'D1'"));
    expect(await run('hr-poison')).toMatchObject({ status: 'succeeded', read: 1, deadLettered: 0 });
    expect((await letters('superseded')).map((l) => l.record.employee_id)).toEqual(['D1']);

    // The mapping is fixed in a new version: D2 replays through it and is written.
    expect((await s.api(s.admin, 'POST', '/api/flows', { document: poisoned(false) })).status).toBe(201);
    const replayed = await s.api<{ status: string; deadLetter: Letter }>(s.admin, 'POST', `/api/flows/hr-poison/dead-letters/${byId('D2').id}/replay`);
    expect(replayed.body).toMatchObject({ status: 'replayed', deadLetter: { status: 'replayed', reason: expect.stringContaining('1 created') } });
    expect((await copyRows()).find((r) => r.employee_id === 'D2')?.display_name).toBe('MAPFAIL');
    const [replayEntry] = (await ledger().query({ action: 'flow.deadletter.replayed' })).entries;
    expect(replayEntry?.details).toMatchObject({ deadLetterId: byId('D2').id, created: 1 });

    // D3 is let go, with the reason on record; it cannot be replayed after.
    const discarded = await s.api<Letter>(s.admin, 'POST', `/api/flows/hr-poison/dead-letters/${byId('D3').id}/discard`, { reason: 'test account, not a person' });
    expect(discarded.body).toMatchObject({ status: 'discarded', reason: 'test account, not a person' });
    expect((await s.api(s.admin, 'POST', `/api/flows/hr-poison/dead-letters/${byId('D3').id}/replay`)).status).toBe(409);
    expect((await ledger().query({ action: 'flow.deadletter.discarded' })).entries[0]?.details).toMatchObject({ deadLetterId: byId('D3').id, reason: 'test account, not a person' });
    expect(await letters()).toEqual([]);
    await withPg(s.target.superuserUrl, (c) => c.query('ALTER TABLE hr.people_copy DROP CONSTRAINT no_poison'));
  });

  it('uses the connector as configured now: a change to it between runs is seen by the next run', async () => {
    // The worker keeps a flow's connectors open between pages; a new revision of the instance opens them again.
    const changed = await s.api(s.admin, 'PATCH', `/api/connectors/${connector}`, {
      config: {
        objectClasses: [
          { name: 'people', schema: 'hr', table: 'people', cursor: 'changed' },
          { name: 'people-copy', schema: 'hr', table: 'people_copy' },
        ],
      },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    await withPg(s.target.superuserUrl, (c) => c.query("UPDATE hr.people SET display_name = 'Bo B.' WHERE employee_id = 'E2'"));
    const refused = await run('hr-copy');
    expect(refused.status).toBe('failed');
    expect(refused.error).toContain('people-copy is not writable');
  });

  it('runs one run of a flow at a time, and closes a run whose workflow was ended in Temporal without it', async () => {
    // A run marked running whose workflow is gone (terminated in Temporal, say): at first it holds the flow.
    const stuck = await withPg(s.db.ownerUrl, (c) =>
      c.query<{ id: string }>(
        "INSERT INTO flow_run (id, flow_name, version_hash, workflow_id, status, started_by_kind, started_by_id) SELECT gen_random_uuid(), 'hr-copy', version_hash, 'flow:hr-copy', 'running', 'human', 'someone' FROM flow_publication WHERE flow_name = 'hr-copy' ORDER BY seq DESC LIMIT 1 RETURNING id",
      ),
    );
    const stuckId = stuck.rows[0]!.id;
    const second = await s.api<{ error: { message: string } }>(s.admin, 'POST', '/api/flows/hr-copy/runs');
    expect(second.status).toBe(409);
    expect(second.body.error.message).toBe(`flow hr-copy has a run in progress (${stuckId}); one run of a flow at a time`);

    // A minute on, with its workflow not running, it is closed on record and the new run goes ahead.
    await withPg(s.db.ownerUrl, (c) => c.query("UPDATE flow_run SET started_at = now() - interval '2 minutes' WHERE id = $1", [stuckId]));
    const third = await s.api<Run>(s.admin, 'POST', '/api/flows/hr-copy/runs');
    expect(third.status, JSON.stringify(third.body)).toBe(202);
    const closed = await s.api<Run>(s.admin, 'GET', `/api/flows/hr-copy/runs/${stuckId}`);
    expect(closed.body).toMatchObject({ status: 'failed', error: 'its workflow flow:hr-copy ended without closing the run (terminated or timed out in Temporal)' });
    expect((await ledger().query({ action: 'flow.run.failed' })).entries.find((e) => e.details?.runId === stuckId)).toBeDefined();
    await waitUntil('the new run to end', async () => ((await s.api<Run>(s.admin, 'GET', `/api/flows/hr-copy/runs/${third.body.id}`)).body.status === 'running' ? undefined : true));
  });
});
