// A flow run whose worker (`gatehouse worker`, a process of its own) is killed with SIGKILL in the
// middle of a page, then started again: the run completes, the target is an exact copy, and every
// page is on the ledger once. The page in flight when the worker died is read again from the cursor
// (which had not moved) and written again as the same upserts, so it changes nothing the second time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { waitUntil } from '../helpers/access-world.js';
import type { CliRun } from '../helpers/cli.js';
import { startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';
import { withPg } from '../helpers/services.js';

const ROWS = 20_000;

describe('a flow run whose worker is killed mid-page', () => {
  let w: JmlWorld;
  let worker: CliRun | undefined;

  beforeAll(async () => {
    w = await startJmlWorld({ embeddedWorker: false });
    await withPg(w.pg.superuserUrl, (c) =>
      c.query(`INSERT INTO hr.people (employee_id, email, display_name) SELECT 'P' || lpad(n::text, 6, '0'), 'p' || n || '@corp.example', 'Person ' || n FROM generate_series(1, ${ROWS}) n`),
    );
    const created = await w.api(w.admin, 'POST', '/api/connectors', {
      name: `hr-${w.pg.tag}`,
      type: 'postgresql',
      config: { ...w.pg.config(), objectClasses: [{ name: 'people', schema: 'hr', table: 'people', cursor: 'changed' }, { name: 'copy', schema: 'hr', table: 'people_copy', writable: true }] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const flow = `apiVersion: gatehouse.dev/v1\nkind: Flow\nname: crash-copy\nsource: { connector: hr-${w.pg.tag}, objectClass: people, pageSize: 100 }\ntarget: { connector: hr-${w.pg.tag}, objectClass: copy }\nmapping: '{ "employee_id": employee_id, "email": email, "display_name": display_name }'\n`;
    expect((await w.api(w.admin, 'POST', '/api/flows', { document: flow })).status).toBe(201);
  });

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await worker?.exited;
    await w?.close();
  });

  it('completes after a restart, with the target an exact copy and each page recorded once', async () => {
    worker = w.spawnWorker();
    await worker.waitFor(/worker running/, 120_000);
    const started = await w.api<{ id: string }>(w.admin, 'POST', '/api/flows/crash-copy/runs');
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const runId = started.body.id;
    const progress = () => w.api<{ status: string; pages: number; read: number; created: number; unchanged: number }>(w.admin, 'GET', `/api/flows/crash-copy/runs/${runId}`);
    await waitUntil('some pages written', async () => ((await progress()).body.pages >= 5 ? true : undefined));

    worker.kill('SIGKILL');
    expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' });
    const atKill = (await progress()).body;
    expect(atKill.status).toBe('running');
    expect(atKill.read).toBeLessThan(ROWS);

    worker = w.spawnWorker();
    await worker.waitFor(/worker running/, 120_000);
    const done = await waitUntil('the run to end', async () => {
      const r = (await progress()).body;
      return r.status === 'running' ? undefined : r;
    }, 120_000);
    expect(done).toMatchObject({ status: 'succeeded', read: ROWS });
    expect(done.created + done.unchanged).toBe(ROWS);

    const copy = await withPg(w.pg.superuserUrl, (c) =>
      c.query<{ n: number; differ: number }>(`SELECT (SELECT count(*)::int FROM hr.people_copy) AS n,
        (SELECT count(*)::int FROM (SELECT employee_id, email, display_name FROM hr.people EXCEPT SELECT employee_id, email, display_name FROM hr.people_copy) d) AS differ`),
    );
    expect(copy.rows[0]).toEqual({ n: ROWS, differ: 0 });

    const ledger = createLedger({ orm: w.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
    const pages = (await ledger.query({ action: 'flow.page.written', limit: 500 })).entries.filter((e) => e.details?.runId === runId);
    expect(pages.reduce((n, e) => n + Number(e.details!.read), 0)).toBe(ROWS);
    const froms = pages.map((e) => e.details!.cursorFrom);
    expect(new Set(froms).size).toBe(froms.length);
  }, 300_000);
});
