// The first vertical path, end to end: a Temporal workflow runs an activity that reads a secret
// from Vault and writes a row through MikroORM, and the secret never enters workflow history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { runSelfCheck } from '../../server/selfcheck.js';
import { CANARY_PATH } from '../../workflows/selfcheck/activities.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, withPg, type TestDatabase, type TestTemporal, type TestVault } from '../helpers/services.js';
import { historyText } from '../helpers/temporal-history.js';
import { testCallers } from '../helpers/test-callers.js';

describe('self-check workflow: Temporal, Vault and PostgreSQL together', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    const config = testConfig({ db, vault, temporal });
    gatehouse = await startGatehouse(config, createLogger({ level: 'silent' }));
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('reads the secret in the activity, writes the row, and keeps the secret out of history', async () => {
    const config = gatehouse.runtime.config;
    const result = await runSelfCheck(config);

    const canary = await vault.store.readKv(CANARY_PATH);
    expect(canary?.data.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result).toMatchObject({ vaultSecretVersion: canary!.version, secretStore: 'vault' });

    const rows = await withPg(db.superuserUrl, (c) => c.query('SELECT workflow_id, run_id, vault_secret_version, secret_store FROM system_check WHERE id = $1', [result.checkId]));
    expect(rows.rows).toEqual([{ workflow_id: result.workflowId, run_id: expect.any(String), vault_secret_version: canary!.version, secret_store: 'vault' }]);

    const handle = temporal.client.workflow.getHandle(result.workflowId);
    const described = await handle.describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(rows.rows[0].run_id).toBe(described.runId);

    const text = await historyText(handle);
    expect(text).toContain(result.checkId); // the history is really searched
    expect(text).not.toContain(canary!.data.value);
  });

  it('answers readiness: ready to anyone, and to a signed-in caller every dependency up and external', async () => {
    expect(await (await fetch(`${gatehouse.url}/readyz`)).json()).toEqual({ status: 'ready' }); // anonymous: the answer only
    const person = await testCallers(gatehouse.runtime.orm).person([], 'Someone signed in');
    const res = await fetch(`${gatehouse.url}/readyz`, { headers: person.headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; dependencies: Record<string, { status: string; mode: string; version: string }> };
    expect(body.status).toBe('ready');
    for (const dep of ['postgres', 'temporal', 'vault']) {
      expect(body.dependencies[dep]).toMatchObject({ status: 'up', mode: 'external', version: expect.stringMatching(/^\d+\.\d+/) });
    }
  });
});
