// Directories and tokens: names, token format, only a hash stored, revocation, the authentication
// cache, and last-used times written at most once per interval.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from 'pg';
import { TEST_ADMIN, createTestDatabase, ledgerFor, openOrm, withPg, type MikroORM, type TestDatabase } from '../test/helpers/services.js';
import { GatehouseError } from '../shared/errors.js';
import { createDirectoryService, type DirectoryService } from './directory-service.js';
import { createTokenAuthenticator, hashToken } from './directory-token.js';
import { poolOf } from './index.js';

const log = { warn: () => undefined };

async function refusal(p: Promise<unknown>): Promise<GatehouseError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error('expected a refusal');
}

describe('directories and their tokens', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let pool: Pool;
  let directories: DirectoryService;
  const revoked: string[] = [];
  const sql = <R = Record<string, unknown>>(text: string, values: unknown[] = []) => withPg(db.superuserUrl, async (c) => (await c.query(text, values)).rows as R[]);

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openOrm(db.appUrl, 4);
    pool = await poolOf(orm);
    directories = createDirectoryService({ orm, ledger: await ledgerFor(orm), onTokenRevoked: (id) => revoked.push(id) });
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('puts every directory and token change on the ledger, with who made it, and never the token', async () => {
    const ledger = await ledgerFor(orm);
    const d = await directories.createDirectory('Ledgered', TEST_ADMIN);
    const { token, secret } = await directories.createToken(d.id, TEST_ADMIN, { label: 'JumpCloud' });
    await directories.revokeToken(token.id, TEST_ADMIN);
    await directories.revokeToken(token.id, TEST_ADMIN); // already revoked: no second entry
    const { entries } = await ledger.query({ directoryId: d.id, order: 'oldest' });
    expect(entries.map((e) => [e.action, e.actor.id, e.target!.id])).toEqual([
      ['directory.created', 'test-admin', d.id],
      ['directory.token.created', 'test-admin', token.id],
      ['directory.token.revoked', 'test-admin', token.id],
    ]);
    expect(JSON.stringify(entries)).not.toContain(secret);
    // A refused change records nothing.
    await refusal(directories.createDirectory('ledgered', TEST_ADMIN));
    expect((await ledger.query({ action: 'directory.created', limit: 500 })).entries.filter((e) => e.target!.display?.toLowerCase() === 'ledgered')).toHaveLength(1);
  });

  it('creates directories with unique names, case-insensitively, and refuses bad names by field', async () => {
    const d = await directories.createDirectory('  Okta Production ', TEST_ADMIN);
    expect(d).toMatchObject({ name: 'Okta Production', userCount: 0, groupCount: 0, activeTokenCount: 0 });
    const dup = await refusal(directories.createDirectory('okta production', TEST_ADMIN));
    expect(dup).toMatchObject({ status: 409, field: 'name' });
    for (const bad of ['', '   ', 'x'.repeat(101), 'tab\there', 42]) {
      const err = await refusal(directories.createDirectory(bad, TEST_ADMIN));
      expect(err).toMatchObject({ status: 400, field: 'name' });
    }
    expect((await directories.getDirectory('OKTA PRODUCTION')).id).toBe(d.id);
    expect((await refusal(directories.getDirectory('nope'))).status).toBe(404);
  });

  it('issues 256-bit tokens, shown once, of which only the SHA-256 hash is stored', async () => {
    const d = await directories.createDirectory('Entra', TEST_ADMIN);
    const { token, secret } = await directories.createToken(d.id, TEST_ADMIN, { label: 'Entra prod' });
    expect(secret).toMatch(/^gh_scim_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret.slice(8), 'base64url')).toHaveLength(32);
    expect(token).toMatchObject({ directoryId: d.id, label: 'Entra prod', hint: secret.slice(-4), lastUsedAt: null, revokedAt: null });
    expect(token).not.toHaveProperty('tokenHash');
    const rows = await sql<{ token_hash: Buffer; row: string }>('SELECT token_hash, row_to_json(t)::text AS row FROM scim_directory_token t WHERE id = $1', [token.id]);
    expect(rows[0]!.token_hash.equals(createHash('sha256').update(secret).digest())).toBe(true);
    expect(rows[0]!.row).not.toContain(secret.slice(8, 30));
    const second = await directories.createToken('entra', TEST_ADMIN);
    expect(second.secret).not.toBe(secret);
    const listed = await directories.listTokens(d.id);
    expect(listed.map((t) => t.id)).toEqual([token.id, second.token.id]);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect((await directories.getDirectory(d.id)).activeTokenCount).toBe(2);
  });

  it('revokes tokens idempotently, only within their directory, and says so', async () => {
    const d = await directories.createDirectory('Revocations', TEST_ADMIN);
    const other = await directories.createDirectory('Elsewhere', TEST_ADMIN);
    const { token } = await directories.createToken(d.id, TEST_ADMIN);
    expect((await refusal(directories.revokeToken(token.id, TEST_ADMIN, { directoryId: other.id }))).status).toBe(404);
    const first = await directories.revokeToken(token.id, TEST_ADMIN);
    expect(first.revokedAt).not.toBeNull();
    const again = await directories.revokeToken(token.id, TEST_ADMIN, { directoryId: d.id });
    expect(again.revokedAt).toBe(first.revokedAt);
    expect(revoked).toContain(token.id);
    expect((await refusal(directories.revokeToken('00000000-0000-4000-8000-000000000000', TEST_ADMIN))).status).toBe(404);
    expect((await refusal(directories.revokeToken('not-an-id', TEST_ADMIN))).status).toBe(404);
    expect((await directories.getDirectory(d.id)).activeTokenCount).toBe(0);
  });

  it('authenticates by token, caching briefly, and refuses revoked tokens once the cache expires or is told', async () => {
    let clock = 1_000_000;
    const auth = createTokenAuthenticator({ pool, log, cacheTtlMs: 5_000, now: () => clock });
    const d = await directories.createDirectory('Auth', TEST_ADMIN);
    const { token, secret } = await directories.createToken(d.id, TEST_ADMIN);
    expect(await auth.authenticate(`Bearer ${secret}`)).toEqual({ tokenId: token.id, directoryId: d.id });
    expect(await auth.authenticate(`bearer  ${secret}`)).toEqual({ tokenId: token.id, directoryId: d.id });

    // Revoked by another process: this one trusts its cache until the TTL passes.
    await sql('UPDATE scim_directory_token SET revoked_at = now() WHERE id = $1', [token.id]);
    expect(await auth.authenticate(`Bearer ${secret}`)).toEqual({ tokenId: token.id, directoryId: d.id });
    clock += 5_001;
    expect((await refusal(auth.authenticate(`Bearer ${secret}`))).message).toMatch(/unknown or revoked/);

    const fresh = await directories.createToken(d.id, TEST_ADMIN);
    expect((await auth.authenticate(`Bearer ${fresh.secret}`)).tokenId).toBe(fresh.token.id);
    await sql('UPDATE scim_directory_token SET revoked_at = now() WHERE id = $1', [fresh.token.id]);
    auth.forget(fresh.token.id);
    expect((await refusal(auth.authenticate(`Bearer ${fresh.secret}`))).status).toBe(401);

    for (const header of [undefined, '', 'Basic abc', 'Bearer', `Bearer ${secret}x`, `Token ${secret}`]) {
      expect((await refusal(auth.authenticate(header))).status).toBe(401);
    }
    expect(hashToken(secret)).toHaveLength(32);
  });

  it('records the last use of a token at most once per interval', async () => {
    const d = await directories.createDirectory('Last used', TEST_ADMIN);
    const { token, secret } = await directories.createToken(d.id, TEST_ADMIN);
    let updates = 0;
    const observed = {
      query: (...args: Parameters<Pool['query']>) => {
        if (String(typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text).startsWith('UPDATE scim_directory_token')) updates++;
        return (pool.query as (...a: unknown[]) => unknown)(...args);
      },
    } as unknown as Pool;
    const auth = createTokenAuthenticator({ pool: observed, log, cacheTtlMs: 0, lastUsedEveryMs: 60_000 });
    for (let i = 0; i < 25; i++) await auth.authenticate(`Bearer ${secret}`);
    expect(updates).toBe(1);
    let lastUsed: Date | null = null;
    for (let i = 0; i < 100 && !lastUsed; i++) {
      lastUsed = (await sql<{ last_used_at: Date | null }>('SELECT last_used_at FROM scim_directory_token WHERE id = $1', [token.id]))[0]!.last_used_at;
      if (!lastUsed) await new Promise((r) => setTimeout(r, 20));
    }
    expect(lastUsed).toBeInstanceOf(Date);
    expect((await directories.listTokens(d.id))[0]!.lastUsedAt).toBe(lastUsed!.toISOString());
  });

  it('lists directories with their counts', async () => {
    const list = await directories.listDirectories();
    expect(list.map((d) => d.name)).toEqual(['Auth', 'Elsewhere', 'Entra', 'Last used', 'Ledgered', 'Okta Production', 'Revocations']);
    expect(list.find((d) => d.name === 'Entra')).toMatchObject({ activeTokenCount: 2, userCount: 0 });
  });

  it('names the directories whose people nobody who signs in is linked to', async () => {
    const d = await directories.createDirectory(`Unlinked ${Math.random().toString(36).slice(2, 8)}`, TEST_ADMIN);
    expect((await directories.linkingNobody()).map((x) => x.name)).not.toContain(d.name); // no people yet
    await sql("INSERT INTO scim_user (id, directory_id, resource, created_at, last_modified) VALUES (gen_random_uuid(), $1, $2::jsonb, now(), now())", [d.id, JSON.stringify({ userName: 'pat' })]);
    expect(await directories.linkingNobody()).toContainEqual({ name: d.name, userCount: 1 });
    await directories.setSignInIssuers(d.id, ['https://login.acme.test'], TEST_ADMIN);
    expect((await directories.linkingNobody()).map((x) => x.name)).not.toContain(d.name);
  });
});
