// Sign-in events on the ledger: token creation and revocation, failed sign-ins and permission
// refusals are entries, with the actor that caused them and never a token value.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, withPg, type MikroORM, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';

describe('sign-in events on the ledger', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;
  let orm: MikroORM;
  let admin: PersonCredentials;

  const api = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${gatehouse.url}${path}`, { ...init, headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers } });
  const entries = async (action: string) => (await gatehouse.runtime.ledger.query({ action, order: 'oldest', limit: 500 })).entries;

  beforeAll(async () => {
    let vault;
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { GATEHOUSE_EMBEDDED_WORKER: 'false' }), createLogger({ level: 'silent' }), { announce: () => undefined });
    orm = await openOrm(db.appUrl, 2);
    admin = await testCallers(orm).person(['admin'], 'Ada Admin');
  });

  afterAll(async () => {
    await orm?.close(true);
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('records token creation, a refusal by that token, and its revocation', async () => {
    const created = (await (await api('/api/tokens', { method: 'POST', headers: admin.headers(), body: JSON.stringify({ name: 'monitoring', scopes: ['read:System'], expiresInDays: 1 }) })).json()) as { id: string; token: string };
    const refused = await api('/api/users', { headers: { authorization: `Bearer ${created.token}` } });
    expect(refused.status).toBe(403);
    expect((await api(`/api/tokens/${created.id}`, { method: 'DELETE', headers: admin.headers() })).status).toBe(200);

    const [createdEntry] = await entries('auth.apitoken.created');
    expect(createdEntry).toMatchObject({ actor: { kind: 'human', id: admin.userId }, target: { type: 'apiToken', id: created.id, display: 'monitoring' }, details: { scopes: ['read:System'] } });
    const refusal = (await entries('auth.permission.refused')).find((e) => e.actor.id === created.id);
    expect(refusal).toMatchObject({ actor: { kind: 'nhi', id: created.id }, details: { action: 'read', subject: 'User', method: 'GET', path: '/api/users' } });
    const [revoked] = await entries('auth.apitoken.revoked');
    expect(revoked).toMatchObject({ actor: { kind: 'human', id: admin.userId }, target: { type: 'apiToken', id: created.id } });

    const ledgerText = await withPg(db.superuserUrl, async (c) => JSON.stringify((await c.query('SELECT * FROM ledger_entry')).rows));
    expect(ledgerText).not.toContain(created.token.slice('gatehouse_'.length));
  });

  it('records a failed sign-in', async () => {
    const res = await api('/api/auth/one-time-link', { method: 'POST', body: JSON.stringify({ token: 'not-a-real-link' }) });
    expect(res.status).toBe(401);
    const failed = await entries('auth.signin.failed');
    expect(failed.at(-1)).toMatchObject({ actor: { kind: 'human', id: 'unknown' }, details: { method: 'bootstrap-link', reason: 'link_invalid' } });
  });

  it('the chain still verifies', async () => {
    const report = await gatehouse.runtime.ledger.verify();
    expect(report.ok).toBe(true);
  });
});
