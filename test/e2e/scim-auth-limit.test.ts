// Failed SCIM authentications per client address: counted in PostgreSQL across replicas, answered
// with 429 and Retry-After past the limit, never in the way of a token the replica already knows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScimTestServer, type ScimErrorShape, type ScimTestServer, type TestDirectory } from '../helpers/scim.js';

const BAD = `gh_scim_${'A'.repeat(43)}`;

describe('SCIM authentication failures', () => {
  let a: ScimTestServer;
  let b: ScimTestServer;
  let d: TestDirectory;

  beforeAll(async () => {
    const module = { authFailureLimits: { limit: 3, windowSeconds: 3 } };
    a = await startScimTestServer({ module });
    // A second replica over the same database.
    b = await startScimTestServer({ module, db: a.db });
    d = await a.directory('limited');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('refuses an address past the limit with 429 on every replica, keeps known tokens working, and lets it try again when the window ends', async () => {
    // Validated before the flood: this replica knows the token.
    expect((await a.request(d.token, 'GET', '/Users')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await a.request(BAD, 'GET', '/Users')).status).toBe(401);
    const refused = await a.request<ScimErrorShape>(BAD, 'GET', '/Users');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '429' });
    expect(refused.body.detail).toMatch(/^too many failed authentications from your address: try again in [1-3] seconds$/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Refused before any lookup: no token, or a token nobody has seen, is not even tried.
    expect((await a.request(undefined, 'GET', '/Users')).status).toBe(429);
    // The identity provider's own token still works on the replica that validated it.
    expect((await a.request(d.token, 'GET', '/Users')).status).toBe(200);
    // The other replica counts the same failures: its first failure is already past the limit.
    expect((await b.request(BAD, 'GET', '/Users')).status).toBe(429);
    // A client behind a proxy on this host is told apart by X-Forwarded-For.
    expect((await a.request(BAD, 'GET', '/Users', undefined, { 'X-Forwarded-For': '203.0.113.9' })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 3_200));
    expect((await a.request(BAD, 'GET', '/Users')).status).toBe(401);
    const [row] = await a.sql<{ hits: number }>("SELECT hits FROM auth_rate_limit WHERE key = 'scim-auth:127.0.0.1'");
    expect(row!.hits).toBe(1);
  });
});
