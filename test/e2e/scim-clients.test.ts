// Replays the conversations Okta, Microsoft Entra ID and JumpCloud have with a SCIM server (request
// and response fixtures in test/fixtures/scim/) against the real endpoint, each in a directory of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScimTestServer, type ScimTestServer } from '../helpers/scim.js';
import type { Conversation } from '../fixtures/scim/exchange.js';
import { okta } from '../fixtures/scim/okta.js';
import { entra } from '../fixtures/scim/entra.js';
import { jumpcloud } from '../fixtures/scim/jumpcloud.js';

function substitute(value: unknown, vars: Map<string, string>): unknown {
  if (typeof value === 'string') {
    // Placeholders may sit inside an encoded query string, as %7B%7Bname%7D%7D.
    return value.replace(/\{\{(\w+)\}\}|%7B%7B(\w+)%7D%7D/g, (all, plain: string | undefined, encoded: string | undefined) => vars.get((plain ?? encoded)!) ?? all);
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

const at = (body: unknown, path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], body);

describe.each([okta, entra, jumpcloud])('$client conversation', (conversation: Conversation) => {
  let s: ScimTestServer;
  let token: string;
  let directoryId: string;
  const vars = new Map<string, string>();

  beforeAll(async () => {
    s = await startScimTestServer();
    ({ token, id: directoryId } = await s.directory(conversation.client));
  });
  afterAll(async () => s?.close());

  it.each(conversation.exchanges.map((e, i) => [`${i + 1}. ${e.name}`, e] as const))('%s', async (_name, exchange) => {
    const req = substitute(exchange.request, vars) as typeof exchange.request;
    const res = await s.request(token, req.method, req.path, req.body, req.headers);
    expect(res.status, res.text).toBe(exchange.response.status);
    if (res.text) expect(res.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    if (exchange.response.body !== undefined) expect(res.body).toMatchObject(substitute(exchange.response.body, vars) as object);
    for (const key of exchange.response.absent ?? []) expect(res.body, `${key} must not be returned`).not.toHaveProperty(key);
    for (const [name, path] of Object.entries(exchange.capture ?? {})) {
      const value = at(res.body, path);
      expect(typeof value).toBe('string');
      vars.set(name, value as string);
    }
  });

  it('left an identity event for every change, in order, for this directory only', async () => {
    const rows = await s.sql<{ directory_id: string; kind: string; seq: string }>('SELECT directory_id, kind, seq FROM scim_outbox ORDER BY seq');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.directory_id === directoryId)).toBe(true);
    expect(rows[0]!.kind).toBe('created');
  });
});
