// The `gatehouse policy` commands as an operator (or a pipeline keeping policies in git) runs them: a
// real process against the suite's PostgreSQL and Vault. Checking is offline; publishing records the
// operator in the ledger; publishing the same meaning again changes nothing; a later publication waits
// for a second admin.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { runCliToEnd } from '../helpers/cli.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, type MikroORM, type TestDatabase, type TestVault } from '../helpers/services.js';

describe('gatehouse policy', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let orm: MikroORM;
  let work: string;
  let env: Record<string, string>;

  const file = (name: string, text: string) => {
    const p = path.join(work, name);
    writeFileSync(p, text);
    return p;
  };
  const gatehouse = (...args: string[]) => runCliToEnd(['policy', ...args], env);

  beforeAll(async () => {
    [db, vault] = await Promise.all([createTestDatabase(), createTestVault()]);
    orm = await openOrm(db.appUrl, 2);
    work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-policy-'));
    env = {
      LOG_LEVEL: 'silent',
      GATEHOUSE_DATA_DIR: path.join(work, 'data'),
      DATABASE_URL: db.ownerUrl,
      DATABASE_APP_URL: db.appUrl,
      DATABASE_LEDGER_URL: db.ledgerUrl,
      VAULT_ADDR: vault.address,
      VAULT_TOKEN: vault.token,
      VAULT_KV_MOUNT: vault.kvMount,
      VAULT_TRANSIT_MOUNT: vault.transitMount,
    };
  });

  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  const POLICY = `# reviewed in PR 42
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme-access
rules:
  - { id: readers, match: { kinds: [grant], entitlements: ["crm:readers"] }, effect: allow }
administration:
  createApiTokens: { effect: require-approval, approval: { stages: [{ name: Second admin, approvers: [{ role: admin }] }] } }
`;

  it('checks a document offline, naming the problem', async () => {
    const bad = await gatehouse('check', file('bad.yaml', 'apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: Bad Name\n'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^gatehouse: name: must be lower-case letters, digits and dashes/);
    const good = await gatehouse('check', file('good.yaml', POLICY));
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^acme-access: valid, version [0-9a-f]{64} \(1 rules/);
  }, 180_000);

  it('publishes once, records the operator in the ledger, shows the text as published, and lists the history', async () => {
    const published = await gatehouse('publish', file('p.yaml', POLICY), '--note', 'from git');
    expect(published.code, published.stderr).toBe(0);
    const hash = /version ([0-9a-f]{64})/.exec(published.stdout)?.[1];
    expect(hash).toBeDefined();
    const again = await gatehouse('publish', file('p2.yaml', POLICY.replace('# reviewed in PR 42', '# same rules')));
    expect(again.stdout).toContain('is already in force; nothing published');

    const show = await gatehouse('show');
    expect(show.stdout).toContain(`# acme-access version ${hash}`);
    expect(show.stdout).toContain('# reviewed in PR 42');
    const history = await gatehouse('history');
    expect(history.stdout.trim().split('\n')).toHaveLength(1);
    expect(history.stdout).toMatch(new RegExp(`acme-access  ${hash}  by cli:\\S+  \\(from git\\)`));

    const ledger = createLedger({ orm, signer: vault.store });
    const entries = (await ledger.query({ action: 'policy.published' })).entries;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: { kind: 'system', id: expect.stringMatching(/^cli:/) }, policy: { id: 'acme-access', versionHash: hash } });
  }, 180_000);

  it('proposes a later publication for a second admin, and publishes nothing until then', async () => {
    const next = file('next.yaml', POLICY.replace('effect: allow', 'effect: deny'));
    // Temporal unreachable: the gate cannot open, so nothing is proposed or published, and the operator is told why.
    const offline = await runCliToEnd(['policy', 'publish', next], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain("needs a second admin's approval");
    expect(offline.stderr).toContain('Temporal');
    const rows = () => orm.em.fork().getConnection().execute<{ id: string; status: string; proposed_by_id: string }[]>('SELECT id, status, proposed_by_id FROM admin_change');
    expect(await rows()).toEqual([]);

    const temporal = await connectTestTemporal();
    try {
      const proposed = await runCliToEnd(['policy', 'publish', next], { ...env, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: temporal.taskQueue });
      expect(proposed.code, proposed.stderr).toBe(0);
      expect(proposed.stdout).toMatch(/^nothing published yet: .*second admin's approval/);
      const [row] = await rows();
      expect(row).toMatchObject({ status: 'pending', proposed_by_id: expect.stringMatching(/^cli:/) });
      expect(proposed.stdout).toContain(`/api/admin-changes/${row!.id}/decision`);
      expect((await gatehouse('history')).stdout.trim().split('\n')).toHaveLength(1);
      await temporal.client.workflow.getHandle(`approval:${row!.id}`).terminate('test over');
    } finally {
      await temporal.close();
    }
  }, 180_000);

  it('refuses a change the policy holds for approval, and names the API call that proposes it', async () => {
    const refused = await runCliToEnd(['token', 'create', '--name', 'terraform', '--scope', 'read:System'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('policy acme-access requires approval for creating API tokens (administration.createApiTokens)');
    expect(refused.stderr).toContain('propose it through the API (POST /api/tokens)');
    const tokens = await orm.em.fork().getConnection().execute<{ n: number }[]>('SELECT count(*)::int AS n FROM api_token');
    expect(tokens[0]!.n).toBe(0);
  }, 180_000);

  it('simulates a draft without publishing it', async () => {
    const sim = await gatehouse('simulate', file('draft.yaml', POLICY.replace('effect: allow', 'effect: deny')));
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toMatch(/assignments: 0 evaluated, 0 decided differently/);
    const history = await gatehouse('history');
    expect(history.stdout.trim().split('\n')).toHaveLength(1);
  }, 180_000);
});
