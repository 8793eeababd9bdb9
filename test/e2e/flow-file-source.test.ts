// An HR export dropped in a folder as CSV, read by a sync flow in a running Gatehouse (real
// PostgreSQL target, Vault, Temporal): the first run copies it, a new export with one change and one
// joiner is read incrementally (by its updated_at field), and a record the file gives without its key
// fails the run with a reason that names the line, not the person.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/access-world.js';
import { startAccessServer, type AccessServer } from '../helpers/access-server.js';
import { withPg } from '../helpers/services.js';
import type { FlowRun } from '../../workflows/flows/flow-service.js';

describe('a sync flow reading a CSV export', () => {
  let s: AccessServer;
  let dir: string;
  const copy = () => withPg(s.target.superuserUrl, async (c) => (await c.query<{ employee_id: string; display_name: string; email: string }>('SELECT employee_id, display_name, email FROM hr.people_copy ORDER BY 1')).rows);
  const run = async () => {
    const started = await s.api<FlowRun>(s.admin, 'POST', '/api/flows/hr-export/runs');
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    return waitUntil('the run to end', async () => {
      const r = (await s.api<FlowRun>(s.admin, 'GET', `/api/flows/hr-export/runs/${started.body.id}`)).body;
      return r.status === 'running' ? undefined : r;
    });
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-drop-'));
    await writeFile(path.join(dir, 'people.csv'), 'Employee ID;Name;Mail;Updated\nH1;Hana;hana@corp.example;2026-12-01T08:00:00Z\nH2;Hugo;hugo@corp.example;2026-12-01T08:00:01Z\n');
    s = await startAccessServer();
    const files = await s.api(s.admin, 'POST', '/api/connectors', {
      name: 'hr-drop',
      type: 'file',
      config: { directory: dir, objectClasses: [{ name: 'people', path: 'people.csv', format: 'csv', delimiter: ';', key: ['Employee ID'], cursor: 'Updated' }] },
    });
    expect(files.status, JSON.stringify(files.body)).toBe(201);
    const db = await s.api(s.admin, 'POST', '/api/connectors', {
      name: `hr-db-${s.target.tag}`,
      type: 'postgresql',
      config: { ...s.target.config(), objectClasses: [{ name: 'copy', schema: 'hr', table: 'people_copy', writable: true }] },
    });
    expect(db.status, JSON.stringify(db.body)).toBe(201);
    const published = await s.api(s.admin, 'POST', '/api/flows', {
      document: `
apiVersion: gatehouse.dev/v1
kind: Flow
name: hr-export
source: { connector: hr-drop, objectClass: people }
target: { connector: hr-db-${s.target.tag}, objectClass: copy }
mapping: '{ "employee_id": \`Employee ID\`, "display_name": Name, "email": Mail }'
fields:
  email: { classification: pii, rule: hash }
`,
    });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('copies the export, then reads only what the next export changed', async () => {
    expect(await run()).toMatchObject({ status: 'succeeded', read: 2, created: 2 });
    const rows = await copy();
    expect(rows.map((r) => `${r.employee_id} ${r.display_name}`)).toEqual(['H1 Hana', 'H2 Hugo']);
    expect(rows[0]!.email).toMatch(/^[0-9a-f]{64}$/);

    await writeFile(path.join(dir, 'people.csv'), 'Employee ID;Name;Mail;Updated\nH1;Hana;hana@corp.example;2026-12-01T08:00:00Z\nH2;Hugo B.;hugo@corp.example;2026-12-02T09:00:00Z\nH3;Hiro;hiro@corp.example;2026-12-02T09:00:01Z\n');
    expect(await run()).toMatchObject({ status: 'succeeded', read: 2, created: 1, updated: 1 });
    expect((await copy()).map((r) => `${r.employee_id} ${r.display_name}`)).toEqual(['H1 Hana', 'H2 Hugo B.', 'H3 Hiro']);
  });

  it('fails a run on an export whose record lacks its key, naming the line and not the person', async () => {
    await writeFile(path.join(dir, 'people.csv'), 'Employee ID;Name;Mail;Updated\nH1;Hana;hana@corp.example;2026-12-01T08:00:00Z\n;Nameless Person;nameless@corp.example;2026-12-03T00:00:00Z\n');
    const failed = await run();
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('object class people: record 2 of people.csv has no Employee ID (its key)');
    expect(failed.error).not.toContain('nameless');
  });
});
