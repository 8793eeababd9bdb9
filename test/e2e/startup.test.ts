// `gatehouse start` as a user runs it: embedded services to ready, restart with data kept, clean
// shutdown, and each start-up failure as one clear line with nothing left running.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isPortFree, findBinary } from '../../server/embedded/process.js';
import { runCli, runCliToEnd, testServiceEnv, type CliRun } from '../helpers/cli.js';
import { createTestDatabase, createTestVault, connectTestTemporal, type TestDatabase, type TestVault, type TestTemporal } from '../helpers/services.js';

function tempDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gh-start-'));
  chmodSync(dir, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
  return dir;
}

async function embeddedEnv(dataDir: string) {
  return {
    GATEHOUSE_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_DEV_UI_PORT: String(await freePort()),
    VAULT_DEV_PORT: String(await freePort()),
  };
}

const running: CliRun[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.kill('SIGTERM');
    await Promise.race([r.exited, new Promise((res) => setTimeout(res, 20_000))]);
    r.kill('SIGKILL');
  }
});

function start(env: Record<string, string>): CliRun {
  const run = runCli(['start'], env);
  running.push(run);
  return run;
}

/**
 * /readyz as a signed-in operator sees it (an API token made with the CLI, as an operator would);
 * anonymous callers get the answer only, which is checked too.
 */
async function readyz(port: string, env: Record<string, string>) {
  const anonymous = await fetch(`http://127.0.0.1:${port}/readyz`);
  expect(Object.keys((await anonymous.json()) as object)).toEqual(['status']);
  const made = await runCliToEnd(['token', 'create', '--name', `readyz-${Date.now()}`, '--scope', 'read:Run', '--json'], env);
  expect(made.code, made.stderr).toBe(0);
  // The CLI's own log lines share standard output with the JSON.
  const token = /"token": "([^"]+)"/.exec(made.stdout)?.[1];
  expect(token, made.stdout).toBeDefined();
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(anonymous.status);
  return { status: res.status, body: (await res.json()) as { status: string; dependencies: Record<string, { status: string; mode: string }>; warnings: string[] } };
}

describe('gatehouse start with embedded services', () => {
  it('reaches ready, runs the self-check, keeps its data across a restart, and stops everything on SIGTERM', async () => {
    const dataDir = tempDataDir();
    const env = await embeddedEnv(dataDir);

    const first = start(env);
    await first.waitFor(/Gatehouse is ready/, 120_000);
    const r1 = await readyz(env.PORT, env);
    expect(r1.status).toBe(200);
    expect(r1.body.dependencies).toMatchObject({
      postgres: { status: 'up', mode: 'embedded' },
      temporal: { status: 'up', mode: 'embedded' },
      vault: { status: 'up', mode: 'embedded' },
    });
    expect(r1.body.warnings).toEqual([]);
    const page = await fetch(`http://127.0.0.1:${env.PORT}/`);
    expect(await page.text()).toContain('<div id="app"></div>');

    const check = await runCliToEnd(['selfcheck'], env);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    const result = JSON.parse(check.stdout) as { checkId: string; vaultSecretVersion: number; secretStore: string };
    expect(result).toMatchObject({ vaultSecretVersion: 1, secretStore: 'vault' });

    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    for (const port of [env.PORT, env.EMBEDDED_POSTGRES_PORT, env.TEMPORAL_DEV_PORT, env.VAULT_DEV_PORT]) {
      expect(await isPortFree(Number(port))).toBe(true);
    }
    expect(existsSync(path.join(dataDir, 'temporal', 'dev-server.pid'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'vault', 'vault.pid'))).toBe(false);

    // Second start on the same data: Vault unseals and keeps its secrets (the canary is still
    // version 1), and PostgreSQL keeps the self-check row. The Temporal UI gets a port picked now:
    // a port picked minutes ago lies in the ephemeral range, where another test's outgoing
    // connection may have taken it meanwhile (seen once in CI as "bind: address already in use").
    const second = start({ ...env, TEMPORAL_DEV_UI_PORT: String(await freePort()) });
    await second.waitFor(/Gatehouse is ready/, 120_000);
    const again = await runCliToEnd(['selfcheck'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ vaultSecretVersion: 1, secretStore: 'vault' });
    second.kill('SIGINT');
    expect((await second.exited).code).toBe(0);
    // Two full starts (initdb, Temporal, Vault) and a stop: minutes on a busy 2-core machine, not one.
  }, 240_000);
});

