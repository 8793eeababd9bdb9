// API tokens against the real database, on a clock the test moves: last use written at most once a
// minute, expiry, and scopes bounded by what the creator holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, openOrm, withPg, type MikroORM, type TestDatabase } from '../../test/helpers/services.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { createApiTokenService } from './api-token-service.js';
import { createUserService } from './user-service.js';

describe('API token service', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let now = new Date('2030-01-01T08:00:00Z');
  const events: unknown[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openOrm(db.appUrl, 2);
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  const service = () => createApiTokenService({ orm, events: { record: async (e) => void events.push(e) }, maxDays: 30, now: () => now });
  const admin = adminAbilityFor({ kind: 'human', id: 'admin-1', roles: ['admin'] });
  const lastUsed = (id: string) => withPg(db.superuserUrl, async (c) => (await c.query('SELECT last_used_at FROM api_token WHERE id = $1', [id])).rows[0].last_used_at as Date | null);

  it('records last use on first use, then at most once a minute', async () => {
    const tokens = service();
    const { token, view } = await tokens.create({ name: 'ci', scopes: ['read:Run'], by: { kind: 'human', id: 'admin-1' }, creatorAbility: admin });
    expect(view.expiresAt).toBe('2030-01-31T08:00:00.000Z'); // the default, capped by maxDays
    expect(await lastUsed(view.id)).toBeNull();
    expect(await tokens.authenticate(token)).toEqual({ kind: 'token', id: view.id, displayName: 'ci', roles: [], scopes: ['read:Run'] });
    expect((await lastUsed(view.id))?.toISOString()).toBe('2030-01-01T08:00:00.000Z');
    now = new Date('2030-01-01T08:00:45Z');
    await tokens.authenticate(token);
    expect((await lastUsed(view.id))?.toISOString()).toBe('2030-01-01T08:00:00.000Z');
    now = new Date('2030-01-01T08:01:00Z');
    await tokens.authenticate(token);
    expect((await lastUsed(view.id))?.toISOString()).toBe('2030-01-01T08:01:00.000Z');
  });

  it('stops working when it expires', async () => {
    now = new Date('2030-02-01T00:00:00Z');
    const tokens = service();
    const { token } = await tokens.create({ name: 'day', scopes: ['read:Run'], expiresInDays: 1, by: { kind: 'system', id: 'cli:op' }, creatorAbility: admin });
    now = new Date('2030-02-01T23:59:59Z');
    expect(await tokens.authenticate(token)).toBeDefined();
    now = new Date('2030-02-02T00:00:00Z');
    expect(await tokens.authenticate(token)).toBeUndefined();
    expect(await tokens.authenticate('gatehouse_unknown')).toBeUndefined();
    expect(await tokens.authenticate('not-even-the-prefix')).toBeUndefined();
  });

  it('refuses scopes the creator does not hold, and lifetimes past the maximum, storing nothing', async () => {
    const tokens = service();
    const before = (await tokens.list()).length;
    await expect(tokens.create({ name: 'x', scopes: ['export:Evidence'], by: { kind: 'human', id: 'admin-1' }, creatorAbility: admin })).rejects.toThrow('you cannot give a token export:Evidence');
    const owner = adminAbilityFor({ kind: 'human', id: 'o-1', roles: ['nhi-owner'] });
    await expect(tokens.create({ name: 'x', scopes: ['read:Credential'], by: { kind: 'human', id: 'o-1' }, creatorAbility: owner })).rejects.toThrow('you cannot give a token read:Credential');
    await expect(tokens.create({ name: 'x', scopes: ['read:Run'], expiresInDays: 31, by: { kind: 'human', id: 'admin-1' }, creatorAbility: admin })).rejects.toThrow('must be at most 30');
    expect((await tokens.list()).length).toBe(before);
  });

  it('stops working while the person who created it is disabled, and works again when they are enabled', async () => {
    now = new Date('2030-03-01T00:00:00Z');
    const users = createUserService({ orm, events: { record: async () => undefined } });
    const creator = await users.recordSignIn({ issuer: 'https://idp.test.example', subject: 'token-maker', displayName: 'Token Maker', roles: ['admin'] });
    const tokens = service();
    const { token, view } = await tokens.create({ name: 'deploys', scopes: ['read:Run'], by: { kind: 'human', id: creator.id }, creatorAbility: admin });
    const byOperator = await tokens.create({ name: 'cli', scopes: ['read:Run'], by: { kind: 'system', id: 'cli:op' }, creatorAbility: admin });
    expect(await tokens.authenticate(token)).toMatchObject({ id: view.id });
    await users.setDisabled(creator.id, true, { kind: 'human', id: 'admin-1' });
    expect(await tokens.authenticate(token)).toBeUndefined();
    expect(await tokens.authenticate(byOperator.token)).toMatchObject({ id: byOperator.view.id });
    await users.setDisabled(creator.id, false, { kind: 'human', id: 'admin-1' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: view.id });
  });
});
