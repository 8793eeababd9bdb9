// The directory admin API through the real HTTP stack (createApp). Sign-in and roles are being built
// separately; until they land, `admitAsStandIn` below stands in for the server's authorize: it admits
// every call and records the permission each route asked for, so the declarations are checked too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authorize } from '../server/http/mount-routes.js';
import type { RouteAccess } from '../shared/http/api-route.js';
import { startScimTestServer, type ScimTestServer } from '../test/helpers/scim.js';

describe('directory API routes', () => {
  let s: ScimTestServer;
  const asked: { method: string; path: string; access: RouteAccess }[] = [];
  /** Stand-in for sign-in (not built yet): admits the call, remembering what it needed. */
  const admitAsStandIn: Authorize = (req, access) => {
    asked.push({ method: req.method, path: req.route?.path as string, access });
    // What sign-in would attach: the changes are recorded under this person.
    req.principal = { kind: 'human', id: 'stand-in-admin', roles: ['admin'] };
  };

  const api = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.origin}${path}`, { method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as T };
  };
  const accessOf = (method: string, path: string) => asked.filter((a) => a.method === method && a.path === path).map((a) => a.access);

  beforeAll(async () => {
    s = await startScimTestServer({ authorize: admitAsStandIn });
  });
  afterAll(async () => s?.close());

  it('creates and lists directories, refusing duplicates and bad names with the field', async () => {
    const created = await api<{ directory: { id: string; name: string }; scimBaseUrl: string }>('POST', '/api/directories', { name: 'Okta' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ directory: { name: 'Okta', userCount: 0 }, scimBaseUrl: s.base });
    expect(accessOf('POST', '/api/directories')).toEqual([{ action: 'manage', subject: 'Directory' }]);

    const dup = await api('POST', '/api/directories', { name: 'OKTA' });
    expect(dup).toMatchObject({ status: 409, body: { error: { code: 'conflict', field: 'name' } } });
    const bad = await api('POST', '/api/directories', { name: '' });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', field: 'name' } } });

    const list = await api<{ directories: { name: string }[] }>('GET', '/api/directories');
    expect(list.body.directories.map((d) => d.name)).toEqual(['Okta']);
    expect(accessOf('GET', '/api/directories')).toEqual([{ action: 'read', subject: 'Directory' }]);
  });

  it('issues a token once, which then works at /scim/v2, and revokes it, after which it does not', async () => {
    const { body } = await api<{ directory: { id: string } }>('POST', '/api/directories', { name: 'Entra' });
    const id = body.directory.id;
    const issued = await api<{ token: { id: string; hint: string }; secret: string; scimBaseUrl: string }>('POST', `/api/directories/${id}/tokens`, { label: 'Entra provisioning' });
    expect(issued.status).toBe(201);
    expect(issued.headers.get('cache-control')).toBe('no-store');
    expect(issued.body.secret).toMatch(/^gh_scim_/);
    expect(issued.body.token.hint).toBe(issued.body.secret.slice(-4));
    expect(accessOf('POST', '/api/directories/:directoryId/tokens')).toEqual([{ action: 'manage', subject: 'Directory' }]);

    expect((await s.request(issued.body.secret, 'GET', '/Users')).status).toBe(200);

    const shown = await api<{ directory: { activeTokenCount: number }; tokens: Record<string, unknown>[] }>('GET', `/api/directories/${id}`);
    expect(shown.body.directory.activeTokenCount).toBe(1);
    expect(shown.body.tokens).toEqual([expect.objectContaining({ id: issued.body.token.id, label: 'Entra provisioning', revokedAt: null })]);
    expect(JSON.stringify(shown.body)).not.toContain(issued.body.secret);
    expect(accessOf('GET', '/api/directories/:directoryId')).toEqual([{ action: 'read', subject: 'Directory' }]);

    const revoked = await api<{ token: { revokedAt: string } }>('DELETE', `/api/directories/${id}/tokens/${issued.body.token.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.token.revokedAt).toEqual(expect.any(String));
    expect(accessOf('DELETE', '/api/directories/:directoryId/tokens/:tokenId')).toEqual([{ action: 'manage', subject: 'Directory' }]);
    expect((await s.request(issued.body.secret, 'GET', '/Users')).status).toBe(401);
  });

  it('answers 404 for unknown directories and tokens, and 400 for ids that are not ids', async () => {
    expect((await api('GET', '/api/directories/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await api('POST', '/api/directories/00000000-0000-4000-8000-000000000000/tokens', {})).status).toBe(404);
    const { body } = await api<{ directory: { id: string } }>('POST', '/api/directories', { name: 'Third' });
    expect((await api('DELETE', `/api/directories/${body.directory.id}/tokens/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    const notAnId = await api('GET', '/api/directories/okta');
    expect(notAnId).toMatchObject({ status: 400, body: { error: { field: 'directoryId' } } });
    expect((await api('POST', `/api/directories/${body.directory.id}/tokens`, { label: 7 })).status).toBe(400);
  });

  it('names the OpenID issuers that vouch for a directory’s people, on creation and later, refusing what is not an issuer', async () => {
    const created = await api<{ directory: { id: string; signInIssuers: string[] } }>('POST', '/api/directories', { name: 'Workforce', signInIssuers: ['https://login.acme.test', 'https://login.acme.test'] });
    expect(created).toMatchObject({ status: 201, body: { directory: { signInIssuers: ['https://login.acme.test'] } } });
    const id = created.body.directory.id;
    const bare = await api<{ directory: { signInIssuers: string[] } }>('POST', '/api/directories', { name: 'Partners' });
    expect(bare.body.directory.signInIssuers).toEqual([]);

    for (const bad of [['not a url'], ['ftp://login.acme.test'], ['https://login.acme.test/?tenant=x'], 'https://login.acme.test']) {
      const refused = await api('PATCH', `/api/directories/${id}`, { signInIssuers: bad });
      expect(refused).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', field: expect.stringMatching(/^signInIssuers/) } } });
    }
    expect((await api<{ directory: { signInIssuers: string[] } }>('GET', `/api/directories/${id}`)).body.directory.signInIssuers).toEqual(['https://login.acme.test']);

    const changed = await api<{ directory: { signInIssuers: string[] } }>('PATCH', `/api/directories/${id}`, { signInIssuers: ['https://login.acme.test', 'https://sso.acme.test/realms/staff'] });
    expect(changed).toMatchObject({ status: 200, body: { directory: { signInIssuers: ['https://login.acme.test', 'https://sso.acme.test/realms/staff'] } } });
    expect(new Set(accessOf('PATCH', '/api/directories/:directoryId').map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ action: 'manage', subject: 'Directory' })]));
    const entries = await s.sql<{ details: unknown }>("SELECT doc -> 'details' AS details FROM ledger_entry WHERE doc ->> 'action' = 'directory.sign_in_issuers.changed' AND doc -> 'target' ->> 'id' = $1", [id]);
    expect(entries.map((e) => e.details)).toEqual([{ before: ['https://login.acme.test'], after: ['https://login.acme.test', 'https://sso.acme.test/realms/staff'] }]);
    expect((await api('PATCH', '/api/directories/00000000-0000-4000-8000-000000000000', { signInIssuers: [] })).status).toBe(404);
  });
});
