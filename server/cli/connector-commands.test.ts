// `gatehouse connector …` against real PostgreSQL and Vault: the commands' work directly, and the
// registered command line end to end in a child process, as an operator runs it.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, createTestVault, openOrm, sharedTestDataDir, withPg, type MikroORM, type TestDatabase, type TestVault } from '../../test/helpers/services.js';
import { createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorInstanceService } from '../../connectors/instances/connector-instance-service.js';
import { cleanEnv, REPO_ROOT } from '../../test/helpers/cli.js';
import { configFromOptions, connectorCommandActions, type ConnectorCliIo } from './connector-commands.js';
import { createLedger } from '../../audit/index.js';

describe('gatehouse connector', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let orm: MikroORM;
  let target: PostgresTarget;
  let dir: string;
  const registry = createBuiltinConnectorRegistry();

  beforeAll(async () => {
    [db, vault, target] = await Promise.all([createTestDatabase(), createTestVault(), createPostgresTarget()]);
    orm = await openOrm(db.appUrl, 2);
    dir = mkdtempSync(path.join(sharedTestDataDir(), 'cli-'));
  });
  afterAll(async () => {
    await orm?.close(true);
    await target?.drop();
    await db?.drop();
  });


  const io = (files: Record<string, string>, out: string[]): ConnectorCliIo => ({
    out: (t) => out.push(t),
    read: (p) => {
      if (!(p in files)) throw new Error(`no file ${p}`);
      return files[p]!;
    },
  });

  it('refuses a secret on the command line, naming it, and a setting in the secrets file', () => {
    expect(() => configFromOptions({ set: ['password=hunter2'] }, ['password'], io({}, []))).toThrow(expect.objectContaining({ field: 'config.password' }));
    expect(() => configFromOptions({ secretsFile: 's.yaml' }, ['password'], io({ 's.yaml': 'host: db\n' }, []))).toThrow(expect.objectContaining({ field: '--secrets-file.host' }));
    expect(configFromOptions({ set: ['port=5433', 'ssl=disable', 'managedSchemas=["app"]'] }, ['password'], io({}, []))).toEqual({ port: 5433, ssl: 'disable', managedSchemas: ['app'] });
  });

  it('creates, shows, updates and deletes through the commands, with secrets from a file', async () => {
    const out: string[] = [];
    const { password: secret, ...rest } = target.config() as { password: string } & Record<string, unknown>;
    const files = { 'pg.json': JSON.stringify(rest), 'secrets.yaml': `password: ${secret}\n` };
    const actions = connectorCommandActions(createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger: createLedger({ orm, signer: vault.store }) }), registry, io(files, out));
    await actions.create('pg-cli', { type: 'postgresql', configFile: 'pg.json', secretsFile: 'secrets.yaml', description: 'from the CLI' });
    expect(out.join('\n')).toContain('password (set)');
    expect(out.join('\n')).not.toContain(secret);
    await actions.update('pg-cli', { set: ['statementTimeoutMs=1500'] });
    await actions.show('pg-cli', { json: true });
    expect(JSON.parse(out[out.length - 1]!)).toMatchObject({ config: { statementTimeoutMs: 1500 }, secrets: { password: { set: true } } });
    await expect(actions.remove('pg-cli', {})).rejects.toMatchObject({ field: '--yes' });
    await actions.remove('pg-cli', { yes: true });
    await actions.list({});
    expect(out[out.length - 1]).toBe('no connectors configured');
  });

  const run = (args: string[], stdin?: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env = cleanEnv({
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        GATEHOUSE_DATA_DIR: dir,
        DATABASE_URL: db.ownerUrl,
        DATABASE_APP_URL: db.appUrl,
        DATABASE_LEDGER_URL: db.ledgerUrl,
        VAULT_ADDR: vault.address,
        VAULT_TOKEN: vault.token,
        VAULT_KV_MOUNT: vault.kvMount,
        VAULT_TRANSIT_MOUNT: vault.transitMount,
      });
      // runCli (test/helpers/cli.ts) closes stdin; these runs feed secrets through it.
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', ...args], { cwd: REPO_ROOT, env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });

  it('runs as registered in the gatehouse command line, reading secrets from stdin', async () => {
    const { password: secret, ...rest } = target.config() as { password: string } & Record<string, unknown>;
    const configFile = path.join(dir, 'pg.json');
    writeFileSync(configFile, JSON.stringify(rest));
    const created = await run(['connector', 'create', 'pg-stdin', '--type', 'postgresql', '--config-file', configFile, '--secrets-file', '-', '--json'], JSON.stringify({ password: secret }));
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const view = JSON.parse(created.stdout) as { id: string; secretVersion: number };
    expect(view.secretVersion).toBe(1);
    expect(created.stdout).not.toContain(secret);
    expect(await vault.store.readKv(`gatehouse/connectors/${view.id}`)).toMatchObject({ data: { password: secret } });
    const row = await withPg(db.superuserUrl, (c) => c.query('SELECT row_to_json(t)::text AS t FROM connector_instance t WHERE id = $1', [view.id]));
    expect(row.rows[0].t).not.toContain(secret);
    // The change is in the ledger under the operating-system user who ran the command.
    const entry = await withPg(db.superuserUrl, (c) => c.query(`SELECT doc FROM ledger_entry WHERE doc->>'action' = 'connector.created' AND doc->'subject'->>'id' = $1`, [view.id]));
    expect(entry.rows[0].doc.actor).toMatchObject({ kind: 'human', id: expect.stringMatching(/^os:/) });

    const refused = await run(['connector', 'update', 'pg-stdin', '--set', `password=${secret}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('config.password: is a secret');
  }, 60_000);
});