describe('start-up failures: one clear line, non-zero exit, nothing left running', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let temporal: TestTemporal;
  beforeAll(async () => {
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    return async () => {
      await temporal.close();
      await db.drop();
    };
  });

  const external = () => ({ LOG_LEVEL: 'warn', ...testServiceEnv({ db, vault, temporal }), GATEHOUSE_DATA_DIR: tempDataDir() });

  it('a malformed variable is named, with exit code 2', async () => {
    const r = await runCliToEnd(['start'], { DATABASE_URL: 'mysql://db/gatehouse' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('gatehouse: invalid configuration: DATABASE_URL must be a postgres:// or postgresql:// URL\n');
  });

  it('production without its services names each missing variable', async () => {
    const r = await runCliToEnd(['start'], { NODE_ENV: 'production' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/DATABASE_URL is required when NODE_ENV=production.*VAULT_ADDR is required/);
  });

  it('an unreachable DATABASE_URL is named, and the embedded Vault it started is stopped', async () => {
    const dataDir = tempDataDir();
    const dead = await freePort();
    const vaultPort = await freePort();
    const r = await runCliToEnd(['start'], {
      ...external(),
      GATEHOUSE_DATA_DIR: dataDir,
      DATABASE_URL: `postgresql://gatehouse_owner:pw@127.0.0.1:${dead}/gatehouse`,
      DATABASE_APP_URL: `postgresql://gatehouse_app:pw@127.0.0.1:${dead}/gatehouse`,
      DATABASE_LEDGER_URL: `postgresql://gatehouse_ledger:pw@127.0.0.1:${dead}/gatehouse`,
      VAULT_ADDR: '',
      VAULT_TOKEN: '',
      VAULT_DEV_PORT: String(vaultPort),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`gatehouse: cannot connect to PostgreSQL at 127.0.0.1:${dead}/gatehouse (DATABASE_URL): connection refused; is PostgreSQL running there?\n`);
    expect(await isPortFree(vaultPort)).toBe(true);
    expect(existsSync(path.join(dataDir, 'vault', 'vault.pid'))).toBe(false);
  });

  it('wrong database credentials are named without echoing the password', async () => {
    const url = new URL(db.ownerUrl);
    url.password = 'not-the-password';
    const r = await runCliToEnd(['start'], { ...external(), DATABASE_URL: url.toString() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gatehouse: PostgreSQL at 127\.0\.0\.1:\d+\/gh_test_\w+ \(DATABASE_URL\) refused the credentials in DATABASE_URL: password authentication failed\n$/);
    expect(r.stderr).not.toContain('not-the-password');
  });

  it('an unreachable TEMPORAL_ADDRESS is named', async () => {
    const dead = await freePort();
    const r = await runCliToEnd(['start'], { ...external(), TEMPORAL_ADDRESS: `127.0.0.1:${dead}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^gatehouse: cannot reach Temporal at 127\\.0\\.0\\.1:${dead} \\(TEMPORAL_ADDRESS\\): .+\\n$`));
  });

  it('an unreachable VAULT_ADDR is named', async () => {
    const dead = await freePort();
    const r = await runCliToEnd(['start'], { ...external(), VAULT_ADDR: `http://127.0.0.1:${dead}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`gatehouse: cannot use Vault at http://127.0.0.1:${dead} (VAULT_ADDR): Vault unreachable during token lookup (ECONNREFUSED)\n`);
  });

  it('a Vault token without access is named', async () => {
    const r = await runCliToEnd(['start'], { ...external(), VAULT_TOKEN: 'hvs.not-a-real-token' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gatehouse: cannot use Vault at http:\/\/127\.0\.0\.1:\d+ \(VAULT_ADDR\): Vault refused token lookup: permission denied/);
    expect(r.stderr).not.toContain('not-a-real-token');
  });

  it('a port in use is named with the variable that moves it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', () => res()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCliToEnd(['start'], { ...external(), PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`gatehouse: port ${port} for the Gatehouse server is already in use: stop whatever listens there, or set PORT to a free port\n`);

      const r2 = await runCliToEnd(['start'], { ...external(), TEMPORAL_ADDRESS: '', TEMPORAL_DEV_PORT: String(port), TEMPORAL_DEV_UI_PORT: String(await freePort()) });
      expect(r2.code).toBe(1);
      expect(r2.stderr).toBe(`gatehouse: port ${port} for the Temporal dev server is already in use: stop whatever listens there, or set TEMPORAL_DEV_PORT to a free port\n`);
    } finally {
      blocker.close();
    }
  });

  it('a missing binary is named with how to get it', async () => {
    const r = await runCliToEnd(['start'], { ...external(), VAULT_ADDR: '', VAULT_TOKEN: '', VAULT_BIN: '/nonexistent/vault' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('gatehouse: VAULT_BIN=/nonexistent/vault is not an executable file\n');

    const r2 = await runCliToEnd(['start'], { ...external(), TEMPORAL_ADDRESS: '', TEMPORAL_CLI_PATH: '/nonexistent/temporal' });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe('gatehouse: TEMPORAL_CLI_PATH=/nonexistent/temporal is not an executable file\n');
  });

  it('without any Vault binary, starts with the development-only store and flags it', async () => {
    // A cache folder holding only the Temporal CLI, and a PATH without vault.
    const cache = mkdtempSync(path.join(os.tmpdir(), 'gh-cache-'));
    mkdirSync(path.join(cache, 'bin'));
    symlinkSync(findBinary('temporal', undefined)!, path.join(cache, 'bin', 'temporal'));
    const env = {
      ...external(),
      VAULT_ADDR: '',
      VAULT_TOKEN: '',
      GATEHOUSE_CACHE: cache,
      PATH: (process.env.PATH ?? '').split(path.delimiter).filter((d) => !existsSync(path.join(d, 'vault'))).join(path.delimiter),
      PORT: String(await freePort()),
      LOG_LEVEL: 'info',
    };
    const run = start(env);
    const warning = await run.waitFor(/DEVELOPMENT ONLY/);
    expect(warning).toContain('no Vault binary was found');
    await run.waitFor(/Gatehouse is ready/);
    const r = await readyz(env.PORT, env);
    expect(r.status).toBe(200);
    expect(r.body.dependencies.vault).toMatchObject({ status: 'up', mode: 'local-dev' });
    expect(r.body.warnings).toContain('DEVELOPMENT ONLY: secrets are in a local file store, not Vault');
  });
});
