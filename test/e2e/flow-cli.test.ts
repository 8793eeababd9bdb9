// The `gatehouse flow` commands as a pipeline keeping flows in git runs them: a real process against
// the suite's PostgreSQL and Vault. Checking is offline; publishing records the operator in the
// ledger; list and show print what is in force, as it was written.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../audit/index.js';
import { runCliToEnd } from '../helpers/cli.js';
import { createTestDatabase, createTestVault, openOrm, withPg, type MikroORM, type TestDatabase, type TestVault } from '../helpers/services.js';

describe('gatehouse flow', () => {
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
  const gatehouse = (...args: string[]) => runCliToEnd(['flow', ...args], env);

  const FLOW = `# reviewed in PR 7
apiVersion: gatehouse.dev/v1
kind: Flow
name: hr-to-crm
source: { connector: hr-db, objectClass: people }
target: { connector: hr-db, objectClass: contacts }
fields:
  ssn: { classification: secret }
`;

  beforeAll(async () => {
    [db, vault] = await Promise.all([createTestDatabase(), createTestVault()]);
    orm = await openOrm(db.appUrl, 2);
    // A connector instance as `gatehouse connector create` leaves it (the flow names it; nothing connects here).
    const id = randomUUID();
    await withPg(db.ownerUrl, (c) => c.query("INSERT INTO connector_instance (id, name, type, secret_path) VALUES ($1, 'hr-db', 'postgresql', $2)", [id, `gatehouse/connectors/${id}`]));
    work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-flow-'));
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

  it('checks a document offline, naming the problem', async () => {
    const bad = await gatehouse('check', file('bad.yaml', FLOW.replace('{ classification: secret }', '{ classification: secret, rule: pass }')));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^gatehouse: fields\.ssn\.rule: a secret field may only be dropped/);
    const good = await gatehouse('check', file('good.yaml', FLOW));
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^hr-to-crm: valid, version [0-9a-f]{64} \(hr-db\/people -> hr-db\/contacts, upsert\)/);
  }, 180_000);

  it('publishes, records the operator, lists and shows the flow as written; refuses an unknown connector', async () => {
    const published = await gatehouse('publish', file('p.yaml', FLOW), '--note', 'from git', '--replaces', 'none');
    expect(published.code, published.stderr).toBe(0);
    const hash = /version ([0-9a-f]{64})/.exec(published.stdout)?.[1];
    expect(hash).toBeDefined();
    const entries = (await createLedger({ orm, signer: vault.store }).query({ action: 'flow.published' })).entries;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: { kind: 'system', id: `cli:${os.userInfo().username}` }, details: { versionHash: hash, note: 'from git' } });

    const list = await gatehouse('list');
    expect(list.stdout).toMatch(new RegExp(`^hr-to-crm  hr-db/people -> hr-db/contacts \\(upsert\\)  version ${hash!.slice(0, 12)}`));
    const shown = await gatehouse('show', 'hr-to-crm');
    expect(shown.stdout).toContain('# reviewed in PR 7');
    expect(shown.stdout).toContain(`# hr-to-crm version ${hash}`);

    const runs = await gatehouse('runs', 'hr-to-crm');
    expect(runs.stdout.trim()).toBe('flow hr-to-crm has not run yet: gatehouse flow run hr-to-crm');

    const letters = await gatehouse('dead-letters', 'hr-to-crm');
    expect(letters.stdout.trim()).toBe('flow hr-to-crm has no open dead letters');
    const badStatus = await gatehouse('dead-letters', 'hr-to-crm', '--status', 'lost');
    expect(badStatus.stderr).toMatch(/^gatehouse: --status: must be one of open, replayed, discarded, superseded/);

    const unknown = await gatehouse('publish', file('u.yaml', FLOW.replace('target: { connector: hr-db', 'target: { connector: crm-db')));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^gatehouse: target\.connector: no connector is named crm-db/);
  }, 180_000);
});
