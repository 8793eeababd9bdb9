// SCIM in the running server: mounted at /scim/v2 through server/modules.ts, directory admin routes
// declared (and refused until sign-in lands), and the `gatehouse directory` commands run as a separate
// process against the same database, as an operator would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { repoRoot, startGatehouse, type RunningGatehouse } from '../../server/server.js';
import { connectTestTemporal, createTestDatabase, createTestVault, testConfig, withPg, type TestDatabase, type TestTemporal, type TestVault } from '../helpers/services.js';

const run = promisify(execFile);
const PUBLIC_URL = 'https://gatehouse.example.test';

describe('SCIM in the running server, with the directory CLI', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;
  let cliEnv: NodeJS.ProcessEnv;

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, ['bin/gatehouse.mjs', ...args], { cwd: repoRoot, env: cliEnv, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  /** PUBLIC_URL names the address IdPs use; the test reaches the server directly. */
  const local = () => `http://127.0.0.1:${gatehouse.port}`;
  const scim = (token: string | undefined, method: string, path: string, body?: unknown) =>
    fetch(`${local()}/scim/v2${path}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': 'application/scim+json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    const config = testConfig({ db, vault, temporal }, { PUBLIC_URL });
    gatehouse = await startGatehouse(config, createLogger({ level: 'silent' }));
    cliEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      GATEHOUSE_DATA_DIR: config.GATEHOUSE_DATA_DIR,
      DATABASE_URL: db.ownerUrl,
      DATABASE_APP_URL: db.appUrl,
      DATABASE_LEDGER_URL: db.ledgerUrl,
      PUBLIC_URL,
    };
  });
  afterAll(async () => {
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('serves SCIM at /scim/v2, refusing requests without a token', async () => {
    const r = await scim(undefined, 'GET', '/ServiceProviderConfig');
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    expect(await r.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
  });

  it('declares the directory API with its permissions, and refuses callers who are not signed in', async () => {
    expect((await fetch(`${local()}/api/directories`)).status).toBe(401);
    const doc = (await (await fetch(`${local()}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-gatehouse-access': string }>> };
    expect(doc.paths['/api/directories']!.get!['x-gatehouse-access']).toBe('read:Directory');
    expect(doc.paths['/api/directories']!.post!['x-gatehouse-access']).toBe('manage:Directory');
    expect(doc.paths['/api/directories/{directoryId}/tokens/{tokenId}']!.delete!['x-gatehouse-access']).toBe('manage:Directory');
  });

  it('creates a directory and a token from the CLI that an identity provider can use, then revokes it', async () => {
    const created = await cli('directory', 'create', 'Okta production', '--json');
    expect(created.code, created.stderr).toBe(0);
    const directory = JSON.parse(created.stdout) as { id: string; name: string };
    expect(directory.name).toBe('Okta production');

    const duplicate = await cli('directory', 'create', 'okta PRODUCTION');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/^gatehouse: a directory named "okta PRODUCTION" already exists/);

    const human = await cli('directory', 'token', 'create', 'okta production', '--label', 'Okta');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^\s+gh_scim_[A-Za-z0-9_-]{43}$/m);
    expect(human.stdout).toContain(`SCIM base URL: ${PUBLIC_URL}/scim/v2`);
    expect(human.stdout).toMatch(/only time it is shown/);

    const issued = JSON.parse((await cli('directory', 'token', 'create', directory.id, '--json')).stdout) as { token: { id: string }; secret: string; scimBaseUrl: string };
    expect(issued.scimBaseUrl).toBe(`${PUBLIC_URL}/scim/v2`);

    const createdUser = await scim(issued.secret, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'cli@example.com' });
    expect(createdUser.status).toBe(201);
    const user = (await createdUser.json()) as { id: string; meta: { location: string } };
    expect(user.meta.location).toBe(`${PUBLIC_URL}/scim/v2/Users/${user.id}`);
    // The server's recorder puts the change on the ledger, with the token as the actor; the CLI's
    // changes are there too, under the operator who ran it.
    await expect
      .poll(async () => (await gatehouse.runtime.ledger.query({ action: 'scim.user.created', subjectId: user.id })).entries.map((e) => e.actor), { timeout: 10_000 })
      .toEqual([{ kind: 'idp', id: issued.token.id }]);
    const cliEntries = (await gatehouse.runtime.ledger.query({ directoryId: directory.id, action: 'directory.*', order: 'oldest' })).entries;
    expect(cliEntries.map((e) => e.action)).toEqual(['directory.created', 'directory.token.created', 'directory.token.created']);
    expect(cliEntries[0]!.actor).toMatchObject({ kind: 'human', id: expect.stringMatching(/^os:/) });

    const list = JSON.parse((await cli('directory', 'list', '--json')).stdout) as { name: string; userCount: number; activeTokenCount: number }[];
    expect(list).toEqual([expect.objectContaining({ name: 'Okta production', userCount: 1, activeTokenCount: 2 })]);
    expect((await cli('directory', 'list')).stdout).toMatch(/Okta production .* none \(links nobody\)/);
    expect((await cli('directory', 'sign-in-issuers', 'Okta production', 'https://acme.okta.test')).stdout).toContain('links people who sign in through https://acme.okta.test');
    expect((await cli('directory', 'list')).stdout).toMatch(/Okta production .* https:\/\/acme\.okta\.test /);
    const tokens = await cli('directory', 'token', 'list', 'Okta production');
    expect(tokens.stdout).toContain(issued.token.id);
    expect(tokens.stdout).not.toContain(issued.secret);

    const revoke = await cli('directory', 'token', 'revoke', issued.token.id);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toMatch(new RegExp(`revoked token ${issued.token.id}`));
    // Another process revoked it: the server stops trusting it once its short cache expires.
    let status = 0;
    for (let i = 0; i < 100 && status !== 401; i++) {
      status = (await scim(issued.secret, 'GET', '/Users')).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    expect((await cli('directory', 'token', 'revoke', '00000000-0000-4000-8000-000000000000')).stderr).toMatch(/token 00000000-0000-4000-8000-000000000000 was not found/);
  });

  it('hands identity events, once on the ledger, to the person’s joiner-mover-leaver workflow', async () => {
    const delivered = async () => (await withPg(db.superuserUrl, async (c) => (await c.query("SELECT kind, delivered_at IS NOT NULL AS delivered, ledger_seq IS NOT NULL AS recorded, payload->>'identityKey' AS key FROM scim_outbox")).rows)) as { kind: string; delivered: boolean; recorded: boolean; key: string }[];
    await expect.poll(delivered, { timeout: 30_000 }).toEqual([{ kind: 'created', delivered: true, recorded: true, key: expect.stringMatching(/^identity:/) }]);
    const [row] = await delivered();
    const workflow = await temporal.client.workflow.getHandle(row!.key).describe();
    expect(workflow.type).toBe('identityWorkflow');
  });
});
