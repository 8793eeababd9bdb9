// Concurrent changes to the same identities: nothing lost, nothing applied twice, versions and
// events in order, and lock conflicts between group and user changes resolved without a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScimTestServer, type ScimTestServer, type TestDirectory } from '../helpers/scim.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('concurrent SCIM changes', () => {
  let s: ScimTestServer;
  let d: TestDirectory;
  beforeAll(async () => {
    s = await startScimTestServer();
    d = await s.directory();
  });
  afterAll(async () => s?.close());

  it('applies every one of many simultaneous PATCHes to one user, each once, with one event per version', async () => {
    const u = (await s.request(d.token, 'POST', '/Users', { schemas: [USER], userName: 'busy@example.com' })).body as { id: string };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.request(d.token, 'PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'roles', value: [{ value: `role-${i}` }] }] })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const final = (await s.request<{ roles: { value: string }[]; meta: { version: string } }>(d.token, 'GET', `/Users/${u.id}`)).body;
    expect(final.roles.map((r) => r.value).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `role-${i}`).sort());
    expect(final.meta.version).toBe('W/"21"');
    const events = await s.sql<{ version: number }>("SELECT (payload->>'version')::int AS version FROM scim_outbox WHERE payload->>'resourceId' = $1 ORDER BY seq", [u.id]);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  });

  it('lets only one of two simultaneous creates of the same userName succeed', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.request(d.token, 'POST', '/Users', { schemas: [USER], userName: i % 2 ? 'Race@example.com' : 'race@EXAMPLE.com' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(7);
  });

  it('resolves group membership changes racing user deletions without errors, leaving consistent memberships', async () => {
    const users: string[] = [];
    for (let i = 0; i < 12; i++) users.push(((await s.request(d.token, 'POST', '/Users', { schemas: [USER], userName: `racer${i}@example.com` })).body as { id: string }).id);
    const groups: string[] = [];
    for (let g = 0; g < 3; g++) groups.push(((await s.request(d.token, 'POST', '/Groups', { schemas: [GROUP], displayName: `Race ${g}`, members: users.map((value) => ({ value })) })).body as { id: string }).id);
    const work = [
      ...users.slice(0, 6).map((id) => s.request(d.token, 'DELETE', `/Users/${id}`)),
      ...groups.flatMap((g) => users.slice(6).map((id) => s.request(d.token, 'PATCH', `/Groups/${g}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] }))),
      ...groups.map((g) => s.request(d.token, 'PATCH', `/Groups/${g}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: `${g}-renamed` }] })),
    ];
    const statuses = (await Promise.all(work)).map((r) => r.status);
    expect(statuses.every((st) => st === 204)).toBe(true);
    const members = await s.sql<{ n: string }>('SELECT count(*) AS n FROM scim_group_member WHERE group_id = ANY($1::uuid[])', [groups]);
    expect(members[0]!.n).toBe('0');
    // Every removal of a member is an event on the group and one on the user, never two.
    const removed = await s.sql<{ n: string }>("SELECT count(*) AS n FROM scim_outbox WHERE payload ? 'groupsRemoved'");
    expect(Number(removed[0]!.n)).toBe(6 + groups.length * 6);
  });
});
