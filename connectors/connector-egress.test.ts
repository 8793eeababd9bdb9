// Issue 12, item 4: every connector type goes through the egress policy. Each is built against a
// real system this suite runs on loopback (the PostgreSQL target, the HTTP user directory), or at an
// address nothing needs to answer on, under a policy that does not allow loopback: each refuses,
// says why and how to allow it, and touches nothing. The same connector under the allow-list works,
// so the refusal is the policy's. DNS rebinding is shown with a stand-in resolver (this machine's DNS
// cannot be made to change its answer): the name passes when judged, then resolves to loopback when
// the connection is made, and the connection is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUserDirectoryServer, type UserDirectoryServer } from '../test/helpers/user-directory-server.js';
import { directoryConfig } from '../test/helpers/user-directory-config.js';
import { createPostgresTarget, type PostgresTarget } from '../test/helpers/postgres-target.js';
import { httpConnectorType } from './http/index.js';
import { ldapConnectorType } from './ldap/index.js';
import { postgresConnectorType } from './postgres/index.js';
import { scimConnectorType } from './scim/index.js';
import type { Connector, TestOp } from './spi/connector.js';
import { createEgressPolicy, type EgressGuard } from './spi/egress.js';
import { ConnectionFailed } from './spi/errors.js';

const strict = createEgressPolicy({ allow: [], ownHosts: [] });
const loopbackAllowed = createEgressPolicy({ allow: ['127.0.0.0/8', '::1'], ownHosts: [] });

const refusal = async (attempt: Promise<unknown>) => {
  const err = await attempt.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectionFailed);
  return (err as ConnectionFailed).message;
};

describe('connectors go only where the egress policy lets them', () => {
  let directory: UserDirectoryServer;
  let target: PostgresTarget;
  const opened: Connector[] = [];
  const open = (c: Connector) => {
    opened.push(c);
    return c as Connector & TestOp;
  };

  beforeAll(async () => {
    [directory, target] = await Promise.all([startUserDirectoryServer(), createPostgresTarget()]);
  });
  afterAll(async () => {
    for (const c of opened) await c.close().catch(() => undefined);
    await Promise.all([directory?.stop(), target?.drop()]);
  });

  const http = (egress: EgressGuard, config = directoryConfig(directory)) => open(httpConnectorType.create(httpConnectorType.validate(config), { label: 'crm', egress }));

  it('HTTP: refuses loopback before any request, and reaches it once allowed', async () => {
    const before = directory.idempotencyKeys.length;
    const users = directory.users.size;
    expect(await refusal(http(strict).test())).toMatch(/^crm: the egress policy refuses 127\.0\.0\.1: it is loopback; an operator can allow it with CONNECTOR_EGRESS_ALLOW$/);
    expect(directory.idempotencyKeys.length).toBe(before);
    expect(directory.users.size).toBe(users);
    expect(await http(loopbackAllowed).test()).toMatchObject({ system: expect.any(String) });
  });

  it('HTTP: refuses the cloud metadata address', async () => {
    const metadata = { ...directoryConfig(directory), baseUrl: 'https://169.254.169.254/latest' };
    expect(await refusal(http(loopbackAllowed, metadata).test())).toMatch(/refuses 169\.254\.169\.254: it is link-local/);
  });

  it('HTTP: a name judged public that resolves to loopback when connecting is refused (DNS rebinding)', async () => {
    let calls = 0;
    const port = new URL(directory.url).port;
    // STAND-IN resolver: public when judged, loopback a moment later.
    const rebinding = createEgressPolicy({ allow: [], ownHosts: [], resolveName: async () => [{ address: calls++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }] });
    const before = directory.idempotencyKeys.length;
    const config = { ...directoryConfig(directory), baseUrl: `https://directory.rebind.test:${port}${new URL(directory.url).pathname}` };
    expect(await refusal(http(rebinding, config).test())).toMatch(/refuses directory\.rebind\.test \(127\.0\.0\.1\): it is loopback/);
    expect(calls).toBeGreaterThanOrEqual(2); // judged, then resolved again for the connection
    expect(directory.idempotencyKeys.length).toBe(before);
  });

  it('PostgreSQL: refuses loopback before connecting, and connects once allowed', async () => {
    const build = (egress: EgressGuard) => open(postgresConnectorType.create(postgresConnectorType.validate(target.config()), { label: 'finance-db', egress }));
    expect(await refusal(build(strict).test())).toMatch(/^finance-db: the egress policy refuses 127\.0\.0\.1: it is loopback/);
    expect(await build(loopbackAllowed).test()).toMatchObject({ system: 'PostgreSQL' });
  });

  it('LDAP and SCIM: refuse loopback and link-local before connecting', async () => {
    const ldap = open(
      ldapConnectorType.create(
        ldapConnectorType.validate({ url: 'ldap://127.0.0.1:1', bindDn: 'cn=admin,dc=example,dc=org', bindPassword: 'x', usersDn: 'ou=people,dc=example,dc=org', groupsDn: 'ou=groups,dc=example,dc=org' }),
        { label: 'corp-ldap', egress: strict },
      ),
    );
    expect(await refusal(ldap.test())).toMatch(/^corp-ldap: the egress policy refuses 127\.0\.0\.1: it is loopback/);
    const scim = open(scimConnectorType.create(scimConnectorType.validate({ baseUrl: 'https://[fe80::1]:8080/scim/v2', token: 'gh_scim_x' }), { label: 'saas', egress: loopbackAllowed }));
    expect(await refusal(scim.test())).toMatch(/^saas: the egress policy refuses \[fe80::1\]: it is link-local/);
  });
});
