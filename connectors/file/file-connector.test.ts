// The file connector against real files in a temporary folder: CSV and JSON Lines read in pages,
// incremental by a cursor field and as snapshots, a file replaced between pages, records by key, and
// the refusals (a path or a link out of the folder, a missing file, a record without its key, bad CSV).
import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNamedError } from '../contract/connector-contract.js';
import type { ObjectBatch, ObjectRecord } from '../spi/records.js';
import { createFileConnector } from './file-connector.js';
import { fileConnectorType } from './index.js';
import type { FileConfig, FileObjectClassInput } from './file-config.js';

const HR_CSV = `employee_id,email,name,updated_at
E3,cy@corp.example,"Cy, the third",2026-12-01T10:00:03Z
E1,ada@corp.example,Ada,2026-12-01T10:00:01Z
E2,bo@corp.example,,2026-12-01T10:00:02Z
`;

async function pages(reading: AsyncIterable<ObjectBatch>): Promise<ObjectBatch[]> {
  const out: ObjectBatch[] = [];
  for await (const b of reading) out.push(b);
  return out;
}

describe('file connector (CSV and JSON Lines)', () => {
  let dir: string;
  let outside: string;
  const build = (classes: FileObjectClassInput[], extra: Partial<FileConfig> = {}) => createFileConnector(fileConnectorType.validate({ directory: dir, objectClasses: classes, ...extra }) as FileConfig, 'hr-files');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-files-'));
    outside = await mkdtemp(path.join(tmpdir(), 'gatehouse-outside-'));
    await writeFile(path.join(dir, 'hr.csv'), HR_CSV);
    await mkdir(path.join(dir, 'exports'));
    await writeFile(path.join(dir, 'exports', 'badges.jsonl'), '{"badge": 12, "holder": "E1", "zones": ["lab"]}\n\n{"badge": 7, "holder": "E2", "zones": []}\n{"badge": 100, "holder": "E3", "zones": ["lab", "roof"]}\n');
    await writeFile(path.join(outside, 'secret.csv'), 'id\n1\n');
    await symlink(path.join(outside, 'secret.csv'), path.join(dir, 'link.csv'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('describes each file as a read-only class with its fields, key and cursor', async () => {
    const c = build([{ name: 'people', path: 'hr.csv', format: 'csv', key: ['employee_id'], cursor: 'updated_at' }]);
    const [cls] = await c.objectClasses();
    expect(cls).toMatchObject({ name: 'people', kind: 'data', key: ['employee_id'], cursor: 'updated_at', writable: false, source: path.join(dir, 'hr.csv') });
    expect(cls!.fields.map((f) => f.name)).toEqual(['employee_id', 'email', 'name', 'updated_at']);
    expect(c.capabilities.has('writeObjects')).toBe(false);
  });

  it('reads a CSV by its cursor in pages, resumes after the last one, and sees only what changed when the file is replaced', async () => {
    const c = build([{ name: 'people', path: 'hr.csv', format: 'csv', key: ['employee_id'], cursor: 'updated_at' }]);
    const first = await pages(c.readObjects('people', { pageSize: 2 }));
    expect(first.map((b) => b.records.map((r) => r.employee_id))).toEqual([['E1', 'E2'], ['E3']]);
    expect(first.map((b) => b.complete)).toEqual([false, true]);
    expect(first[0]!.records[1]).toEqual({ employee_id: 'E2', email: 'bo@corp.example', name: null, updated_at: '2026-12-01T10:00:02Z' });
    expect(first[1]!.records[0]!.name).toBe('Cy, the third');
    const end = first.at(-1)!.cursor;
    expect(await pages(c.readObjects('people', { cursor: end }))).toEqual([{ records: [], cursor: end, complete: true }]);

    // The export is written again: one person changed, one joined.
    await writeFile(path.join(dir, 'hr.csv'), `${HR_CSV}E4,di@corp.example,Di,2026-12-02T09:00:00Z\n`.replace('E2,bo@corp.example,,2026-12-01T10:00:02Z', 'E2,bo@corp.example,Bo,2026-12-02T08:00:00Z'));
    const next = await pages(c.readObjects('people', { cursor: end }));
    expect(next.flatMap((b) => b.records.map((r) => `${r.employee_id} ${r.name}`))).toEqual(['E2 Bo', 'E4 Di']);
    await writeFile(path.join(dir, 'hr.csv'), HR_CSV);
  });

  it('reads JSON Lines as a snapshot in key order, numbers as numbers, and starts the next pass from the beginning', async () => {
    const c = build([{ name: 'badges', path: 'exports/badges.jsonl', format: 'jsonl', key: ['badge'] }]);
    const pass = await pages(c.readObjects('badges', { pageSize: 2 }));
    expect(pass.flatMap((b) => b.records.map((r) => r.badge))).toEqual([7, 12, 100]);
    expect(pass[0]!.records[1]).toEqual({ badge: 12, holder: 'E1', zones: ['lab'] });
    const again = await pages(c.readObjects('badges', { cursor: pass.at(-1)!.cursor, pageSize: 10 }));
    expect(again[0]!.records.map((r) => r.badge)).toEqual([7, 12, 100]);
    expect(await c.getObjects('badges', [{ badge: 100 }, { badge: 5 }] as ObjectRecord[])).toEqual([{ badge: 100, holder: 'E3', zones: ['lab', 'roof'] }]);
  });

  it('refuses what it must not or cannot read, saying why and never quoting a record', async () => {
    expect(() => fileConnectorType.validate({ directory: dir, objectClasses: [{ name: 'x', path: '../etc/passwd', format: 'csv', key: ['a'] }] })).toThrow(/objectClasses\.0\.path|objectClasses\[0\]\.path/);
    expect(() => fileConnectorType.validate({ directory: 'relative/dir', objectClasses: [{ name: 'x', path: 'a.csv', format: 'csv', key: ['a'] }] })).toThrow(/directory/);
    expect(() => fileConnectorType.validate({ directory: dir, objectClasses: [{ name: 'memberships', path: 'a.csv', format: 'csv', key: ['a'] }] })).toThrow(/memberships is the name of a connector's own memberships/);

    const linked = build([{ name: 'linked', path: 'link.csv', format: 'csv', key: ['id'] }]);
    expect((await expectNamedError(pages(linked.readObjects('linked')), 'Rejected')).message).toBe(`object class linked: link.csv leads outside ${dir}; a file connector reads only inside its folder`);
    const missing = build([{ name: 'gone', path: 'gone.csv', format: 'csv', key: ['id'] }]);
    expect((await expectNamedError(missing.objectClasses(), 'Rejected')).message).toBe(`object class gone: there is no file gone.csv in ${dir}`);
    await expectNamedError(pages(build([{ name: 'people', path: 'hr.csv', format: 'csv', key: ['id'] }]).readObjects('nope')), 'UnknownUid');

    await writeFile(path.join(dir, 'nokey.csv'), 'id,email\n1,a@corp.example\n,secret-person@corp.example\n');
    const noKey = await expectNamedError(pages(build([{ name: 'nokey', path: 'nokey.csv', format: 'csv', key: ['id'] }]).readObjects('nokey')), 'Rejected');
    expect(noKey.message).toBe('object class nokey: record 2 of nokey.csv has no id (its key)');
    await writeFile(path.join(dir, 'broken.csv'), 'id,email\n1,"unterminated\n');
    expect((await expectNamedError(pages(build([{ name: 'broken', path: 'broken.csv', format: 'csv', key: ['id'] }]).readObjects('broken')), 'Rejected')).message).toMatch(/^object class broken: broken.csv is not valid CSV/);
    await writeFile(path.join(dir, 'bad.jsonl'), '{"id": 1}\n[1, 2]\n');
    expect((await expectNamedError(pages(build([{ name: 'bad', path: 'bad.jsonl', format: 'jsonl', key: ['id'] }]).readObjects('bad')), 'Rejected')).message).toBe('object class bad: line 2 of bad.jsonl is not a JSON object');
    const big = await expectNamedError(pages(build([{ name: 'people', path: 'hr.csv', format: 'csv', key: ['employee_id'] }], { maxFileBytes: 10 }).readObjects('people')), 'Rejected');
    expect(big.message).toMatch(/more than maxFileBytes \(10\)/);
  });
});
