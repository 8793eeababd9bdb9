// Housekeeping removes only what is over: unfinished sign-in attempts past their expiry, sessions
// and one-time links a day after they ended, and passed rate-limit windows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, openOrm, withPg, type MikroORM, type TestDatabase } from '../../test/helpers/services.js';
import { sweepAuthLeftovers } from './auth-housekeeping.js';

describe('auth housekeeping', () => {
  let db: TestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openOrm(db.appUrl, 2);
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('deletes what is over and keeps the rest', async () => {
    await withPg(db.superuserUrl, async (c) => {
      await c.query(`INSERT INTO gatehouse_user (id, issuer, subject) VALUES ('00000000-0000-4000-8000-000000000001', 'https://idp', 'u')`);
      await c.query(`INSERT INTO auth_sign_in_attempt VALUES ('old', 'corp', '/', 'x', now() - interval '1 minute'), ('live', 'corp', '/', 'x', now() + interval '5 minutes')`);
      await c.query(`INSERT INTO auth_session (id, token_hash, user_id, roles, method, last_seen_at, expires_at, revoked_at) VALUES
        ('00000000-0000-4000-8000-00000000000a', 'a', '00000000-0000-4000-8000-000000000001', '{}', 'oidc', now(), now() - interval '2 days', NULL),
        ('00000000-0000-4000-8000-00000000000b', 'b', '00000000-0000-4000-8000-000000000001', '{}', 'oidc', now(), now() + interval '1 hour', now() - interval '2 days'),
        ('00000000-0000-4000-8000-00000000000c', 'c', '00000000-0000-4000-8000-000000000001', '{}', 'oidc', now(), now() - interval '1 hour', NULL),
        ('00000000-0000-4000-8000-00000000000d', 'd', '00000000-0000-4000-8000-000000000001', '{}', 'oidc', now(), now() + interval '1 hour', NULL)`);
      await c.query(`INSERT INTO auth_bootstrap_link (id, token_hash, created_by, expires_at, used_at) VALUES
        ('00000000-0000-4000-8000-0000000000e1', 'e1', 't', now() - interval '2 days', NULL),
        ('00000000-0000-4000-8000-0000000000e2', 'e2', 't', now() + interval '1 hour', now() - interval '2 days'),
        ('00000000-0000-4000-8000-0000000000e3', 'e3', 't', now() + interval '1 hour', NULL)`);
      await c.query(`INSERT INTO auth_rate_limit VALUES ('sign-in:old', 3, now() - interval '1 second'), ('sign-in:live', 3, now() + interval '10 minutes')`);
    });

    expect(await sweepAuthLeftovers(orm)).toEqual({ attempts: 1, sessions: 2, links: 2, rateLimits: 1 });

    const left = await withPg(db.superuserUrl, async (c) => ({
      attempts: (await c.query('SELECT id_hash FROM auth_sign_in_attempt')).rows.map((r: { id_hash: string }) => r.id_hash),
      sessions: (await c.query('SELECT token_hash FROM auth_session ORDER BY 1')).rows.map((r: { token_hash: string }) => r.token_hash),
      links: (await c.query('SELECT token_hash FROM auth_bootstrap_link')).rows.map((r: { token_hash: string }) => r.token_hash),
      rateLimits: (await c.query('SELECT key FROM auth_rate_limit')).rows.map((r: { key: string }) => r.key),
    }));
    // An expired session is kept for a day, so whoever investigates it can still look it up.
    expect(left).toEqual({ attempts: ['live'], sessions: ['c', 'd'], links: ['e3'], rateLimits: ['sign-in:live'] });
    expect(await sweepAuthLeftovers(orm)).toEqual({ attempts: 0, sessions: 0, links: 0, rateLimits: 0 });
  });
});
