// RFC 7644 over HTTP: discovery, authentication, status codes and SCIM errors, ETags, listing
// (paging, sorting, projection), searches, bulk, and bad input that changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN } from '../helpers/services.js';
import { startScimTestServer, type ListShape, type ScimErrorShape, type ScimTestServer, type TestDirectory } from '../helpers/scim.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const LIMITS = 'urn:gatehouse:params:scim:schemas:extension:limits:1.0:ServiceProviderConfig';
const q = encodeURIComponent;
/** n e-mail values, as short as a value can be, to stay under the test server's 8 KiB body limit. */
const manyEmails = (n: number) => Array.from({ length: n }, (_, i) => ({ value: `${i}` }));

describe('SCIM protocol', () => {
  let s: ScimTestServer;
  let d: TestDirectory;
  const user = (userName: string, extra: Record<string, unknown> = {}) => ({ schemas: [USER], userName, ...extra });
  const create = async (userName: string, extra: Record<string, unknown> = {}) => {
    const r = await s.request(d.token, 'POST', '/Users', user(userName, extra));
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string; meta: { version: string; created: string; lastModified: string } };
  };
  /** Everything a refusal must leave unchanged: the resources and the outbox. */
  const snapshot = () => s.sql('SELECT (SELECT json_agg(u ORDER BY id) FROM scim_user u) AS users, (SELECT json_agg(g ORDER BY id) FROM scim_group g) AS groups, (SELECT json_agg(m ORDER BY group_id, member_id) FROM scim_group_member m) AS members, (SELECT count(*) FROM scim_outbox) AS events');

  beforeAll(async () => {
    s = await startScimTestServer({ module: { limits: { maxResults: 5, defaultCount: 3, maxPatchOperations: 20, filter: { maxLength: 300, maxNodes: 10, maxDepth: 4 }, maxListedMembers: 7 }, bulk: { maxOperations: 6, maxPayloadSize: 8192 } } });
    d = await s.directory('protocol');
  });
  afterAll(async () => s?.close());

  describe('discovery', () => {
    it('advertises what the server does, including its limits', async () => {
      const r = await s.request(d.token, 'GET', '/ServiceProviderConfig');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig', LIMITS],
        patch: { supported: true },
        bulk: { supported: true, maxOperations: 6, maxPayloadSize: 8192 },
        filter: { supported: true, maxResults: 5 },
        changePassword: { supported: false },
        sort: { supported: true },
        etag: { supported: true },
        authenticationSchemes: [{ type: 'oauthbearertoken', primary: true }],
        [LIMITS]: { maxValuesPerAttribute: 256, maxMembersPerPatch: 2500, maxPatchOperations: 20, maxListedMembers: 7 },
      });
    });

    it('lists resource types and schemas', async () => {
      const types = await s.request<ListShape>(d.token, 'GET', '/ResourceTypes');
      expect(types.body.Resources.map((t) => t.id)).toEqual(['User', 'Group']);
      expect(types.body.Resources[0]).toMatchObject({ endpoint: '/Users', schema: USER, schemaExtensions: [{ schema: ENTERPRISE, required: false }] });
      expect((await s.request(d.token, 'GET', '/ResourceTypes/Group')).body).toMatchObject({ id: 'Group', endpoint: '/Groups' });
      const schemas = await s.request<ListShape<{ id: string; attributes: { name: string; caseExact: boolean; uniqueness: string; returned: string }[] }>>(d.token, 'GET', '/Schemas');
      expect(schemas.body.totalResults).toBe(3);
      const core = schemas.body.Resources.find((r) => r.id === USER)!;
      expect(core.attributes.find((a) => a.name === 'userName')).toMatchObject({ caseExact: false, uniqueness: 'server', required: true });
      expect(core.attributes.find((a) => a.name === 'password')).toMatchObject({ returned: 'never', mutability: 'writeOnly' });
      expect((await s.request(d.token, 'GET', `/Schemas/${ENTERPRISE}`)).body).toMatchObject({ id: ENTERPRISE, name: 'EnterpriseUser' });
      expect((await s.request(d.token, 'GET', '/Schemas/urn:example:nope')).status).toBe(404);
    });
  });

  describe('authentication', () => {
    it('refuses requests without a valid directory token, with WWW-Authenticate and a SCIM error', async () => {
      for (const auth of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer not-a-token', `Bearer gh_scim_${'A'.repeat(43)}`]) {
        const r = await s.request(undefined, 'GET', '/Users', undefined, auth ? { Authorization: auth } : {});
        expect(r.status, auth).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="Gatehouse SCIM"');
        expect(r.body).toMatchObject({ schemas: [ERROR], status: '401' });
        expect((r.body as unknown as ScimErrorShape).detail).toMatch(/token/);
      }
    });

    it('refuses a revoked token at once in this process', async () => {
      const other = await s.directory('to-revoke');
      expect((await s.request(other.token, 'GET', '/Users')).status).toBe(200);
      await s.scim.directories.revokeToken(other.tokenId, TEST_ADMIN);
      const r = await s.request(other.token, 'GET', '/Users');
      expect(r.status).toBe(401);
      expect((r.body as unknown as ScimErrorShape).detail).toMatch(/unknown or revoked/);
    });

    it('authenticates before reading the body', async () => {
      const r = await s.request(undefined, 'POST', '/Users', '{not json');
      expect(r.status).toBe(401);
    });
  });

  describe('endpoints and status codes', () => {
    it('answers /Me with 501, unknown endpoints with 404 and unsupported methods with 405, all as SCIM errors', async () => {
      const me = await s.request(d.token, 'GET', '/Me');
      expect(me.status).toBe(501);
      expect(me.body).toMatchObject({ schemas: [ERROR], status: '501' });
      expect((await s.request(d.token, 'PATCH', '/Me', {})).status).toBe(501);
      const unknown = await s.request(d.token, 'GET', '/Widgets');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ schemas: [ERROR], status: '404' });
      const method = await s.request(d.token, 'PATCH', '/Users', {});
      expect(method.status).toBe(405);
      expect(method.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    });

    it('routes as RFC 7644 clients expect: names in any case, a trailing slash, HEAD, and ids percent-decoded', async () => {
      const created = await create('routing@example.com');
      const lower = await s.request<ListShape>(d.token, 'GET', `/users?filter=${q('userName eq "routing@example.com"')}`);
      expect(lower.status).toBe(200);
      expect(lower.body.totalResults).toBe(1);
      expect((await s.request(d.token, 'GET', '/serviceproviderconfig')).status).toBe(200);
      expect((await s.request(d.token, 'GET', `/Users/${created.id}/`)).body).toMatchObject({ id: created.id });
      expect((await s.request(d.token, 'GET', `/USERS/${q(created.id)}`)).status).toBe(200);
      const head = await s.request(d.token, 'HEAD', `/Users/${created.id}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('etag')).toBe(created.meta.version);
      expect(head.text).toBe('');
      // Paths the endpoint does not have, each named in the error.
      const deeper = await s.request<ScimErrorShape>(d.token, 'GET', `/Users/${created.id}/groups`);
      expect(deeper.status).toBe(404);
      expect(deeper.body.detail).toBe(`no SCIM endpoint GET /scim/v2/Users/${created.id}/groups`);
      const badEncoding = await s.request<ScimErrorShape>(d.token, 'GET', '/Users/%E0%A4%A');
      expect(badEncoding.status).toBe(404);
      expect(badEncoding.body.detail).toContain('not percent-encoded correctly');
      const post = await s.request<ScimErrorShape>(d.token, 'POST', `/Users/${created.id}`, {});
      expect(post.status).toBe(405);
      expect(post.body.detail).toBe('POST is not supported on /Users/{id}');
      expect((await s.request(d.token, 'GET', '/Bulk')).status).toBe(404);
    });

    it('sends the security headers and request id every response of the server carries', async () => {
      const r = await s.request(d.token, 'GET', '/ServiceProviderConfig', undefined, { 'X-Request-Id': 'idp-trace-42' });
      expect(r.headers.get('x-request-id')).toBe('idp-trace-42');
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('strict-transport-security')).toContain('max-age=');
      expect(r.headers.get('x-powered-by')).toBeNull();
      const refused = await s.request(undefined, 'GET', '/Users');
      expect(refused.status).toBe(401);
      expect(refused.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
    });

    it('creates with 201, Location and ETag; deletes with 204, after which the resource is 404', async () => {
      const r = await s.request(d.token, 'POST', '/Users', user('status@example.com'));
      expect(r.status).toBe(201);
      const body = r.body as { id: string; meta: { location: string; version: string } };
      expect(r.headers.get('location')).toBe(body.meta.location);
      expect(body.meta.location).toBe(`${s.base}/Users/${body.id}`);
      expect(r.headers.get('etag')).toBe(body.meta.version);
      expect((await s.request(d.token, 'DELETE', `/Users/${body.id}`)).status).toBe(204);
      const gone = await s.request(d.token, 'GET', `/Users/${body.id}`);
      expect(gone.status).toBe(404);
      expect(gone.body).toMatchObject({ schemas: [ERROR], status: '404', detail: `User ${body.id} not found` });
      expect((await s.request(d.token, 'DELETE', `/Users/${body.id}`)).status).toBe(404);
      expect((await s.request(d.token, 'GET', '/Users/not-a-uuid')).status).toBe(404);
    });

    it('answers 409 uniqueness for a duplicate userName, case-insensitively, on create and on update', async () => {
      await create('Dup@Example.com');
      const other = await create('other-dup@example.com');
      const before = await snapshot();
      const dup = await s.request(d.token, 'POST', '/Users', user('dup@EXAMPLE.com'));
      expect(dup.status).toBe(409);
      expect(dup.body).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
      expect((await s.request(d.token, 'PUT', `/Users/${other.id}`, user('DUP@example.com'))).status).toBe(409);
      expect((await s.request(d.token, 'PATCH', `/Users/${other.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'userName', value: 'dup@example.COM' }] })).status).toBe(409);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('ETags', () => {
    it('returns meta.version as the ETag, 304 for If-None-Match, and 412 for a stale If-Match', async () => {
      const u = await create('etag@example.com');
      const get = await s.request(d.token, 'GET', `/Users/${u.id}`);
      const etag = get.headers.get('etag')!;
      expect(etag).toBe(u.meta.version);
      expect(etag).toMatch(/^W\/"\d+"$/);
      const notModified = await s.request(d.token, 'GET', `/Users/${u.id}`, undefined, { 'If-None-Match': etag });
      expect(notModified.status).toBe(304);
      expect(notModified.text).toBe('');

      const patched = await s.request(d.token, 'PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'title', value: 'v2' }] }, { 'If-Match': etag });
      expect(patched.status).toBe(200);
      const newTag = patched.headers.get('etag')!;
      expect(newTag).not.toBe(etag);
      expect((await s.request(d.token, 'GET', `/Users/${u.id}`, undefined, { 'If-None-Match': etag })).status).toBe(200);

      const before = await snapshot();
      for (const [method, body] of [
        ['PATCH', { schemas: [PATCH], Operations: [{ op: 'add', path: 'title', value: 'v3' }] }],
        ['PUT', user('etag@example.com', { title: 'v3' })],
        ['DELETE', undefined],
      ] as const) {
        const r = await s.request(d.token, method, `/Users/${u.id}`, body, { 'If-Match': etag });
        expect(r.status, method).toBe(412);
        expect(r.body).toMatchObject({ schemas: [ERROR], status: '412' });
      }
      expect(await snapshot()).toEqual(before);
      expect((await s.request(d.token, 'PUT', `/Users/${u.id}`, user('etag@example.com', { title: 'v3' }), { 'If-Match': '*' })).status).toBe(200);
    });

    it('does not write when a PATCH changes nothing', async () => {
      const u = await create('noop@example.com', { title: 'same' });
      const before = await snapshot();
      const r = await s.request(d.token, 'PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'title', value: 'same' }] });
      expect(r.status).toBe(200);
      expect(r.headers.get('etag')).toBe(u.meta.version);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('bad input', () => {
    const cases: [string, string, string, unknown, number, string | undefined, RegExp][] = [
      ['malformed JSON', 'POST', '/Users', '{"schemas": [', 400, 'invalidSyntax', /not valid JSON/],
      ['a JSON array', 'POST', '/Users', '[]', 400, 'invalidSyntax', /must be a JSON object/],
      ['no schemas', 'POST', '/Users', { userName: 'x' }, 400, 'invalidSyntax', /schemas: is required/],
      ['an unknown schema', 'POST', '/Users', { schemas: [USER, 'urn:example:custom:1.0:User'], userName: 'x' }, 400, 'invalidSyntax', /urn:example:custom:1.0:User/],
      ['the wrong core schema', 'POST', '/Groups', { schemas: [USER], displayName: 'x' }, 400, 'invalidSyntax', /is not a schema of Group/],
      ['an unknown attribute', 'POST', '/Users', { schemas: [USER], userName: 'x', shoeSize: 42 }, 400, 'invalidSyntax', /shoeSize: is not an attribute of User/],
      ['a wrong type', 'POST', '/Users', { schemas: [USER], userName: 'x', active: 'maybe' }, 400, 'invalidValue', /active: must be true or false/],
      ['a string where an array belongs', 'POST', '/Users', { schemas: [USER], userName: 'x', emails: 'x@example.com' }, 400, 'invalidValue', /emails: must be an array/],
      ['two primary emails', 'POST', '/Users', { schemas: [USER], userName: 'x', emails: [{ value: 'a', primary: true }, { value: 'b', primary: true }] }, 400, 'invalidValue', /only one value may have primary true/],
      ['no userName', 'POST', '/Users', { schemas: [USER], displayName: 'x' }, 400, 'invalidValue', /userName: is required/],
      ['a NUL character', 'POST', '/Users', { schemas: [USER], userName: 'x\u0000y' }, 400, 'invalidValue', /NUL/],
      ['an unpaired surrogate', 'POST', '/Users', '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "\\ud800"}', 400, 'invalidValue', /not valid Unicode/],
      ['a prototype key', 'POST', '/Users', '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "__proto__": {"admin": true}}', 400, 'invalidSyntax', /not allowed/],
      ['a member that does not exist', 'POST', '/Groups', { schemas: [GROUP], displayName: 'G', members: [{ value: '00000000-0000-4000-8000-000000000000' }] }, 400, 'invalidValue', /members\[0\]\.value: no User or Group/],
      ['a hostile filter', 'GET', `/Users?filter=${q('userName eq "x" or 1 eq 1; DROP TABLE scim_user')}`, undefined, 400, 'invalidFilter', /filter:/],
      ['a filter on an unknown attribute', 'GET', `/Users?filter=${q('pwd eq "x"')}`, undefined, 400, 'invalidFilter', /not an attribute of User/],
      ['a too long filter', 'GET', `/Users?filter=${q(`userName eq "${'x'.repeat(300)}"`)}`, undefined, 400, 'invalidFilter', /longer than 300/],
      ['too many filter expressions', 'GET', `/Users?filter=${q(Array.from({ length: 11 }, () => 'title pr').join(' or '))}`, undefined, 400, 'invalidFilter', /at most 10/],
      ['a filter given twice', 'GET', '/Users?filter=title%20pr&filter=title%20pr', undefined, 400, 'invalidValue', /filter: is given more than once/],
      ['a non-numeric startIndex', 'GET', '/Users?startIndex=abc', undefined, 400, 'invalidValue', /startIndex: must be an integer/],
      ['an unknown sortOrder', 'GET', '/Users?sortBy=userName&sortOrder=sideways', undefined, 400, 'invalidValue', /sortOrder/],
      ['sortBy a complex attribute', 'GET', '/Users?sortBy=name', undefined, 400, 'invalidValue', /sortBy: name is complex/],
      ['an unknown attributes name', 'GET', '/Users?attributes=shoeSize', undefined, 400, 'invalidValue', /attributes:/],
      ['a PATCH without Operations', 'PATCH', '/Users/{id}', { schemas: [PATCH] }, 400, 'invalidSyntax', /Operations/],
      ['a PATCH to a readOnly attribute', 'PATCH', '/Users/{id}', { schemas: [PATCH], Operations: [{ op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' }] }, 400, 'mutability', /meta.created: is readOnly/],
      ['a PATCH path through __proto__', 'PATCH', '/Users/{id}', { schemas: [PATCH], Operations: [{ op: 'add', path: '__proto__.admin', value: true }] }, 400, 'invalidPath', /not allowed/],
      ['a PATCH with too many operations', 'PATCH', '/Users/{id}', { schemas: [PATCH], Operations: Array.from({ length: 21 }, () => ({ op: 'add', path: 'title', value: 'x' })) }, 400, 'invalidSyntax', /at most 20/],
      ['too many values in one attribute by PATCH', 'PATCH', '/Users/{id}', { schemas: [PATCH], Operations: [{ op: 'add', path: 'emails', value: manyEmails(257) }] }, 400, 'invalidValue', /^emails: has 257 values; at most 256 are allowed/],
      ['too many values in one attribute by POST', 'POST', '/Users', { schemas: [USER], userName: 'many', emails: manyEmails(257) }, 400, 'invalidValue', /^emails: has 257 values; at most 256 are allowed/],
      ['a search without the SearchRequest schema', 'POST', '/Users/.search', { filter: 'title pr' }, 400, 'invalidSyntax', /SearchRequest/],
    ];

    it.each(cases)('refuses %s with the right status and scimType, and changes nothing', async (_name, method, path, body, status, scimType, detail) => {
      const u = await create(`bad-${Math.random().toString(36).slice(2)}@example.com`);
      const before = await snapshot();
      const r = await s.request(d.token, method, path.replace('{id}', u.id), body);
      expect(r.status, r.text).toBe(status);
      expect(r.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
      expect(r.body).toMatchObject({ schemas: [ERROR], status: String(status), ...(scimType ? { scimType } : {}) });
      expect((r.body as unknown as ScimErrorShape).detail).toMatch(detail);
      expect(await snapshot()).toEqual(before);
    });

    it('refuses a body over maxPayloadSize with 413', async () => {
      const before = await snapshot();
      const r = await s.request(d.token, 'POST', '/Users', user('big@example.com', { title: 'x'.repeat(9000) }));
      expect(r.status).toBe(413);
      expect(r.body).toMatchObject({ schemas: [ERROR], status: '413' });
      expect((r.body as unknown as ScimErrorShape).detail).toMatch(/8192 bytes/);
      expect(await snapshot()).toEqual(before);
    });

    it('applies a group PATCH entirely or not at all', async () => {
      const g = await s.request(d.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Atomic' });
      const gid = (g.body as { id: string }).id;
      const before = await snapshot();
      const r = await s.request(d.token, 'PATCH', `/Groups/${gid}`, {
        schemas: [PATCH],
        Operations: [
          { op: 'replace', path: 'displayName', value: 'Renamed' },
          { op: 'add', path: 'members', value: [{ value: '11111111-1111-4111-8111-111111111111' }] },
        ],
      });
      expect(r.status).toBe(400);
      expect((r.body as unknown as ScimErrorShape).detail).toMatch(/no User or Group "11111111-1111-4111-8111-111111111111"/);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('listing', () => {
    let ids: string[];
    beforeAll(async () => {
      const other = await s.directory('listing');
      d = other;
      ids = [];
      for (const [i, name] of ['carol', 'Alice', 'bob', 'dave', 'Eve', 'frank', 'grace'].entries()) {
        const u = await create(`${name}@example.com`, {
          active: i % 3 !== 0,
          name: { givenName: name, familyName: `F${i}` },
          emails: [{ value: `${name}@work.example`, type: 'work', primary: i % 2 === 0 }, { value: `${name}@home.example`, type: 'home' }],
          password: 'never-stored',
          [ENTERPRISE]: { department: i < 3 ? 'R&D' : 'Sales' },
          schemas: [USER, ENTERPRISE],
        });
        ids.push(u.id);
      }
    });

    it('pages with startIndex and count in a stable order, capping count at maxResults', async () => {
      const page = (start: number, count?: number) => s.request<ListShape>(d.token, 'GET', `/Users?startIndex=${start}${count === undefined ? '' : `&count=${count}`}`);
      const first = await page(1, 2);
      expect(first.body).toMatchObject({ totalResults: 7, startIndex: 1, itemsPerPage: 2 });
      expect(first.body.Resources.map((r) => r.id)).toEqual(ids.slice(0, 2));
      expect((await page(3, 2)).body.Resources.map((r) => r.id)).toEqual(ids.slice(2, 4));
      expect((await page(7, 2)).body.Resources.map((r) => r.id)).toEqual(ids.slice(6));
      expect((await page(1, 100)).body).toMatchObject({ totalResults: 7, itemsPerPage: 5 });
      expect((await page(1)).body).toMatchObject({ itemsPerPage: 3 });
      expect((await page(0, 1)).body).toMatchObject({ startIndex: 1, Resources: [{ id: ids[0] }] });
      expect((await page(1, 0)).body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 7, startIndex: 1, itemsPerPage: 0, Resources: [] });
      expect((await page(1, -5)).body).toMatchObject({ totalResults: 7, itemsPerPage: 0 });
      expect((await page(100, 2)).body).toMatchObject({ totalResults: 7, itemsPerPage: 0, Resources: [] });
    });

    it('returns inactive users, and never the password', async () => {
      const all = await s.request<ListShape>(d.token, 'GET', `/Users?count=5&filter=${q('active eq false')}`);
      expect(all.body.totalResults).toBe(3);
      expect(all.text).not.toContain('never-stored');
    });

    it('sorts by attributes, case-insensitively for userName, and by the primary value of multi-valued ones', async () => {
      const names = async (query: string) => (await s.request<ListShape<{ userName: string }>>(d.token, 'GET', `/Users?count=5&${query}`)).body.Resources.map((r) => r.userName.split('@')[0]);
      expect(await names('sortBy=userName')).toEqual(['Alice', 'bob', 'carol', 'dave', 'Eve']);
      expect(await names('sortBy=userName&sortOrder=descending')).toEqual(['grace', 'frank', 'Eve', 'dave', 'carol']);
      expect(await names(`sortBy=${ENTERPRISE}:department&sortOrder=descending&filter=${q('userName sw "a" or userName sw "e"')}`)).toEqual(['Eve', 'Alice']);
      expect(await names(`sortBy=emails&filter=${q('userName sw "c" or userName sw "b"')}`)).toEqual(['bob', 'carol']);
      expect(await names('sortBy=meta.created&sortOrder=descending')).toEqual(['grace', 'frank', 'Eve', 'dave', 'bob']);
    });

    it('projects with attributes and excludedAttributes', async () => {
      const only = await s.request<ListShape>(d.token, 'GET', `/Users?count=1&attributes=userName,name.givenName,${ENTERPRISE}:department`);
      expect(only.body.Resources[0]).toEqual({ schemas: [USER, ENTERPRISE], id: ids[0], userName: 'carol@example.com', name: { givenName: 'carol' }, [ENTERPRISE]: { department: 'R&D' } });
      const subOfMulti = await s.request(d.token, 'GET', `/Users/${ids[1]}?attributes=emails.value`);
      expect(subOfMulti.body).toEqual({ schemas: [USER], id: ids[1], emails: [{ value: 'Alice@work.example' }, { value: 'Alice@home.example' }] });
      const without = await s.request(d.token, 'GET', `/Users/${ids[1]}?excludedAttributes=emails,meta,${ENTERPRISE},name.familyName,id`);
      expect(without.body).toEqual({ schemas: [USER], id: ids[1], userName: 'Alice@example.com', name: { givenName: 'Alice' }, active: true });
      const password = await s.request(d.token, 'GET', `/Users/${ids[1]}?attributes=password`);
      expect(password.body).toEqual({ schemas: [USER], id: ids[1] });
    });

    it('searches with POST /.search on a type and across types', async () => {
      const g = await s.request(d.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Everyone', members: ids.map((value) => ({ value })) });
      expect(g.status).toBe(201);
      const typed = await s.request<ListShape>(d.token, 'POST', '/Users/.search', { schemas: [SEARCH], filter: 'emails[type eq "work" and value sw "b"]', attributes: ['userName'], count: 10 });
      expect(typed.body.Resources).toEqual([{ schemas: [USER], id: ids[2], userName: 'bob@example.com' }]);
      const root = await s.request<ListShape>(d.token, 'POST', '/.search', { schemas: [SEARCH], filter: 'meta.created pr', startIndex: 6, count: 3 });
      expect(root.body.totalResults).toBe(8);
      expect(root.body.Resources.map((r) => (r.meta as { resourceType: string }).resourceType)).toEqual(['User', 'User', 'Group']);
      const groupsOnly = await s.request<ListShape>(d.token, 'POST', '/.search', { schemas: [SEARCH], filter: 'displayName eq "Everyone"', excludedAttributes: ['members'] });
      expect(groupsOnly.body).toMatchObject({ totalResults: 1, Resources: [{ displayName: 'Everyone' }] });
      expect(groupsOnly.body.Resources[0]).not.toHaveProperty('members');
    });

    it('filters on meta.lastModified', async () => {
      const u = await s.request<{ meta: { lastModified: string } }>(d.token, 'GET', `/Users/${ids[6]}`);
      const since = u.body.meta.lastModified;
      await s.request(d.token, 'PATCH', `/Users/${ids[0]}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'title', value: 'changed' }] });
      const changed = await s.request<ListShape>(d.token, 'GET', `/Users?filter=${q(`meta.lastModified gt "${since}"`)}`);
      expect(changed.body.Resources.map((r) => r.id)).toContain(ids[0]);
      expect(changed.body.Resources.map((r) => r.id)).not.toContain(ids[6]);
    });
  });

  describe('groups', () => {
    it('answers PATCH with 204, or 200 with the group when attributes are asked for', async () => {
      const a = await create(`ga-${Date.now()}@example.com`);
      const g = await s.request(d.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Readers' });
      const gid = (g.body as { id: string }).id;
      const add = await s.request(d.token, 'PATCH', `/Groups/${gid}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: a.id }] }] });
      expect(add.status).toBe(204);
      expect(add.headers.get('etag')).toBe('W/"2"');
      const withBody = await s.request(d.token, 'PATCH', `/Groups/${gid}?attributes=members,displayName`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Readers 2' }] });
      expect(withBody.status).toBe(200);
      expect(withBody.body).toMatchObject({ displayName: 'Readers 2', members: [{ value: a.id, type: 'User', $ref: `${s.base}/Users/${a.id}` }] });
    });

    it('keeps groups as members, refuses a group in itself, and removes a deleted member everywhere', async () => {
      const u = await create(`nest-${Date.now()}@example.com`);
      const inner = (await s.request(d.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Inner', members: [{ value: u.id }] })).body as { id: string };
      const outer = (await s.request(d.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Outer', members: [{ value: inner.id, type: 'Group' }, { value: u.id }] })).body as { id: string; members: unknown[] };
      expect(outer.members).toEqual([
        { value: inner.id, $ref: `${s.base}/Groups/${inner.id}`, type: 'Group' },
        { value: u.id, $ref: `${s.base}/Users/${u.id}`, type: 'User' },
      ]);
      const self = await s.request(d.token, 'PATCH', `/Groups/${inner.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: inner.id }] }] });
      expect(self.status).toBe(400);
      expect((await s.request<{ groups: unknown[] }>(d.token, 'GET', `/Users/${u.id}`)).body.groups).toHaveLength(2);
      expect((await s.request(d.token, 'DELETE', `/Users/${u.id}`)).status).toBe(204);
      expect((await s.request(d.token, 'GET', `/Groups/${outer.id}`)).body).toMatchObject({ members: [{ value: inner.id }] });
      expect((await s.request(d.token, 'DELETE', `/Groups/${inner.id}`)).status).toBe(204);
      expect((await s.request(d.token, 'GET', `/Groups/${outer.id}`)).body).not.toHaveProperty('members');
    });

    it('renders at most maxListedMembers members in a listing, refusing the page rather than cutting a group short', async () => {
      const dir = await s.directory('members-cap');
      const people: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await s.request(dir.token, 'POST', '/Users', user(`cap-${i}@example.com`));
        people.push((r.body as { id: string }).id);
      }
      const big = (await s.request(dir.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Big', members: people.map((value) => ({ value })) })).body as { id: string };
      await s.request(dir.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Small', members: [{ value: people[0] }] });
      const refused = await s.request(dir.token, 'GET', '/Groups');
      expect(refused.status, refused.text).toBe(400);
      expect(refused.body).toMatchObject({ scimType: 'tooMany' });
      expect((refused.body as unknown as ScimErrorShape).detail).toMatch(/more than 7 members in all: leave members out \(excludedAttributes=members\)/);
      expect((await s.request(dir.token, 'POST', '/.search', { schemas: [SEARCH], filter: 'displayName pr' })).status).toBe(400);
      const lean = await s.request<ListShape<{ displayName: string; members?: unknown[] }>>(dir.token, 'GET', '/Groups?excludedAttributes=members');
      expect(lean.status).toBe(200);
      expect(lean.body.Resources.map((g) => [g.displayName, g.members])).toEqual([['Big', undefined], ['Small', undefined]]);
      const small = await s.request<ListShape<{ members: unknown[] }>>(dir.token, 'GET', `/Groups?filter=${q('displayName eq "Small"')}`);
      expect(small.body.Resources[0]!.members).toHaveLength(1);
      expect((await s.request<{ members: unknown[] }>(dir.token, 'GET', `/Groups/${big.id}`)).body.members).toHaveLength(8);
    });
  });

  describe('bulk', () => {
    it('resolves bulkId references, including forward ones, and reports each operation', async () => {
      const r = await s.request(d.token, 'POST', '/Bulk', {
        schemas: [BULK],
        Operations: [
          { method: 'POST', path: '/Groups', bulkId: 'team', data: { schemas: [GROUP], displayName: 'Bulk team', members: [{ value: 'bulkId:ann' }, { value: 'bulkId:ben' }] } },
          { method: 'POST', path: '/Users', bulkId: 'ann', data: user('ann@bulk.example') },
          { method: 'POST', path: '/Users', bulkId: 'ben', data: user('ben@bulk.example') },
          { method: 'PATCH', path: '/Users/bulkId:ann', data: { schemas: [PATCH], Operations: [{ op: 'add', path: 'title', value: 'Lead' }] } },
          { method: 'POST', path: '/Users', bulkId: 'tmp', data: user('tmp@bulk.example') },
          { method: 'DELETE', path: '/Users/bulkId:tmp' },
        ],
      });
      expect(r.status).toBe(200);
      const ops = (r.body as { schemas: string[]; Operations: { bulkId?: string; status: string; location?: string; method: string }[] }).Operations;
      expect((r.body as { schemas: string[] }).schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:BulkResponse']);
      expect(ops.map((o) => [o.method, o.bulkId, o.status])).toEqual([
        ['POST', 'team', '201'],
        ['POST', 'ann', '201'],
        ['POST', 'ben', '201'],
        ['PATCH', undefined, '200'],
        ['POST', 'tmp', '201'],
        ['DELETE', undefined, '204'],
      ]);
      const team = await s.request<{ members: { value: string }[] }>(d.token, 'GET', ops[0]!.location!.replace(s.base, ''));
      expect(team.body.members.map((m) => m.value)).toEqual([ops[1]!.location!.split('/').pop(), ops[2]!.location!.split('/').pop()]);
      expect((await s.request(d.token, 'GET', ops[4]!.location!.replace(s.base, ''))).status).toBe(404);
      expect((await s.request(d.token, 'GET', ops[1]!.location!.replace(s.base, ''))).body).toMatchObject({ title: 'Lead', groups: [{ display: 'Bulk team' }] });
    });

    it('reports failures per operation, stops at failOnErrors, and fails what depends on a failure', async () => {
      await create('taken@bulk.example');
      const r = await s.request(d.token, 'POST', '/Bulk', {
        schemas: [BULK],
        failOnErrors: 2,
        Operations: [
          { method: 'POST', path: '/Users', bulkId: 'dup', data: user('TAKEN@bulk.example') },
          { method: 'POST', path: '/Groups', bulkId: 'g', data: { schemas: [GROUP], displayName: 'G', members: [{ value: 'bulkId:dup' }] } },
          { method: 'POST', path: '/Users', bulkId: 'never', data: user('never@bulk.example') },
        ],
      });
      const ops = (r.body as { Operations: { status: string; response?: { scimType?: string; detail: string } }[] }).Operations;
      expect(ops.map((o) => o.status)).toEqual(['409', '409']);
      expect(ops[0]!.response).toMatchObject({ scimType: 'uniqueness' });
      expect(ops[1]!.response!.detail).toMatch(/bulkId:dup belongs to an operation that failed/);
      const never = await s.request<ListShape>(d.token, 'GET', `/Users?filter=${q('userName eq "never@bulk.example"')}`);
      expect(never.body.totalResults).toBe(0);
    });

    it('refuses circular and unknown references with 409, and a stale version with 412', async () => {
      const u = await create('versioned@bulk.example');
      const r = await s.request(d.token, 'POST', '/Bulk', {
        schemas: [BULK],
        Operations: [
          { method: 'POST', path: '/Groups', bulkId: 'a', data: { schemas: [GROUP], displayName: 'A', members: [{ value: 'bulkId:b' }] } },
          { method: 'POST', path: '/Groups', bulkId: 'b', data: { schemas: [GROUP], displayName: 'B', members: [{ value: 'bulkId:a' }] } },
          { method: 'PATCH', path: '/Users/bulkId:nobody', data: { schemas: [PATCH], Operations: [{ op: 'add', path: 'title', value: 'x' }] } },
          { method: 'PUT', path: `/Users/${u.id}`, version: 'W/"99"', data: user('versioned@bulk.example') },
        ],
      });
      const ops = (r.body as { Operations: { status: string; response?: { detail: string } }[] }).Operations;
      expect(ops.map((o) => o.status)).toEqual(['409', '409', '409', '412']);
      expect(ops[0]!.response!.detail).toMatch(/circular/);
      expect(ops[2]!.response!.detail).toMatch(/bulkId:nobody is not the bulkId of any operation/);
    });

    it('refuses more than maxOperations, and bodies over maxPayloadSize, with 413', async () => {
      const before = await snapshot();
      const many = await s.request(d.token, 'POST', '/Bulk', { schemas: [BULK], Operations: Array.from({ length: 7 }, (_, i) => ({ method: 'POST', path: '/Users', bulkId: `u${i}`, data: user(`many${i}@bulk.example`) })) });
      expect(many.status).toBe(413);
      expect((many.body as unknown as ScimErrorShape).detail).toMatch(/7 operations; at most 6/);
      const big = await s.request(d.token, 'POST', '/Bulk', { schemas: [BULK], Operations: [{ method: 'POST', path: '/Users', bulkId: 'big', data: user('big@bulk.example', { title: 'x'.repeat(9000) }) }] });
      expect(big.status).toBe(413);
      expect(await snapshot()).toEqual(before);
    });

    it('refuses malformed bulk requests and operations', async () => {
      expect((await s.request(d.token, 'POST', '/Bulk', { Operations: [] })).status).toBe(400);
      const r = await s.request(d.token, 'POST', '/Bulk', {
        schemas: [BULK],
        Operations: [{ method: 'GET', path: '/Users' }, { method: 'POST', path: '/Users', data: user('nobulkid@bulk.example') }, { method: 'PATCH', path: '/Users', data: {} }],
      });
      const ops = (r.body as { Operations: { status: string; response?: { detail: string } }[] }).Operations;
      expect(ops.map((o) => o.status)).toEqual(['400', '400', '400']);
      expect(ops.map((o) => o.response!.detail)).toEqual([expect.stringMatching(/method/), expect.stringMatching(/bulkId: is required for POST/), expect.stringMatching(/needs a resource id/)]);
    });
  });
});
