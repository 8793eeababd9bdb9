// The `gatehouse audit` commands as an operator runs them: a real process against the suite's
// PostgreSQL and Vault, and `verify-export` with no database or Vault configured at all.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, type TestVault } from '../helpers/services.js';
import { appendSamples, asRogueSuperuser, createTestLedger, type TestLedger } from '../helpers/ledger.js';
import { repoRoot } from '../../server/server.js';

let vault: TestVault;
let t: TestLedger;
let work: string;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
  await appendSamples(t.ledger, 250);
  await t.ledger.checkpoint();
  await appendSamples(t.ledger, 50, 250);
  work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cli-'));
});
afterAll(async () => {
  await t?.close();
});

/** Runs `gatehouse <args>`; `connected` gives it the suite's database and Vault, otherwise nothing. */
function gatehouse(args: string[], connected = true): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABASE_|VAULT_|TEMPORAL_|GATEHOUSE_)/.test(k)));
  const env = {
    ...base,
    LOG_LEVEL: 'silent',
    GATEHOUSE_DATA_DIR: path.join(work, 'data'),
    ...(connected
      ? { DATABASE_URL: t.db.ownerUrl, DATABASE_APP_URL: t.db.appUrl, DATABASE_LEDGER_URL: t.db.ledgerUrl, VAULT_ADDR: vault.address, VAULT_TOKEN: vault.token, VAULT_KV_MOUNT: vault.kvMount, VAULT_TRANSIT_MOUNT: vault.transitMount }
      : {}),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/gatehouse.mjs'), ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('gatehouse audit', () => {
  it('verify: reports an intact ledger and exits 0', async () => {
    const r = await gatehouse(['audit', 'verify']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^verified: 300 entries, 1 of 1 checkpoints signed and matching \(latest at tree size 250\), in [\d.]+ s\n$/);
    expect(r.code).toBe(0);
  });

  it('checkpoint: signs one over every entry now', async () => {
    const r = await gatehouse(['audit', 'checkpoint']);
    expect(r.stdout).toMatch(/^checkpoint at tree size 300, root [0-9a-f]{64}, key gatehouse-ledger v1, /);
    expect(r.code).toBe(0);
  });

  it('export then verify-export with no database or Vault configured: verified, exit 0', async () => {
    const out = path.join(work, 'evidence.zip');
    const exported = await gatehouse(['audit', 'export', '--from-seq', '10', '--to-seq', '120', '--format', 'csv', '--out', out]);
    expect(exported.stderr).toBe('');
    expect(exported.stdout).toMatch(/^exported entries 10\.\.120 \(111\) as csv to .*evidence\.zip\ncovered by the checkpoint at tree size 250; manifest SHA-256 [0-9a-f]{64}; recorded as ledger entry 300\n$/);
    expect(exported.code).toBe(0);

    const keys = path.join(work, 'trusted-keys.json');
    writeFileSync(keys, JSON.stringify({ keys: await t.ledger.publicKeys() }));
    const verified = await gatehouse(['audit', 'verify-export', out, '--keys', keys], false);
    expect(verified.stdout).toMatch(/^verified: 111 entries \(10\.\.120\) of gatehouse-ledger\/[0-9a-f-]+, covered by the signed checkpoint at tree size 250\n/);
    expect(verified.code).toBe(0);
  });

  it('verify-export: names an edited file and exits 1', async () => {
    const dir = path.join(work, 'evidence-folder');
    expect((await gatehouse(['audit', 'export', '--from-seq', '0', '--to-seq', '50', '--out', dir])).code).toBe(0);
    const file = path.join(dir, 'entries.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"note":"sample 33"', '"note":"sample 34"'));
    const r = await gatehouse(['audit', 'verify-export', dir], false);
    expect(r.stdout).toContain('NOT VERIFIED: 2 problem(s); the first bad entry is 33\n');
    expect(r.stdout).toContain('  entry-altered: entry 33 (entries.jsonl line 34) was changed: it no longer hashes to its hash\n');
    expect(r.code).toBe(1);
  });

  it('export: a bad range is one line naming the field, exit 1, nothing recorded', async () => {
    const before = await t.ledger.head();
    const r = await gatehouse(['audit', 'export', '--from', 'tuesday', '--out', path.join(work, 'never.zip')]);
    expect(r.stderr).toBe('gatehouse: from: must be an ISO 8601 date-time, e.g. 2026-10-01T00:00:00Z\n');
    expect(r.code).toBe(1);
    expect(await t.ledger.head()).toEqual(before);
  });

  it('verify: names the first bad entry of a tampered ledger and exits 1', async () => {
    await asRogueSuperuser(t.db, async (c) => {
      await c.query('DELETE FROM ledger_entry WHERE seq = 77');
    });
    const r = await gatehouse(['audit', 'verify']);
    expect(r.stdout).toContain('NOT VERIFIED: ');
    expect(r.stdout).toContain('the first bad entry is 77\n');
    expect(r.stdout).toContain('  entry-missing: entry 77 is missing (deleted)\n');
    expect(r.code).toBe(1);
  });
});
