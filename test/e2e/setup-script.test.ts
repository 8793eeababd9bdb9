// scripts/setup.sh when a binary cannot be built: one clear line naming what failed and where the
// full log is, a non-zero exit, and under --best-effort (what npm start uses) a warning only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, cleanEnv } from '../helpers/cli.js';

function runSetup(args: string[], env: Record<string, string>) {
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts/setup.sh'), '--no-apt', ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('setup script failures', () => {
  // An empty module cache with the proxy switched off: the build fails at once, for real.
  const offline = () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'gh-setup-'));
    return { tmp, env: { GATEHOUSE_CACHE: path.join(tmp, 'cache'), GOPROXY: 'off', GOMODCACHE: path.join(tmp, 'gomod'), GOFLAGS: '-mod=mod' } };
  };

  it('a failed Temporal CLI build stops with the reason and the log', () => {
    const { tmp, env } = offline();
    const r = runSetup([], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`setup: building the Temporal CLI failed (full log: ${tmp}/cache/temporal-build.log). Check that the Go module proxy is reachable, or set TEMPORAL_CLI_PATH.`);
    expect(existsSync(path.join(tmp, 'cache', 'bin', 'temporal'))).toBe(false);
  });

  it('under --best-effort both failures are reported and the script carries on', () => {
    const { tmp, env } = offline();
    const r = runSetup(['--best-effort'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('setup: building the Temporal CLI failed');
    expect(r.stderr).toContain(`setup: building Vault failed (full log: ${tmp}/cache/vault-build.log). Check that the Go module proxy is reachable, or set VAULT_BIN.`);
  });

  it('without Go it says so', () => {
    const { env } = offline();
    const noGo = (process.env.PATH ?? '').split(path.delimiter).filter((d) => !existsSync(path.join(d, 'go'))).join(path.delimiter);
    const r = runSetup([], { ...env, PATH: noGo });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^setup: Go is not installed; it is needed once to build the Temporal CLI and Vault/m);
  });

  it('refuses an unknown option', () => {
    const r = runSetup(['--fast'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('setup: unknown option --fast (expected --quiet, --no-apt or --best-effort)\n');
  });
});
