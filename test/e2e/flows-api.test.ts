// Sync flows through the API of a running Gatehouse: a draft is checked without being stored, a
// publication is stored and recorded on the ledger, publishing the version in force changes
// nothing, and a concurrent publication is refused rather than overwritten.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { startAccessServer, type AccessServer } from '../helpers/access-server.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
interface Publication {
  seq: number;
  name: string;
  versionHash: string;
  publishedBy: { kind: string; id: string; name?: string };
  note?: string;
}

describe('sync flows API', () => {
  let s: AccessServer;
  let approver: PersonCredentials;
  const flow = (operation = 'upsert', connector?: string) => `
apiVersion: gatehouse.dev/v1
kind: Flow
name: people-copy
source: { connector: ${s.connector.name}, objectClass: people }
target: { connector: ${connector ?? s.connector.name}, objectClass: people-copy, operation: ${operation} }
mapping: '$'   # the record as read
`;
  const ledger = () => createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });

  beforeAll(async () => {
    s = await startAccessServer();
    approver = await testCallers(s.orm).person(['security-approver'], 'Sam Approver');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('checks a draft, naming what is wrong, and stores nothing', async () => {
    const ok = await s.api<{ valid: boolean; name: string; versionHash: string }>(approver, 'POST', '/api/flows/validate', { document: flow() });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ valid: true, name: 'people-copy', versionHash: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const unknown = await s.api<ErrorBody>(s.admin, 'POST', '/api/flows/validate', { document: flow('upsert', 'no-such-db') });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ field: 'target.connector', message: expect.stringContaining('no connector is named no-such-db') });
    const badMapping = await s.api<ErrorBody>(s.admin, 'POST', '/api/flows/validate', { document: flow().replace("mapping: '$'", "mapping: '{ \"a\": '") });
    expect(badMapping.body.error).toMatchObject({ field: 'mapping' });

    expect((await s.api<{ flows: unknown[] }>(s.admin, 'GET', '/api/flows')).body.flows).toEqual([]);
  });

  it('publishes a version, records it, and publishing it again changes nothing', async () => {
    const first = await s.api<{ published: boolean; publication: Publication }>(s.admin, 'POST', '/api/flows', { document: flow(), note: 'first copy', replaces: null });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.publication).toMatchObject({ name: 'people-copy', note: 'first copy' });
    const again = await s.api<{ published: boolean; publication: Publication }>(s.admin, 'POST', '/api/flows', { document: `# reformatted\n${flow()}` });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ published: false, publication: { seq: first.body.publication.seq } });

    const [entry] = (await ledger().query({ action: 'flow.published' })).entries;
    expect(entry).toMatchObject({
      subject: { type: 'flow', id: 'people-copy' },
      details: { versionHash: first.body.publication.versionHash, previous: null, newVersion: true, target: { objectClass: 'people-copy', operation: 'upsert' }, note: 'first copy' },
    });
    expect((await ledger().query({ action: 'flow.published' })).entries).toHaveLength(1);
  });

  it('refuses a publication over a version it did not expect, and takes one that names the version in force', async () => {
    const current = (await s.api<{ inForce: Publication }>(s.admin, 'GET', '/api/flows/people-copy')).body.inForce;
    const stale = await s.api<ErrorBody>(s.admin, 'POST', '/api/flows', { document: flow('create-only'), replaces: null });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ field: 'replaces', message: expect.stringContaining('someone published it since you read it') });

    const next = await s.api<{ publication: Publication }>(s.admin, 'POST', '/api/flows', { document: flow('create-only'), replaces: current.versionHash });
    expect(next.status, JSON.stringify(next.body)).toBe(201);
    const shown = await s.api<{ inForce: Publication & { version: { document: { target: { operation: string } }; source: string } }; publications: Publication[] }>(approver, 'GET', '/api/flows/people-copy');
    expect(shown.body.inForce.versionHash).toBe(next.body.publication.versionHash);
    expect(shown.body.inForce.version.document.target.operation).toBe('create-only');
    expect(shown.body.inForce.version.source).toContain('# the record as read');
    expect(shown.body.publications.map((p) => p.versionHash)).toEqual([next.body.publication.versionHash, current.versionHash]);
    const latest = (await ledger().query({ action: 'flow.published' })).entries.find((e) => e.details?.versionHash === next.body.publication.versionHash);
    expect(latest?.details).toMatchObject({ previous: current.versionHash, newVersion: true });

    const list = await s.api<{ flows: Publication[] }>(approver, 'GET', '/api/flows');
    expect(list.body.flows.map((f) => [f.name, f.versionHash])).toEqual([['people-copy', next.body.publication.versionHash]]);
  });

  it('lets approvers read and check flows, and only admins publish', async () => {
    const refused = await s.api<ErrorBody>(approver, 'POST', '/api/flows', { document: flow('create-only') });
    expect(refused.status).toBe(403);
    expect((await s.api(s.admin, 'GET', '/api/flows/no-such-flow')).status).toBe(404);
  });
});
