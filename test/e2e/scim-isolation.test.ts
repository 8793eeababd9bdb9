// Tenant isolation: a token for directory A never sees, finds, changes or links anything in
// directory B, whatever the request says; uniqueness is per directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScimTestServer, type ListShape, type ScimTestServer, type TestDirectory } from '../helpers/scim.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const q = encodeURIComponent;

describe('tenant isolation between directories', () => {
  let s: ScimTestServer;
  let a: TestDirectory;
  let b: TestDirectory;
  let bUser: { id: string; userName: string };
  let bGroup: { id: string };
  const bState = () =>
    s.sql('SELECT (SELECT json_agg(u ORDER BY id) FROM scim_user u WHERE directory_id = $1) AS users, (SELECT json_agg(g ORDER BY id) FROM scim_group g WHERE directory_id = $1) AS groups, (SELECT json_agg(m ORDER BY member_id) FROM scim_group_member m WHERE directory_id = $1) AS members, (SELECT count(*) FROM scim_outbox WHERE directory_id = $1) AS events', [b.id]);

  beforeAll(async () => {
    s = await startScimTestServer();
    a = await s.directory('A');
    b = await s.directory('B');
    bUser = (await s.request(b.token, 'POST', '/Users', { schemas: [USER], userName: 'shared@example.com', externalId: 'ext-b' })).body as typeof bUser;
    bGroup = (await s.request(b.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'B team', members: [{ value: bUser.id }] })).body as typeof bGroup;
    await s.request(a.token, 'POST', '/Users', { schemas: [USER], userName: 'a-only@example.com' });
  });
  afterAll(async () => s?.close());

  it("does not list, find or read B's resources with A's token", async () => {
    const lists = [
      await s.request<ListShape>(a.token, 'GET', '/Users?count=100'),
      await s.request<ListShape>(a.token, 'GET', `/Users?filter=${q('userName eq "shared@example.com"')}`),
      await s.request<ListShape>(a.token, 'GET', `/Users?filter=${q(`id eq "${bUser.id}" or externalId eq "ext-b"`)}`),
      await s.request<ListShape>(a.token, 'GET', `/Groups?filter=${q(`members.value eq "${bUser.id}" or displayName eq "B team"`)}`),
      await s.request<ListShape>(a.token, 'POST', '/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], count: 100 }),
      await s.request<ListShape>(a.token, 'GET', `/Users?directory=${b.id}&count=100`, undefined, { 'X-Directory-Id': b.id }),
    ];
    for (const l of lists) {
      expect(l.status).toBe(200);
      expect(l.text).not.toContain(bUser.id);
      expect(l.text).not.toContain(bGroup.id);
      expect(l.text).not.toContain('B team');
    }
    expect(lists[0]!.body.totalResults).toBe(1);
    expect((await s.request(a.token, 'GET', `/Users/${bUser.id}`)).status).toBe(404);
    expect((await s.request(a.token, 'GET', `/Groups/${bGroup.id}`)).status).toBe(404);
  });

  it("cannot change or delete B's resources, which stay exactly as they were", async () => {
    const before = await bState();
    const attempts = [
      await s.request(a.token, 'PUT', `/Users/${bUser.id}`, { schemas: [USER], userName: 'hijacked@example.com' }),
      await s.request(a.token, 'PATCH', `/Users/${bUser.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] }),
      await s.request(a.token, 'DELETE', `/Users/${bUser.id}`),
      await s.request(a.token, 'PATCH', `/Groups/${bGroup.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: 'members' }] }),
      await s.request(a.token, 'PUT', `/Groups/${bGroup.id}`, { schemas: [GROUP], displayName: 'mine now' }),
      await s.request(a.token, 'DELETE', `/Groups/${bGroup.id}`),
    ];
    for (const r of attempts) expect(r.status, r.text).toBe(404);
    const bulk = await s.request<{ Operations: { status: string }[] }>(a.token, 'POST', '/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: [
        { method: 'DELETE', path: `/Users/${bUser.id}` },
        { method: 'PATCH', path: `/Groups/${bGroup.id}`, data: { schemas: [PATCH], Operations: [{ op: 'add', path: 'displayName', value: 'x' }] } },
      ],
    });
    expect(bulk.body.Operations.map((o) => o.status)).toEqual(['404', '404']);
    expect(await bState()).toEqual(before);
  });

  it("cannot put B's users or groups into A's groups", async () => {
    const before = await bState();
    const create = await s.request(a.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'A team', members: [{ value: bUser.id }] });
    expect(create.status).toBe(400);
    expect(create.text).toMatch(/no User or Group/);
    const aGroup = (await s.request(a.token, 'POST', '/Groups', { schemas: [GROUP], displayName: 'A team' })).body as { id: string };
    for (const op of [
      { op: 'add', path: 'members', value: [{ value: bUser.id }] },
      { op: 'add', path: 'members', value: [{ value: bGroup.id, type: 'Group' }] },
      { op: 'replace', path: `members[value eq "${bUser.id}"]`, value: { display: 'x' } },
      { op: 'replace', value: { members: [{ value: bUser.id }] } },
    ]) {
      const r = await s.request(a.token, 'PATCH', `/Groups/${aGroup.id}`, { schemas: [PATCH], Operations: [op] });
      expect(r.status, JSON.stringify(op)).toBe(400);
    }
    expect(await bState()).toEqual(before);
  });

  it('keeps uniqueness per directory: A may use the userName B uses', async () => {
    const r = await s.request(a.token, 'POST', '/Users', { schemas: [USER], userName: 'SHARED@example.com' });
    expect(r.status).toBe(201);
    const again = await s.request(a.token, 'POST', '/Users', { schemas: [USER], userName: 'shared@example.com' });
    expect(again.status).toBe(409);
  });

  it("writes A's events under A's directory only", async () => {
    const rows = await s.sql<{ directory_id: string; identity_key: string }>('SELECT directory_id, identity_key FROM scim_outbox');
    for (const r of rows) expect(r.identity_key.startsWith(`identity:${r.directory_id}:`)).toBe(true);
    expect(rows.filter((r) => r.directory_id === a.id).length).toBeGreaterThan(0);
  });
});
