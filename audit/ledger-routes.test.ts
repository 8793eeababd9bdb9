// The ledger's API through the real HTTP stack (createApp: access check, validation, error
// renderer, OpenAPI). Sign-in is being built separately, so these tests use a STAND-IN authorize
// that admits any call and attaches a fixed principal; the service underneath is real.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../server/app.js';
import { createLogger } from '../server/logger.js';
import { buildOpenApiDocument } from '../server/http/openapi.js';
import type { Authorize } from '../server/http/mount-routes.js';
import type { Principal } from '../shared/auth/permissions.js';
import { createTestVault, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, type TestLedger } from '../test/helpers/ledger.js';
import { auditRoutes } from './ledger-routes.js';
import { verifyEvidence } from './evidence-verify.js';
import { verifyInclusion, verifyConsistency } from './merkle.js';

const auditor: Principal = { kind: 'human', id: 'user-auditor-1', displayName: 'Audrey Auditor', roles: ['auditor'] };

/** STAND-IN until sign-in lands: admits every call and records which access rule it was asked about. */
const asked: string[] = [];
const standInAuthorize: Authorize = (req, access) => {
  asked.push(access === 'public' || access === 'authenticated' ? access : `${access.action}:${access.subject}`);
  (req as typeof req & { principal?: Principal }).principal = auditor;
};

let vault: TestVault;
let t: TestLedger;
let server: http.Server;
let base: string;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
  await appendSamples(t.ledger, 40);
  await t.ledger.checkpoint();
  await appendSamples(t.ledger, 20, 40);
  await t.ledger.checkpoint();
  const app = createApp({ log: createLogger({ level: 'silent' }), routes: auditRoutes({ ledger: t.ledger, exporter: { ledger: t.ledger, signer: vault.store } }), authorize: standInAuthorize });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

