// API tokens end to end: an admin creates one (shown once, stored hashed), automation uses it within
// its scopes only and without CSRF, its last use is recorded, and revocation or expiry ends it at
// once. Also: CSRF on cookie-authenticated changes, and the `gatehouse token` command line.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, repoRoot, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, withPg, type MikroORM, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';
import { capturingEvents } from '../helpers/sign-in.js';

interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
interface TokenView {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  createdBy: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: string;
  token?: string;
}

describe('API tokens', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;
  let orm: MikroORM;
  let admin: PersonCredentials;
  const events = capturingEvents();

  const api = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${gatehouse.url}${path}`, { ...init, headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers } });

  const createToken = async (body: unknown, as: PersonCredentials = admin) => api('/api/tokens', { method: 'POST', headers: as.headers(), body: JSON.stringify(body) });

  beforeAll(async () => {
    let vault;
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { AUTH_API_TOKEN_MAX_DAYS: '30' }), createLogger({ level: 'silent' }), {
      announce: () => undefined,
      authEvents: events,
    });
    orm = await openOrm(db.appUrl, 2);
    admin = await testCallers(orm).person(['admin'], 'Ada Admin');
  });

  afterAll(async () => {
    await orm?.close(true);
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('creates a token, shows it once, and keeps only its hash', async () => {
    const res = await createToken({ name: 'directory sync', scopes: ['read:Run', 'manage:Directory'], expiresInDays: 7 });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const created = (await res.json()) as TokenView;
    expect(created).toMatchObject({ name: 'directory sync', scopes: ['manage:Directory', 'read:Run'], createdBy: `human:${admin.userId}`, status: 'active', lastUsedAt: null });
    expect(created.token).toMatch(/^gatehouse_[A-Za-z0-9_-]{43}$/);
    expect(created.token!.startsWith(created.hint)).toBe(true);
    expect(new Date(created.expiresAt).getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);

    const listed = (await (await api('/api/tokens', { headers: admin.headers() })).json()) as { tokens: TokenView[] };
    expect(listed.tokens.map((t) => t.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.token);

    const row = await withPg(db.superuserUrl, async (c) => (await c.query('SELECT t::text AS text, token_hash FROM api_token t WHERE id = $1', [created.id])).rows[0] as { text: string; token_hash: string });
    expect(row.token_hash).toBe(createHash('sha256').update(created.token!).digest('hex'));
    expect(row.text).not.toContain(created.token!.slice('gatehouse_'.length));
    expect(events.ofType('api-token-created')).toContainEqual(expect.objectContaining({ tokenId: created.id, scopes: ['manage:Directory', 'read:Run'], by: { kind: 'human', id: admin.userId } }));
  });

  it('lets automation act within its scopes only, without CSRF, and records its last use', async () => {
    const created = (await (await createToken({ name: 'monitoring', scopes: ['read:Run'] })).json()) as TokenView;
    const bearer = { authorization: `Bearer ${created.token}` };

    const me = await api('/api/auth/session', { headers: bearer });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ via: 'api-token', principal: { kind: 'token', id: created.id, displayName: 'monitoring', roles: [], scopes: ['read:Run'] } });

    const refused = await api('/api/users', { headers: bearer });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as ErrorBody).error.message).toBe('Cannot execute "read" on "User": this API token\'s scopes (read:Run) do not include it');
    expect(events.ofType('permission-refused').at(-1)).toEqual({
      type: 'permission-refused',
      actor: { kind: 'token', id: created.id },
      action: 'read',
      subject: 'User',
      method: 'GET',
      path: '/api/users',
    });

    // A state change with a bearer token needs no CSRF token: this one gets past the access check (and is then told tokens do not sign out).
    const noCsrf = await api('/api/auth/session', { method: 'DELETE', headers: bearer });
    expect(noCsrf.status).toBe(400);

    const read = (await (await api(`/api/tokens/${created.id}`, { headers: admin.headers() })).json()) as TokenView;
    expect(read.lastUsedAt).not.toBeNull();
  });

  it('refuses scopes that are not permissions, that tokens may never hold, or that the creator lacks', async () => {
    const cases: [unknown, number, string, string][] = [
      [['frobnicate:Thing'], 400, 'scopes.0', 'is not a permission'],
      [['read:User'], 400, 'scopes.0', 'tokens do not manage tokens or people'],
      [['read:Run', 'create:ApiToken'], 400, 'scopes.1', 'tokens do not manage tokens or people'],
      [['decide:ApprovalRequest'], 400, 'scopes.0', 'approvals are decided by a person'],
      [[], 400, 'scopes', 'at least one permission'],
      [['read:Run', 'export:Evidence'], 403, 'scopes', 'you cannot give a token export:Evidence, because you do not hold it yourself'],
    ];
    for (const [scopes, status, field, message] of cases) {
      const res = await createToken({ name: 'bad', scopes });
      const body = (await res.json()) as ErrorBody;
      expect({ scopes, status: res.status, field: body.error.field }).toEqual({ scopes, status, field });
      expect(body.error.message).toContain(message);
    }
    const tooLong = await createToken({ name: 'forever', scopes: ['read:Run'], expiresInDays: 31 });
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as ErrorBody).error).toMatchObject({ field: 'expiresInDays', message: 'expiresInDays: must be at most 30 (AUTH_API_TOKEN_MAX_DAYS)' });

    const notAdmin = await testCallers(orm).person(['auditor']);
    const byAuditor = await createToken({ name: 'mine', scopes: ['read:LedgerEntry'] }, notAdmin);
    expect(byAuditor.status).toBe(403);
    expect(((await byAuditor.json()) as ErrorBody).error.message).toContain('Cannot execute "create" on "ApiToken"');

    const count = await withPg(db.superuserUrl, async (c) => (await c.query(`SELECT count(*)::int AS n FROM api_token WHERE name IN ('bad', 'forever', 'mine')`)).rows[0].n as number);
    expect(count).toBe(0);
  });

  it('revokes a token at once; a second revocation is refused', async () => {
    const created = (await (await createToken({ name: 'short-lived', scopes: ['read:Run'] })).json()) as TokenView;
    const bearer = { authorization: `Bearer ${created.token}` };
    expect((await api('/api/auth/session', { headers: bearer })).status).toBe(200);

    const revoked = await api(`/api/tokens/${created.id}`, { method: 'DELETE', headers: admin.headers() });
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({ status: 'revoked', revokedBy: `human:${admin.userId}` });

    const after = await api('/api/auth/session', { headers: bearer });
    expect(after.status).toBe(401);
    expect(((await after.json()) as ErrorBody).error.message).toBe('the API token is not valid: it is unknown, expired or revoked, or the person who created it is disabled');

    const again = await api(`/api/tokens/${created.id}`, { method: 'DELETE', headers: admin.headers() });
    expect(again.status).toBe(409);
    expect(events.ofType('api-token-revoked').filter((e) => e.tokenId === created.id)).toEqual([{ type: 'api-token-revoked', tokenId: created.id, by: { kind: 'human', id: admin.userId } }]);
  });

  it('refuses an expired token', async () => {
    const created = (await (await createToken({ name: 'expiring', scopes: ['read:Run'] })).json()) as TokenView;
    await withPg(db.superuserUrl, (c) => c.query(`UPDATE api_token SET expires_at = now() - interval '1 second' WHERE id = $1`, [created.id]));
    const res = await api('/api/auth/session', { headers: { authorization: `Bearer ${created.token}` } });
    expect(res.status).toBe(401);
    expect(((await (await api(`/api/tokens/${created.id}`, { headers: admin.headers() })).json()) as TokenView).status).toBe('expired');
  });

  it('refuses malformed credentials with a clear 401', async () => {
    const basic = await api('/api/auth/session', { headers: { authorization: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l' } });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as ErrorBody).error.message).toBe('Authorization: only "Bearer <API token>" is accepted');
    const unknown = await api('/api/auth/session', { headers: { authorization: 'Bearer gatehouse_not-a-real-token' } });
    expect(unknown.status).toBe(401);
  });

  it('requires the CSRF token for cookie-authenticated changes', async () => {
    const body = JSON.stringify({ name: 'csrf', scopes: ['read:Run'] });
    const missing = await api('/api/tokens', { method: 'POST', headers: admin.headers({ csrf: false }), body });
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as ErrorBody).error.message).toMatch(/^missing or wrong x-csrf-token header/);
    const wrong = await api('/api/tokens', { method: 'POST', headers: { ...admin.headers({ csrf: false }), 'x-csrf-token': 'A'.repeat(43) }, body });
    expect(wrong.status).toBe(403);
    const otherSession = await testCallers(orm).person(['admin']);
    const borrowed = await api('/api/tokens', { method: 'POST', headers: { ...admin.headers({ csrf: false }), 'x-csrf-token': otherSession.csrfToken }, body });
    expect(borrowed.status).toBe(403);
    // Reads need none.
    expect((await api('/api/tokens', { headers: admin.headers({ csrf: false }) })).status).toBe(200);
    expect(events.ofType('permission-refused').at(-1)).toMatchObject({ actor: { kind: 'human', id: admin.userId }, action: 'csrf-check', method: 'POST', path: '/api/tokens' });
  });

  it('creates, lists and revokes tokens from the command line', async () => {
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.ownerUrl,
      DATABASE_APP_URL: db.appUrl,
      DATABASE_LEDGER_URL: db.ledgerUrl,
      GATEHOUSE_DATA_DIR: gatehouse.runtime.config.GATEHOUSE_DATA_DIR,
      GATEHOUSE_CONFIG_FILE: '',
    };
    const gatehouseCli = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/gatehouse.mjs', ...args], { cwd: repoRoot, env });

    const created = JSON.parse((await gatehouseCli('token', 'create', '--name', 'ci export', '--scope', 'read:LedgerEntry', 'export:Evidence', '--expires-in-days', '7', '--json')).stdout) as TokenView;
    // The operator may grant what no admin could grant through the API (export:Evidence).
    expect(created).toMatchObject({ name: 'ci export', scopes: ['export:Evidence', 'read:LedgerEntry'], createdBy: expect.stringMatching(/^system:cli:/) });
    const me = await api('/api/auth/session', { headers: { authorization: `Bearer ${created.token}` } });
    expect(((await me.json()) as { principal: { scopes: string[] } }).principal.scopes).toEqual(['export:Evidence', 'read:LedgerEntry']);

    expect((await gatehouseCli('token', 'list')).stdout).toContain(`${created.id}  active`);
    expect((await gatehouseCli('token', 'revoke', created.id)).stdout).toContain(`revoked ${created.id}`);
    expect((await api('/api/auth/session', { headers: { authorization: `Bearer ${created.token}` } })).status).toBe(401);

    const refused = await gatehouseCli('token', 'create', '--name', 'x', '--scope', 'manage:User').then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('--scope: "manage:User" cannot be given to a token');
  }, 120_000);
});
