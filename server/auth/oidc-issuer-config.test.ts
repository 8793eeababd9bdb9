// OIDC_ISSUERS as the configuration reads it: JSON in the environment or a YAML list in the config
// file; errors name the issuer and the field; client secrets have no default; TLS in production.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';

const corp = { id: 'corp', issuer: 'https://login.corp.example', clientId: 'gatehouse', clientSecret: 's3cret', roles: { admin: ['gh-admins'] } };

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('OIDC_ISSUERS', () => {
  it('is empty by default: the one-time admin link is used', () => {
    expect(loadConfig({}).OIDC_ISSUERS).toEqual([]);
  });

  it('reads a JSON array with defaults filled in', () => {
    const [issuer] = loadConfig({ OIDC_ISSUERS: JSON.stringify([corp]) }).OIDC_ISSUERS;
    expect(issuer).toEqual({ ...corp, clientAuth: 'client_secret_basic', scopes: 'openid email profile', rolesClaim: 'groups', userinfo: false });
  });

  it('reads a YAML list from the config file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-config-'));
    const file = path.join(dir, 'gatehouse.yaml');
    writeFileSync(
      file,
      [
        'OIDC_ISSUERS:',
        '  - id: corp',
        '    issuer: https://login.corp.example',
        '    clientId: gatehouse',
        '    clientSecret: s3cret',
        '    rolesClaim: realm_access.roles',
        '    roles:',
        '      admin: [gh-admins]',
        '      auditor: [audit, compliance]',
      ].join('\n'),
    );
    const [issuer] = loadConfig({ GATEHOUSE_CONFIG_FILE: file }).OIDC_ISSUERS;
    expect(issuer).toMatchObject({ id: 'corp', rolesClaim: 'realm_access.roles', roles: { admin: ['gh-admins'], auditor: ['audit', 'compliance'] } });
  });

  it('names the issuer and field of every mistake', () => {
    expect(problems({ OIDC_ISSUERS: 'not json' })).toEqual(['OIDC_ISSUERS must be a JSON array of issuers']);
    expect(problems({ OIDC_ISSUERS: JSON.stringify([{ ...corp, clientSecret: undefined }]) })).toEqual([
      'OIDC_ISSUERS.0.clientSecret is required with clientAuth client_secret_basic (or set clientAuth "none" for a public client)',
    ]);
    expect(problems({ OIDC_ISSUERS: JSON.stringify([{ ...corp, roles: { superuser: ['x'] } }]) })).toEqual([
      'OIDC_ISSUERS.0.roles.superuser is not a Gatehouse role (admin, security-approver, auditor, nhi-owner)',
    ]);
    expect(problems({ OIDC_ISSUERS: JSON.stringify([{ ...corp, scopes: 'email' }]) })).toEqual(['OIDC_ISSUERS.0.scopes must include openid']);
    expect(problems({ OIDC_ISSUERS: JSON.stringify([corp, corp]) })).toEqual(['OIDC_ISSUERS.1.id corp is used twice']);
    expect(problems({ OIDC_ISSUERS: JSON.stringify([{ ...corp, id: 'Corp SSO' }]) })).toEqual(['OIDC_ISSUERS.0.id must be 1-32 lowercase letters, digits or dashes']);
    expect(problems({ OIDC_ISSUERS: JSON.stringify([{ ...corp, extra: 1 }]) })[0]).toMatch(/^OIDC_ISSUERS\.0 .*extra/);
  });

  it('accepts a public client without a secret', () => {
    const [issuer] = loadConfig({ OIDC_ISSUERS: JSON.stringify([{ ...corp, clientSecret: undefined, clientAuth: 'none' }]) }).OIDC_ISSUERS;
    expect(issuer?.clientSecret).toBeUndefined();
  });

  it('requires TLS for issuers and for Gatehouse itself in production', () => {
    const production = {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgresql://o:p@db/gatehouse',
      DATABASE_APP_URL: 'postgresql://a:p@db/gatehouse',
      DATABASE_LEDGER_URL: 'postgresql://l:p@db/gatehouse',
      TEMPORAL_ADDRESS: 'temporal:7233',
      VAULT_ADDR: 'https://vault.example',
      VAULT_TOKEN: 't',
    };
    expect(problems({ ...production, PUBLIC_URL: 'http://gatehouse.example', OIDC_ISSUERS: JSON.stringify([{ ...corp, issuer: 'http://login.corp.example' }]) })).toEqual([
      'PUBLIC_URL must be an https:// URL when NODE_ENV=production (session cookies are sent over TLS only)',
      'OIDC_ISSUERS.0.issuer must be an https:// URL when NODE_ENV=production',
    ]);
    expect(problems({ ...production, PUBLIC_URL: 'https://gatehouse.example', OIDC_ISSUERS: JSON.stringify([corp]) })).toEqual([]);
  });
});