const get = async (p: string) => {
  const res = await fetch(`${base}${p}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('audit API', () => {
  it('serves every version of the public key without sign-in', async () => {
    asked.length = 0;
    const { status, body } = await get('/api/audit/keys');
    expect(status).toBe(200);
    expect(asked).toEqual(['public']);
    expect(body).toEqual({
      keyName: 'gatehouse-ledger',
      origin: await t.ledger.origin(),
      algorithm: 'ed25519',
      keys: [{ version: 1, publicKey: (await t.ledger.publicKeys())[0]!.publicKey, createdTime: expect.any(String), noteVerifierKey: expect.stringMatching(/^gatehouse-ledger\/[0-9a-f-]+\+[0-9a-f]{8}\+/) }],
    });
  });

  it('queries entries with filters and a cursor, under read:LedgerEntry', async () => {
    asked.length = 0;
    const first = await get('/api/audit/entries?actorKind=idp&limit=5&order=oldest');
    expect(asked).toEqual(['read:LedgerEntry']);
    expect(first.status).toBe(200);
    const entries = first.body.entries as { seq: number; actor: { kind: string } }[];
    expect(entries.map((e) => e.seq)).toEqual([0, 2, 4, 6, 8]);
    expect(entries.every((e) => e.actor.kind === 'idp')).toBe(true);
    const second = await get(`/api/audit/entries?actorKind=idp&limit=5&order=oldest&cursor=${first.body.nextCursor as string}`);
    expect((second.body.entries as { seq: number }[]).map((e) => e.seq)).toEqual([10, 12, 14, 16, 18]);
    const one = await get('/api/audit/entries/7');
    expect(one.body).toEqual(await t.ledger.get(7));
  });

  it('answers bad filters with 400 naming the field, and a missing entry with 404', async () => {
    expect(await get('/api/audit/entries?limit=5000')).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', field: 'limit' } } });
    expect(await get('/api/audit/entries?action=Not.A.Verb')).toMatchObject({ status: 400, body: { error: { field: 'action' } } });
    expect(await get('/api/audit/entries?from=last-week')).toMatchObject({ status: 400, body: { error: { field: 'from' } } });
    expect(await get('/api/audit/entries?colour=red')).toMatchObject({ status: 400 });
    expect(await get('/api/audit/entries/99999')).toMatchObject({ status: 404, body: { error: { code: 'not_found', message: 'ledger entry 99999 was not found' } } });
    expect(await get('/api/audit/entries/-1')).toMatchObject({ status: 400, body: { error: { field: 'seq' } } });
  });

  it('serves checkpoints and proofs that verify against them', async () => {
    const { body } = await get('/api/audit/checkpoints');
    const checkpoints = body.checkpoints as { treeSize: number; rootHash: string }[];
    expect(checkpoints.map((c) => c.treeSize)).toEqual([40, 60]);
    const inc = (await get('/api/audit/entries/33/inclusion-proof?treeSize=40')).body as { leafHash: string; path: string[] };
    expect(verifyInclusion(33, 40, Buffer.from(inc.leafHash, 'hex'), inc.path.map((p) => Buffer.from(p, 'hex')), Buffer.from(checkpoints[0]!.rootHash, 'hex'))).toBe(true);
    const cons = (await get('/api/audit/consistency-proof?fromSize=40&toSize=60')).body as { path: string[] };
    expect(verifyConsistency(40, 60, Buffer.from(checkpoints[0]!.rootHash, 'hex'), Buffer.from(checkpoints[1]!.rootHash, 'hex'), cons.path.map((p) => Buffer.from(p, 'hex')))).toBe(true);
    expect(await get('/api/audit/entries/50/inclusion-proof?treeSize=40')).toMatchObject({ status: 400, body: { error: { field: 'seq' } } });
  });

  it('streams an evidence export zip under export:Evidence, recorded under the caller’s name', async () => {
    asked.length = 0;
    const res = await fetch(`${base}/api/audit/exports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fromSeq: 10, toSeq: 45, format: 'csv' }) });
    expect(res.status).toBe(200);
    expect(asked).toEqual(['export:Evidence']);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="gatehouse-evidence-10-45.zip"');
    const zip = path.join(mkdtempSync(path.join(os.tmpdir(), 'gatehouse-api-export-')), 'export.zip');
    writeFileSync(zip, Buffer.from(await res.arrayBuffer()));
    const report = await verifyEvidence(zip);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 36, coveringCheckpoint: 60 });
    const recorded = await t.ledger.query({ action: 'export.created', limit: 1 });
    expect(recorded.entries[0]).toMatchObject({ actor: { kind: 'human', id: 'user-auditor-1', display: 'Audrey Auditor' }, details: { format: 'csv', firstSeq: 10, lastSeq: 45 } });
  });

  it('refuses a malformed export request with 400 naming the field, writing nothing', async () => {
    const before = await t.ledger.head();
    const res = await fetch(`${base}/api/audit/exports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fromSeq: 5, toSeq: 2 }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_request', field: 'toSeq' } });
    expect(await t.ledger.head()).toEqual(before);
  });

  it('lists every audit route in the OpenAPI document with its access rule', () => {
    const doc = buildOpenApiDocument(auditRoutes({ ledger: t.ledger, exporter: { ledger: t.ledger, signer: vault.store } }), { version: 'test', serverUrl: base }) as {
      paths: Record<string, Record<string, { 'x-gatehouse-access': string; parameters: { name: string }[] }>>;
    };
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/audit/checkpoints',
      '/api/audit/consistency-proof',
      '/api/audit/entries',
      '/api/audit/entries/{seq}',
      '/api/audit/entries/{seq}/inclusion-proof',
      '/api/audit/exports',
      '/api/audit/keys',
    ]);
    expect(doc.paths['/api/audit/keys']!.get!['x-gatehouse-access']).toBe('public');
    expect(doc.paths['/api/audit/entries']!.get!['x-gatehouse-access']).toBe('read:LedgerEntry');
    expect(doc.paths['/api/audit/exports']!.post!['x-gatehouse-access']).toBe('export:Evidence');
    expect(doc.paths['/api/audit/entries']!.get!.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['from', 'to', 'actorId', 'subjectId', 'action', 'workflowId', 'cursor']));
  });
});
