// OpenLDAP's slapd from Debian, started by the tests that need a directory: its own slapd.conf in a
// temporary folder, an MDB database seeded offline with slapadd, a random free port, the ppolicy
// overlay (so accounts can be locked), and ACLs that give the connector's service account write
// access to people and groups and a second service account read access only.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'ldapts';
import { freePort, startChild, waitUntil } from '../../server/embedded/process.js';

export const SLAPD = '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';

export interface Slapd {
  url: string;
  suffix: string;
  usersDn: string;
  groupsDn: string;
  /** The connector's service account: writes people and groups. */
  admin: { dn: string; password: string };
  /** Reads people and groups, changes nothing. */
  reader: { dn: string; password: string };
  dir: string;
  stop(): Promise<void>;
}

/** {SSHA} as slapd stores it, so the seed holds no clear-text password. */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

function slapdConf(dir: string, suffix: string, rootPassword: string): string {
  const admin = `cn=gatehouse,ou=services,${suffix}`;
  const reader = `cn=reader,ou=services,${suffix}`;
  return `
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
sizelimit unlimited

database mdb
maxsize 4294967296
suffix "${suffix}"
rootdn "cn=root,${suffix}"
rootpw ${sshaHash(rootPassword)}
directory ${dir}/data
index objectClass eq
index entryUUID eq
index entryCSN eq
index uid eq,sub
index cn eq,sub
index member eq
limits dn.exact="${admin}" size=unlimited
limits dn.exact="${reader}" size=unlimited

overlay ppolicy
ppolicy_default "cn=default,ou=policies,${suffix}"

access to attrs=userPassword
  by dn.exact="${admin}" write
  by self write
  by anonymous auth
  by * none
access to dn.subtree="ou=people,${suffix}"
  by dn.exact="${admin}" write
  by dn.exact="${reader}" read
  by self read
  by * none
access to dn.subtree="ou=groups,${suffix}"
  by dn.exact="${admin}" write
  by dn.exact="${reader}" read
  by * none
access to *
  by dn.exact="${admin}" read
  by dn.exact="${reader}" read
  by self read
  by * none
`;
}

function baseLdif(suffix: string, admin: string, reader: string): string {
  const dc = /^dc=([^,]+)/.exec(suffix)![1];
  return `dn: ${suffix}
objectClass: dcObject
objectClass: organization
dc: ${dc}
o: ${dc}

dn: ou=people,${suffix}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${suffix}
objectClass: organizationalUnit
ou: groups

dn: ou=services,${suffix}
objectClass: organizationalUnit
ou: services

dn: ou=policies,${suffix}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,${suffix}
objectClass: pwdPolicy
objectClass: device
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE

dn: cn=gatehouse,ou=services,${suffix}
objectClass: inetOrgPerson
cn: gatehouse
sn: service
userPassword: ${sshaHash(admin)}

dn: cn=reader,ou=services,${suffix}
objectClass: inetOrgPerson
cn: reader
sn: service
userPassword: ${sshaHash(reader)}
`;
}

/**
 * Starts slapd with the base tree (people, groups, services, a lockout policy) plus `seedLdif`,
 * loaded offline by slapadd (fast enough for tens of thousands of entries).
 */
export async function startSlapd(options: { seedLdif?: string; parentDir?: string } = {}): Promise<Slapd> {
  if (!existsSync(SLAPD)) throw new Error(`OpenLDAP is not installed (${SLAPD}); run npm run setup as root, or apt-get install slapd`);
  const dir = mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'slapd-'));
  mkdirSync(path.join(dir, 'data'));
  const suffix = 'dc=example,dc=org';
  const adminPassword = randomBytes(15).toString('base64url');
  const readerPassword = randomBytes(15).toString('base64url');
  const conf = path.join(dir, 'slapd.conf');
  writeFileSync(conf, slapdConf(dir, suffix, randomBytes(15).toString('base64url')), { mode: 0o600 });
  const ldif = path.join(dir, 'seed.ldif');
  writeFileSync(ldif, `${baseLdif(suffix, adminPassword, readerPassword)}\n${options.seedLdif ?? ''}`, { mode: 0o600 });
  const loaded = spawnSync(SLAPADD, ['-q', '-f', conf, '-l', ldif], { encoding: 'utf8' });
  if (loaded.status !== 0) throw new Error(`slapadd failed: ${loaded.stderr || loaded.stdout}`);

  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const child = startChild({
    command: SLAPD,
    args: ['-f', conf, '-h', `${url}/`, '-d', '0'],
    logFile: path.join(dir, 'slapd.log'),
    pidFile: path.join(dir, 'slapd.child.pid'),
  });
  const admin = { dn: `cn=gatehouse,ou=services,${suffix}`, password: adminPassword };
  try {
    await waitUntil(
      'slapd',
      async () => {
        const client = new Client({ url, connectTimeout: 1000 });
        try {
          await client.bind(admin.dn, admin.password);
          return true;
        } finally {
          await client.unbind().catch(() => undefined);
        }
      },
      { timeoutMs: 20_000, intervalMs: 100, child: child.child, logFile: child.logFile },
    );
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    url,
    suffix,
    usersDn: `ou=people,${suffix}`,
    groupsDn: `ou=groups,${suffix}`,
    admin,
    reader: { dn: `cn=reader,ou=services,${suffix}`, password: readerPassword },
    dir,
    async stop() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
