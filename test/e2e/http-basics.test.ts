// The HTTP surface every route shares: OpenAPI document, request ids, security headers, JSON errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, type TestDatabase, type TestTemporal } from '../helpers/services.js';

describe('HTTP basics', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    const [d, vault, t] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    db = d;
    temporal = t;
    gatehouse = await startGatehouse(testConfig({ db, vault, temporal }, { GATEHOUSE_EMBEDDED_WORKER: 'false' }), createLogger({ level: 'silent' }));
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('serves an OpenAPI 3.1 document listing the routes with their access rule', async () => {
    const res = await fetch(`${gatehouse.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { 'x-gatehouse-access': string }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/readyz']?.get?.['x-gatehouse-access']).toBe('public');
    expect(doc.paths['/healthz']?.get).toBeDefined();
  });

  it('keeps a well-formed caller request id and replaces a hostile one', async () => {
    const kept = await fetch(`${gatehouse.url}/healthz`, { headers: { 'X-Request-Id': 'okta-req-123' } });
    expect(kept.headers.get('x-request-id')).toBe('okta-req-123');
    const replaced = await fetch(`${gatehouse.url}/healthz`, { headers: { 'X-Request-Id': 'x'.repeat(200) + '<script>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends security headers and no framework banner', async () => {
    const res = await fetch(`${gatehouse.url}/healthz`);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toContain('max-age=');
  });

  it('answers an unknown API route with a JSON error naming it', async () => {
    const res = await fetch(`${gatehouse.url}/api/nope?x=1`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error).toMatchObject({ code: 'not_found', message: 'no API route GET /api/nope', requestId: expect.any(String) });
  });
});
