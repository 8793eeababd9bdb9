// A flow started by webhooks, in a running Gatehouse (real PostgreSQL, Vault, Temporal): an admin
// sets the flow's secret (kept in Vault, shown once); a call signed with it starts a run, which reads
// the flow's source; a call with a wrong, stale or missing signature is refused with why, recorded on
// the ledger with where it came from, and starts nothing. The secret is never on the ledger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type LedgerEntry } from '../../audit/index.js';
import { waitUntil } from '../helpers/access-world.js';
import { createHrConnector, startAccessServer, type AccessServer } from '../helpers/access-server.js';
import { withPg } from '../helpers/services.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../workflows/flows/flow-webhooks.js';

interface Run {
  id: string;
  status: string;
  created: number;
  startedBy: { kind: string; id: string; name?: string };
}

describe('flows started by webhooks', () => {
  let s: AccessServer;
  let connector: string;
  const ledger = () => createLedger({ orm: s.orm, signer: { sign: () => Promise.reject(new Error('unused')), publicKeys: () => Promise.resolve([]) } });
  const entries = async (action: string): Promise<LedgerEntry[]> => (await ledger().query({ action })).entries;
  const flow = (name: string, trigger: string) => `
apiVersion: gatehouse.dev/v1
kind: Flow
name: ${name}
source: { connector: ${connector}, objectClass: people }
target: { connector: ${connector}, objectClass: people-copy }
trigger: ${trigger}
mapping: '{ "employee_id": employee_id, "display_name": display_name }'
`;
  /** POSTs to a flow's webhook with these headers and body, as a system outside would. */
  const call = async (name: string, headers: Record<string, string>, body = '{"event":"employees.changed"}') => {
    const res = await fetch(`${s.gatehouse.url}/api/hooks/flows/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { message: string } }, retryAfter: res.headers.get('retry-after') };
  };
  const signed = (secret: string, body = '{"event":"employees.changed"}', at = Math.floor(Date.now() / 1000)) => ({ [TIMESTAMP_HEADER]: String(at), [SIGNATURE_HEADER]: webhookSignature(secret, String(at), body) });
  const runs = async (name: string) => (await s.api<{ runs: Run[] }>(s.admin, 'GET', `/api/flows/${name}/runs`)).body.runs;

  beforeAll(async () => {
    s = await startAccessServer();
    connector = await createHrConnector(s);
    await withPg(s.target.superuserUrl, (c) => c.query("INSERT INTO hr.people (employee_id, email, display_name) VALUES ('W1', 'w1@corp.example', 'Wen'), ('W2', 'w2@corp.example', 'Wim')"));
    for (const [name, trigger] of [['hr-hook', '{ type: webhook }'], ['hr-token-hook', '{ type: webhook, auth: token }'], ['hr-manual', '{ type: manual }']] as const) {
      const published = await s.api(s.admin, 'POST', '/api/flows', { document: flow(name, trigger) });
      expect(published.status, JSON.stringify(published.body)).toBe(201);
    }
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses every call until an admin sets the secret, and sets one only for a flow started by webhooks', async () => {
    const early = await call('hr-hook', signed('guess'));
    expect(early.status).toBe(401);
    expect(early.body.error!.message).toBe('flow hr-hook has no webhook secret yet: an admin sets one (gatehouse flow webhook-secret hr-hook)');
    const manual = await s.api<{ error: { message: string; field: string } }>(s.admin, 'POST', '/api/flows/hr-manual/webhook-secret');
    expect(manual.status).toBe(400);
    expect(manual.body.error).toMatchObject({ field: 'trigger', message: expect.stringContaining('hr-manual is not started by webhooks') });
    expect((await call('hr-manual', {})).status).toBe(404);
    expect((await call('no-such-flow', {})).status).toBe(404);
    expect(await runs('hr-hook')).toEqual([]);
  });

  it('a call with a bad signature is refused and recorded, and starts nothing; a signed one starts a run', async () => {
    const set = await s.api<{ secret: string; path: string; auth: string }>(s.admin, 'POST', '/api/flows/hr-hook/webhook-secret');
    expect(set.status, JSON.stringify(set.body)).toBe(201);
    expect(set.body).toMatchObject({ auth: 'hmac', path: '/api/hooks/flows/hr-hook' });
    const { secret } = set.body;

    const forged = await call('hr-hook', signed('not-the-secret'));
    expect(forged.status).toBe(401);
    expect(forged.body.error!.message).toBe(`header ${SIGNATURE_HEADER} does not match the body and timestamp under the flow's webhook secret`);
    const tampered = await call('hr-hook', signed(secret), '{"event":"payroll.changed"}');
    expect(tampered.status).toBe(401);
    const stale = await call('hr-hook', signed(secret, undefined, Math.floor(Date.now() / 1000) - 600));
    expect(stale.status).toBe(401);
    expect(stale.body.error!.message).toMatch(/more than 5 minutes from the server's clock/);
    const unsigned = await call('hr-hook', {});
    expect(unsigned.status).toBe(401);
    expect(await runs('hr-hook')).toEqual([]);

    const refused = (await entries('flow.webhook.refused')).filter((e) => e.subject?.id === 'hr-hook');
    expect(refused).toHaveLength(5);
    expect(refused.map((e) => e.details!.reason)).toContain(`header ${SIGNATURE_HEADER} does not match the body and timestamp under the flow's webhook secret`);
    expect(refused[0]!.details!.from).toMatch(/127\.0\.0\.1/);
    expect(refused[0]!.actor).toMatchObject({ kind: 'system', id: 'webhook' });

    const accepted = await call('hr-hook', signed(secret));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const run = await waitUntil('the webhook run to end', async () => {
      const r = (await runs('hr-hook')).find((x) => x.id === accepted.body.id);
      return r && r.status !== 'running' ? r : undefined;
    });
    expect(run).toMatchObject({ status: 'succeeded', created: 2, startedBy: { kind: 'system', id: 'webhook' } });
    const started = (await entries('flow.run.started')).find((e) => e.details?.runId === run.id);
    expect(started?.details).toMatchObject({ trigger: 'webhook' });

    // The secret is in Vault only: not on the ledger, not in the run.
    const recorded = JSON.stringify([...(await entries('flow.webhook.secret.set')), ...refused, started]);
    expect(recorded).toContain('gatehouse/flows/webhooks/hr-hook');
    expect(recorded).not.toContain(secret);
  });

  it('a token flow takes its secret as a bearer token; a new secret retires the old one', async () => {
    const first = (await s.api<{ secret: string; auth: string }>(s.admin, 'POST', '/api/flows/hr-token-hook/webhook-secret')).body;
    expect(first.auth).toBe('token');
    expect((await call('hr-token-hook', signed(first.secret))).status).toBe(401);
    const second = (await s.api<{ secret: string }>(s.admin, 'POST', '/api/flows/hr-token-hook/webhook-secret')).body;
    const old = await call('hr-token-hook', { authorization: `Bearer ${first.secret}` });
    expect(old.status).toBe(401);
    expect(old.body.error!.message).toBe('the webhook secret is wrong');
    const accepted = await call('hr-token-hook', { authorization: `Bearer ${second.secret}` });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    // While that run goes (it takes far longer than one more call), another call is told to come back, not dropped silently.
    const again = await call('hr-token-hook', { authorization: `Bearer ${second.secret}` });
    expect(again.status).toBe(409);
    expect(again.retryAfter).toBe('30');
  });
});
