// Sessions against the real database, on a clock the test moves: the absolute and idle limits end a
// session, last-seen is written at most once a minute, and revocation or a disabled person ends it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, openOrm, withPg, type MikroORM, type TestDatabase } from '../../test/helpers/services.js';
import { createSessionService } from './session-service.js';
import { createUserService } from './user-service.js';

describe('session service', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let now = new Date('2030-01-01T08:00:00Z');
  const clock = () => now;
  const advance = (ms: number) => {
    now = new Date(now.getTime() + ms);
  };
  const MIN = 60_000;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openOrm(db.appUrl, 2);
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  const setup = async () => {
    const users = createUserService({ orm, events: { record: async () => undefined }, now: clock });
    const sessions = createSessionService({ orm, maxAgeMs: 8 * 60 * MIN, idleMs: 30 * MIN, now: clock });
    const user = await users.recordSignIn({ issuer: 'https://idp.example', subject: `s-${Math.random()}`, displayName: 'Pat', email: 'pat@example.com', roles: ['auditor'] });
    return { users, sessions, user };
  };
  const lastSeen = (id: string) => withPg(db.superuserUrl, async (c) => (await c.query('SELECT last_seen_at FROM auth_session WHERE id = $1', [id])).rows[0].last_seen_at as Date);

  it('resolves a live session with its person and roles', async () => {
    const { sessions, user } = await setup();
    const created = await sessions.create({ userId: user.id, roles: ['auditor'], method: 'oidc', provider: 'corp' });
    expect(created.expiresAt.toISOString()).toBe(new Date(now.getTime() + 8 * 60 * MIN).toISOString());
    expect(await sessions.resolve(created.secret)).toMatchObject({ id: created.id, userId: user.id, roles: ['auditor'], provider: 'corp', user: { displayName: 'Pat', email: 'pat@example.com' } });
    expect(await sessions.resolve('not-a-session')).toBeUndefined();
  });

  it('writes last-seen at most once a minute, and ends a session idle for 30 minutes', async () => {
    const { sessions, user } = await setup();
    const created = await sessions.create({ userId: user.id, roles: [], method: 'oidc' });
    const first = await lastSeen(created.id);
    advance(20_000);
    await sessions.resolve(created.secret);
    expect(await lastSeen(created.id)).toEqual(first); // no write for a request 20 s later
    advance(50_000);
    await sessions.resolve(created.secret);
    expect((await lastSeen(created.id)).getTime()).toBe(now.getTime());
    advance(29 * MIN);
    expect(await sessions.resolve(created.secret)).toBeDefined();
    advance(30 * MIN + 1);
    expect(await sessions.resolve(created.secret)).toBeUndefined();
  });

  it('ends a session at its absolute limit however active it is', async () => {
    const { sessions, user } = await setup();
    const created = await sessions.create({ userId: user.id, roles: [], method: 'oidc' });
    for (let i = 0; i < 16; i++) {
      advance(29 * MIN);
      expect(await sessions.resolve(created.secret), `after ${(i + 1) * 29} minutes`).toBeDefined();
    }
    advance(20 * MIN); // 484 minutes > 8 hours
    expect(await sessions.resolve(created.secret)).toBeUndefined();
  });

  it('ends a revoked session, and every session of a disabled person', async () => {
    const { users, sessions, user } = await setup();
    const one = await sessions.create({ userId: user.id, roles: [], method: 'oidc' });
    const two = await sessions.create({ userId: user.id, roles: [], method: 'oidc' });
    await sessions.revoke(one.id);
    expect(await sessions.resolve(one.secret)).toBeUndefined();
    expect(await sessions.resolve(two.secret)).toBeDefined();
    await users.setDisabled(user.id, true, { kind: 'human', id: 'someone-else' });
    expect(await sessions.resolve(two.secret)).toBeUndefined();
    await users.setDisabled(user.id, false, { kind: 'human', id: 'someone-else' });
    // Enabling again does not bring revoked sessions back.
    expect(await sessions.resolve(two.secret)).toBeUndefined();
  });

  it('leaves a disabled person\'s record as it was when they try to sign in again', async () => {
    const { users, user } = await setup();
    await users.setDisabled(user.id, true, { kind: 'human', id: 'someone-else' });
    advance(MIN);
    const again = await users.recordSignIn({ issuer: user.issuer, subject: user.subject, displayName: 'Changed', roles: ['admin'] });
    expect(again).toMatchObject({ id: user.id, displayName: 'Pat', roles: ['auditor'], lastSignInAt: user.lastSignInAt, disabledAt: expect.any(String) });
  });

  it('refuses to let people disable themselves', async () => {
    const { users, user } = await setup();
    await expect(users.setDisabled(user.id, true, { kind: 'human', id: user.id })).rejects.toThrow('you cannot disable your own account');
  });
});
