import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has development defaults that need no environment at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ NODE_ENV: 'development', HOST: '127.0.0.1', PORT: 8080, GATEHOUSE_EMBEDDED_WORKER: true, TEMPORAL_NAMESPACE: 'default', VAULT_KV_MOUNT: 'secret' });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.VAULT_TOKEN).toBeUndefined();
  });

  it('names the variable that is wrong', () => {
    expect(problems({ DATABASE_URL: 'mysql://x' })).toEqual(['DATABASE_URL must be a postgres:// or postgresql:// URL']);
    expect(problems({ PORT: 'eighty' })).toEqual(['PORT must be a port number']);
    expect(problems({ PORT: '70000' })).toEqual(['PORT must be between 0 and 65535']);
    expect(problems({ TEMPORAL_ADDRESS: 'http://temporal:7233' })).toEqual(['TEMPORAL_ADDRESS must be host:port, e.g. temporal.internal:7233']);
    expect(problems({ GATEHOUSE_EMBEDDED_WORKER: 'maybe' })).toEqual(['GATEHOUSE_EMBEDDED_WORKER must be true or false']);
    expect(problems({ LOG_LEVEL: 'loud' })[0]).toMatch(/^LOG_LEVEL /);
  });

  it('requires credentials with VAULT_ADDR, and both halves of AppRole', () => {
    expect(problems({ VAULT_ADDR: 'http://vault:8200' })).toEqual(['VAULT_TOKEN is required with VAULT_ADDR (or set VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole)']);
    expect(problems({ VAULT_ADDR: 'http://vault:8200', VAULT_ROLE_ID: 'r' })).toContain('VAULT_SECRET_ID AppRole needs both VAULT_ROLE_ID and VAULT_SECRET_ID');
    expect(loadConfig({ VAULT_ADDR: 'http://vault:8200', VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' }).VAULT_ROLE_ID).toBe('r');
  });

  it('requires DATABASE_URL beside DATABASE_APP_URL', () => {
    expect(problems({ DATABASE_APP_URL: 'postgresql://app@db/gh', DATABASE_LEDGER_URL: 'postgresql://ledger@db/gh' })).toEqual(['DATABASE_URL is required when DATABASE_APP_URL is set (it runs the migrations)']);
  });

  it('requires the ledger role\'s DATABASE_LEDGER_URL beside DATABASE_APP_URL, and the other way round', () => {
    const owner = { DATABASE_URL: 'postgresql://owner@db/gh' };
    expect(problems({ ...owner, DATABASE_APP_URL: 'postgresql://app@db/gh' })).toEqual([
      "DATABASE_LEDGER_URL is required when DATABASE_APP_URL is set: the application role may not write the ledger's signed checkpoints, the gatehouse_ledger role does",
    ]);
    expect(problems({ ...owner, DATABASE_LEDGER_URL: 'postgresql://ledger@db/gh' })).toEqual(['DATABASE_APP_URL is required when DATABASE_LEDGER_URL is set (the ledger role only writes checkpoints)']);
    expect(loadConfig({ ...owner, DATABASE_APP_URL: 'postgresql://app@db/gh', DATABASE_LEDGER_URL: 'postgresql://ledger@db/gh' }).DATABASE_LEDGER_URL).toBe('postgresql://ledger@db/gh');
  });

  it('refuses embedded services in production, naming each missing variable', () => {
    expect(problems({ NODE_ENV: 'production' })).toEqual([
      'DATABASE_URL is required when NODE_ENV=production (embedded services are for development only)',
      'DATABASE_APP_URL is required when NODE_ENV=production (embedded services are for development only)',
      'TEMPORAL_ADDRESS is required when NODE_ENV=production (embedded services are for development only)',
      'VAULT_ADDR is required when NODE_ENV=production (embedded services are for development only)',
      'PUBLIC_URL is required when NODE_ENV=production (embedded services are for development only)',
    ]);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).PORT).toBe(8080);
  });

  it('reads a config file, and the environment wins over it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gh-config-'));
    const file = path.join(dir, 'gatehouse.yaml');
    writeFileSync(file, 'PORT: 9000\nLOG_LEVEL: debug\nTEMPORAL_NAMESPACE: gh\n');
    const c = loadConfig({ GATEHOUSE_CONFIG_FILE: file, LOG_LEVEL: 'warn' });
    expect(c).toMatchObject({ PORT: 9000, LOG_LEVEL: 'warn', TEMPORAL_NAMESPACE: 'gh' });
  });

  it('explains a config file that cannot be used', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gh-config-'));
    expect(problems({ GATEHOUSE_CONFIG_FILE: path.join(dir, 'missing.yaml') })[0]).toMatch(/^GATEHOUSE_CONFIG_FILE: cannot read .*missing\.yaml \(ENOENT\)$/);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'PORT: [1, 2\n');
    expect(problems({ GATEHOUSE_CONFIG_FILE: bad })[0]).toMatch(/^GATEHOUSE_CONFIG_FILE: .*bad\.yaml is not valid YAML or JSON/);
    const unknown = path.join(dir, 'unknown.yaml');
    writeFileSync(unknown, 'PROT: 80\n');
    expect(problems({ GATEHOUSE_CONFIG_FILE: unknown })).toEqual([`GATEHOUSE_CONFIG_FILE: ${unknown} sets unknown key PROT`]);
    const list = path.join(dir, 'list.yaml');
    writeFileSync(list, '- a\n- b\n');
    expect(problems({ GATEHOUSE_CONFIG_FILE: list })).toEqual([`GATEHOUSE_CONFIG_FILE: ${list} must hold a mapping of variable names to values`]);
  });
});
