// A sync flow whose target grants access: requests for LDAP group membership, read from an HR table
// in PostgreSQL, are written to the LDAP connector's memberships. None is written by the flow itself:
// each record becomes an access change of its own, decided by policy, approved where policy says, and
// applied to the person's own account, each on the ledger. One waiting for approval holds up neither
// the run nor the other records; a record naming nobody Gatehouse knows is set aside, and replaying it
// once the person has joined goes through the gate again. All real: SCIM over HTTP, Temporal,
// PostgreSQL, Vault and slapd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/access-world.js';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';
import { withPg } from '../helpers/services.js';
import { historyText } from '../helpers/temporal-history.js';
import { testCallers, type PersonCredentials } from '../helpers/test-callers.js';
import type { FlowRunChanges } from '../../workflows/flows/flow-service.js';

interface Run {
  id: string;
  status: string;
  read: number;
  created: number;
  unchanged: number;
  deadLettered: number;
  accessChanges: FlowRunChanges;
}
interface DeadLetter {
  id: string;
  error: string;
  record: Record<string, unknown>;
  status: string;
}

describe('a flow that writes group memberships goes through the access gate', () => {
  let w: JmlWorld;
  let sam: PersonCredentials;
  let ann: string;
  let bob: string;
  const FLOW = 'ldap-access-requests';
  const userName = (key: string) => `${w.login(key)}@acme.test`;
  const runOf = async (id: string) => (await w.api<Run>(w.admin, 'GET', `/api/flows/${FLOW}/runs/${id}`)).body;

  beforeAll(async () => {
    w = await startJmlWorld();
    sam = await testCallers(w.orm).person(['security-approver'], 'Sam Security', 'sam@security.test');
    const ldap = w.connectors.ldap.name;
    await w.publish(
      birthrightPolicy(w, {
        rules: `  - id: sync-engineers
    match: { sources: [sync], kinds: [grant], entitlements: ["${ldap}:engineers"] }
    effect: allow
  - id: sync-finance-gated
    match: { sources: [sync], kinds: [grant], entitlements: ["${ldap}:finance"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 1h }] }`,
      }),
    );
    ann = await w.join({ key: 'ann', name: 'Ann Analyst', department: 'Marketing' });
    bob = await w.join({ key: 'bob', name: 'Bob Buyer', department: 'Marketing' });
    for (const id of [ann, bob]) expect((await w.waitForRun(id)).status).toBe('completed');

    const hr = `hr-${w.pg.tag}`;
    const created = await w.api(w.admin, 'POST', '/api/connectors', {
      name: hr,
      type: 'postgresql',
      config: { ...w.pg.config(), objectClasses: [{ name: 'access-requests', schema: 'hr', table: 'access_requests', cursor: 'changed' }] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await withPg(w.pg.superuserUrl, (c) =>
      c.query('INSERT INTO hr.access_requests (request_id, person, grp) VALUES ($1, $2, $3), ($4, $5, $6), ($7, $8, $9), ($10, $11, $12), ($13, $14, $15)', [
        'R1', userName('ann'), 'engineers', // allowed by policy
        'R2', userName('bob'), 'finance', // needs a security approver
        'R3', userName('cat'), 'engineers', // nobody Gatehouse knows, yet
        'R4', userName('ann'), 'vpn', // held already (birthright)
        'R5', userName('ann'), 'admins', // no rule allows it: denied
      ]),
    );
    const published = await w.api(w.admin, 'POST', '/api/flows', {
      document: `
apiVersion: gatehouse.dev/v1
kind: Flow
name: ${FLOW}
source: { connector: ${hr}, objectClass: access-requests, pageSize: 2 }
target: { connector: ${ldap}, objectClass: memberships }
mapping: '{ "subject": person, "entitlement": grp }'
fields:
  person: { classification: pii, rule: hash }
`,
    });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
  });

  afterAll(async () => {
    await w?.close();
  });

  it('previews the grants it would hand to the gate, and writes nothing', async () => {
    const preview = await w.api<{ targetKind: string; counts: Record<string, number>; sample: { situation: string; error?: string }[] }>(w.admin, 'POST', `/api/flows/${FLOW}/preview`, { limit: 100 });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.targetKind).toBe('membership');
    expect(preview.body.counts).toMatchObject({ grant: 3, unchanged: 1, refused: 1, create: 0 });
    expect(preview.body.sample.find((s) => s.situation === 'refused')?.error).toMatch(/^subject: no identity/);
    expect(await w.ldapGroupsOf(w.login('ann'))).toEqual(['vpn']);
  });

  it('each membership is decided on its own: allowed is applied, gated waits while the run ends, denied is not applied', async () => {
    const started = await w.api<Run>(w.admin, 'POST', `/api/flows/${FLOW}/runs`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const run = await waitUntil('the run to end', async () => {
      const r = await runOf(started.body.id);
      return r.status === 'running' ? undefined : r;
    });
    // The run is over although a change still waits for approval: it held nothing up.
    expect(run).toMatchObject({ status: 'succeeded', read: 5, created: 0, unchanged: 1, deadLettered: 1 });
    expect(run.accessChanges.total).toBe(3);

    await waitUntil('ann in engineers', async () => (await w.ldapGroupsOf(w.login('ann'))).includes('engineers') || undefined);
    const item = await waitUntil('an approval request for bob', async () => {
      const r = await w.api<{ approvals: { id: string; subject: { id: string } }[] }>(sam, 'GET', '/api/approvals');
      return r.body.approvals.find((a) => a.subject.id === bob);
    });
    const waiting = await waitUntil('the changes to settle', async () => {
      const r = await runOf(run.id);
      return r.accessChanges.applied === 1 && r.accessChanges.refused === 1 ? r : undefined;
    });
    expect(waiting.accessChanges).toEqual({ total: 3, applied: 1, awaitingApproval: 1, inProgress: 0, refused: 1, failed: 0 });
    expect(await w.ldapGroupsOf(w.login('bob'))).toEqual(['vpn']);
    expect(await w.ldapGroupsOf(w.login('ann'))).toEqual(['engineers', 'vpn']);

    expect((await w.api(sam, 'POST', `/api/approvals/${item.id}/decision`, { verdict: 'approve', reason: 'buyer needs the finance share' })).status).toBe(200);
    await waitUntil('bob in finance', async () => (await w.ldapGroupsOf(w.login('bob'))).includes('finance') || undefined);
    const settled = await waitUntil('the approved change recorded as applied', async () => {
      const r = await runOf(run.id);
      return r.accessChanges.applied === 2 ? r : undefined;
    });
    expect(settled.accessChanges).toMatchObject({ applied: 2, awaitingApproval: 0, inProgress: 0, refused: 1 });

    // Each change is the gate's own: decided (source sync, the flow as requester), then applied or not.
    const changes = await w.orm.em.getConnection().execute<{ source: string; requester: string; entitlement: string; status: string }[]>(
      `SELECT a.change ->> 'source' AS source, a.change -> 'requester' ->> 'id' AS requester, a.change -> 'target' -> 'entitlement' ->> 'id' AS entitlement, a.status
         FROM flow_change f JOIN access_change a ON a.id = f.change_id WHERE f.run_id = ? ORDER BY 3`,
      [run.id],
    );
    expect(changes).toEqual([
      { source: 'sync', requester: `flow:${FLOW}`, entitlement: 'admins', status: 'denied' },
      { source: 'sync', requester: `flow:${FLOW}`, entitlement: 'engineers', status: 'applied' },
      { source: 'sync', requester: `flow:${FLOW}`, entitlement: 'finance', status: 'applied' },
    ]);
    // The run's history holds counts: no record, so no person's name or address.
    const history = await historyText(w.temporal.client.workflow.getHandle(`flow:${FLOW}`));
    expect(history).toContain('runFlowPages');
    for (const value of [userName('ann'), userName('bob'), userName('cat')]) expect(history).not.toContain(value);
  });

  it('a record naming nobody is set aside without repeating the name, and its replay once the person joined goes through the gate', async () => {
    const letters = await w.api<{ deadLetters: DeadLetter[] }>(w.admin, 'GET', `/api/flows/${FLOW}/dead-letters`);
    expect(letters.body.deadLetters).toHaveLength(1);
    const [letter] = letters.body.deadLetters;
    expect(letter!.error).toMatch(/^subject: no identity in Gatehouse's directories has this id, userName or externalId/);
    expect(letter!.record.person).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(letter)).not.toContain(w.login('cat'));

    const cat = await w.join({ key: 'cat', name: 'Cat Coder', department: 'Marketing' });
    expect((await w.waitForRun(cat)).status).toBe('completed');
    const replayed = await w.api<{ status: string; outcome?: string }>(w.admin, 'POST', `/api/flows/${FLOW}/dead-letters/${letter!.id}/replay`);
    expect(replayed.status, JSON.stringify(replayed.body)).toBe(200);
    expect(replayed.body).toMatchObject({ status: 'replayed', outcome: expect.stringMatching(/^handed to the access gate as change [0-9a-f-]{36}$/) });
    await waitUntil('cat in engineers', async () => (await w.ldapGroupsOf(w.login('cat'))).includes('engineers') || undefined);
    const changeId = replayed.body.outcome!.split(' ').pop()!;
    // The target changes a moment before the change's record says so.
    const decided = await waitUntil('the replayed change recorded as applied', async () => {
      const [row] = await w.orm.em.getConnection().execute<{ source: string; status: string }[]>("SELECT change ->> 'source' AS source, status FROM access_change WHERE id = ?", [changeId]);
      return row?.status === 'applied' ? row : undefined;
    });
    expect(decided).toEqual({ source: 'sync', status: 'applied' });
  });

  it('a second run finds nothing new and proposes nothing twice', async () => {
    const started = await w.api<Run>(w.admin, 'POST', `/api/flows/${FLOW}/runs`);
    const run = await waitUntil('the second run to end', async () => {
      const r = await runOf(started.body.id);
      return r.status === 'running' ? undefined : r;
    });
    expect(run).toMatchObject({ status: 'succeeded', read: 0, accessChanges: { total: 0 } });
    const [{ n }] = (await w.orm.em.getConnection().execute<{ n: string }[]>("SELECT count(*) AS n FROM access_change WHERE change ->> 'source' = 'sync'")) as [{ n: string }];
    expect(Number(n)).toBe(4);
  });
});
