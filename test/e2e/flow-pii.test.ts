// Where a flow's pii could leak, looked for: a run (one record its mapping fails on, one the target
// refuses), a preview, a replay and a refresh, on a worker that is a process of its own logging at
// debug (as in production, the Temporal SDK's own logs go through it) and a server whose log is kept.
// No pii or secret value the flow moved is in either log, the ledger, the dead letters (their
// reasons and redacted records), the runs, or the flow's Temporal history.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { createLogger } from '../../server/logger.js';
import { waitUntil } from '../helpers/access-world.js';
import { createHrConnector, startAccessServer, type AccessServer } from '../helpers/access-server.js';
import type { CliRun } from '../helpers/cli.js';
import { withPg } from '../helpers/services.js';
import { historyText } from '../helpers/temporal-history.js';

/** Values of fields the flow classifies pii (hashed) or secret (dropped); none may appear anywhere that lasts. */
const PII = ['Zelda.Quist@corp.example', 'zelda.quist@corp.example', 'Zelda Quist', '078-05-1120', 'Mallory.Poison@corp.example', 'Mallory Poison', '219-09-9999', 'Yusuf Ortiz', 'yusuf.ortiz@corp.example'];

describe('a flow keeps pii out of logs, the ledger, dead letters and Temporal', () => {
  let s: AccessServer;
  let worker: CliRun | undefined;
  let serverLog = '';
  const FLOW = 'pii-copy';

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        serverLog += String(chunk);
        done();
      },
    });
    s = await startAccessServer({ GATEHOUSE_EMBEDDED_WORKER: 'false' }, { log: createLogger({ level: 'debug', destination: sink }) });
    worker = s.spawnWorker({ LOG_LEVEL: 'debug' });
    await worker.waitFor(/worker running/, 120_000);
    const connector = await createHrConnector(s, [{ name: 'people', schema: 'hr', table: 'people', cursor: 'changed' }, { name: 'copy', schema: 'hr', table: 'people_copy', writable: true }]);
    await withPg(s.target.superuserUrl, async (c) => {
      // The target refuses one record (a constraint on its key), whatever its hashed fields hold.
      await c.query("ALTER TABLE hr.people_copy ADD CONSTRAINT no_poison CHECK (employee_id <> 'M2')");
      await c.query(`INSERT INTO hr.people (employee_id, email, display_name, ssn) VALUES
        ('M1', 'Zelda.Quist@corp.example', 'Zelda Quist', '078-05-1120'),
        ('M2', 'Mallory.Poison@corp.example', 'Mallory Poison', '219-09-9999'),
        ('M3', 'yusuf.ortiz@corp.example', 'Yusuf Ortiz', NULL)`);
    });
    // The mapping fails on M3 (a number made of its e-mail): its error must not quote the value.
    const published = await s.api(s.admin, 'POST', '/api/flows', {
      document: `
apiVersion: gatehouse.dev/v1
kind: Flow
name: ${FLOW}
source: { connector: ${connector}, objectClass: people }
target: { connector: ${connector}, objectClass: copy }
mapping: '{ "employee_id": employee_id, "email": employee_id = "M3" ? $number(email) : $lowercase(email), "display_name": display_name, "ssn": ssn }'
fields:
  email: { classification: pii, rule: hash }
  display_name: { classification: pii, rule: hash }
  ssn: { classification: secret }
`,
    });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
  });

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await worker?.exited;
    await s?.close();
  });

  it('runs, previews, replays and refreshes, and no pii value is anywhere that lasts', async () => {
    const runToEnd = async (body?: unknown) => {
      const started = await s.api<{ id: string }>(s.admin, 'POST', `/api/flows/${FLOW}/runs`, body);
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      return waitUntil(`run ${started.body.id}`, async () => {
        const r = await s.api<{ status: string; created: number; deadLettered: number }>(s.admin, 'GET', `/api/flows/${FLOW}/runs/${started.body.id}`);
        return r.body.status === 'running' ? undefined : r.body;
      }, 60_000);
    };
    expect(await runToEnd()).toMatchObject({ status: 'succeeded', created: 1, deadLettered: 2 });
    const letters = await s.api<{ deadLetters: { id: string; stage: string; error: string }[] }>(s.admin, 'GET', `/api/flows/${FLOW}/dead-letters`);
    expect(letters.body.deadLetters.map((l) => l.stage).sort()).toEqual(['map', 'write']);

    // A preview of a refresh's worth of records, a replay that is refused again, and a refresh.
    expect((await s.api(s.admin, 'POST', `/api/flows/${FLOW}/preview`, { limit: 10 })).status).toBe(200);
    const replay = await s.api<{ status: string }>(s.admin, 'POST', `/api/flows/${FLOW}/dead-letters/${letters.body.deadLetters.find((l) => l.stage === 'write')!.id}/replay`);
    expect(replay.body.status).toBe('open');
    expect(await runToEnd({ refresh: true })).toMatchObject({ status: 'succeeded' });

    const ledgerEntries = (await createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } }).query({ limit: 500 })).entries;
    const deadLetterRows = await withPg(s.db.ownerUrl, async (c) => (await c.query('SELECT error, redacted, reason FROM flow_dead_letter')).rows);
    const runRows = await withPg(s.db.ownerUrl, async (c) => (await c.query('SELECT * FROM flow_run')).rows);
    const places: Record<string, string> = {
      'the worker log': worker!.stdout() + worker!.stderr(),
      'the server log': serverLog,
      'the ledger': JSON.stringify(ledgerEntries),
      'the dead letters': JSON.stringify(deadLetterRows),
      'the runs': JSON.stringify(runRows),
      'Temporal history': await historyText(s.temporal.client.workflow.getHandle(`flow:${FLOW}`)),
    };
    // They are real places: each holds what it should.
    expect(places['the worker log']).toContain('worker running');
    expect(places['the server log']).toContain(`/api/flows/${FLOW}/runs`);
    expect(places['the ledger']).toContain('flow.page.written');
    expect(places['the dead letters']).toContain('M2');
    expect(places['Temporal history']).toContain('runFlowPages');
    for (const [where, text] of Object.entries(places)) {
      for (const value of PII) expect(text.includes(value), `${value} in ${where}`).toBe(false);
    }
  });
});
