// Reconcile 10,000 accounts: one streaming search (with each account's entitlements) from the real
// target, diffed against a desired set, through the PostgreSQL connector and the LDAP connector.
// The desired set is built with known drift, and every run's plan is checked against it, so the
// figure is for a correct reconciliation. Reports accounts per second (median of the runs).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { percentile, report, startBenchServices, type BenchRow } from './lib.js';
import { withPg, sharedTestDataDir } from '../test/helpers/services.js';
import { createPostgresTarget } from '../test/helpers/postgres-target.js';
import { startSlapd } from '../test/helpers/slapd.js';
import { postgresConnectorType, type PostgresConnector } from '../connectors/postgres/index.js';
import { ldapConnectorType, type LdapConnector } from '../connectors/ldap/index.js';
import { reconcileAccounts, type DesiredAccount, type ReconcilePlan } from '../connectors/reconcile/account-reconciler.js';
import type { ConnectorWith } from '../connectors/spi/connector.js';
import type { Filter } from '../connectors/spi/filter.js';

const ACCOUNTS = 10_000;
const DRIFT = 100; // of each kind: missing, unexpected, changed entitlements
const RUNS = 5;

interface Fixture {
  connector: ConnectorWith<'searchAccounts'>;
  filter: Filter;
  names: string[];
  /** The entitlement uid each account holds, by index. */
  groupOf: (i: number) => string;
  groups: string[];
}

/**
 * What should exist: every seeded account except the last DRIFT (so those are unexpected), DRIFT
 * that do not exist (missing), and DRIFT whose entitlement should be another group (drifted).
 */
function desiredSet(f: Fixture): { desired: DesiredAccount[]; check: (plan: ReconcilePlan) => void } {
  const desired: DesiredAccount[] = [];
  for (let i = 0; i < ACCOUNTS - DRIFT; i++) {
    const held = f.groupOf(i);
    const wanted = i < DRIFT ? f.groups[(f.groups.indexOf(held) + 1) % f.groups.length]! : held;
    desired.push({ name: f.names[i]!, entitlements: [wanted] });
  }
  for (let i = 0; i < DRIFT; i++) desired.push({ name: `${f.names[0]!}-absent-${i}`, entitlements: [f.groups[0]!] });
  return {
    desired,
    check(plan) {
      const got = { scanned: plan.scanned, inSync: plan.inSync, missing: plan.missing.length, unexpected: plan.unexpected.length, drifted: plan.drifted.length };
      const want = { scanned: ACCOUNTS, inSync: ACCOUNTS - 2 * DRIFT, missing: DRIFT, unexpected: DRIFT, drifted: DRIFT };
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`wrong plan: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      if (plan.drifted.some((d) => d.grant.length !== 1 || d.revoke.length !== 1)) throw new Error('a drifted account should need one grant and one revoke');
    },
  };
}

async function measure(name: string, f: Fixture): Promise<BenchRow> {
  const { desired, check } = desiredSet(f);
  check(await reconcileAccounts(f.connector, desired, { filter: f.filter })); // warm-up, and proof of a correct plan
  const ms: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const started = performance.now();
    const plan = await reconcileAccounts(f.connector, desired, { filter: f.filter });
    ms.push(performance.now() - started);
    check(plan);
  }
  ms.sort((a, b) => a - b);
  const median = percentile(ms, 50);
  return {
    name: `${name}: reconcile ${ACCOUNTS} accounts`,
    value: ACCOUNTS / (median / 1000),
    unit: 'accounts/s',
    extra: { medianMs: median, bestMs: ms[0]!, worstMs: ms[ms.length - 1]!, runs: RUNS },
  };
}

async function postgresFixture(): Promise<Fixture & { stop(): Promise<void> }> {
  const target = await createPostgresTarget();
  const prefix = `bench_${target.tag}_`;
  const groups = [target.groups.analysts, target.groups.auditors];
  await withPg(target.superuserUrl, async (c) => {
    await c.query(
      `DO $$ BEGIN
         FOR i IN 0..${ACCOUNTS - 1} LOOP
           EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %I', '${prefix}' || lpad(i::text, 5, '0'), CASE WHEN i % 2 = 0 THEN '${groups[0]}' ELSE '${groups[1]}' END);
         END LOOP;
       END $$`,
    );
  });
  const oids = await withPg(target.superuserUrl, (c) => c.query<{ rolname: string; oid: string }>('SELECT rolname, oid::text FROM pg_roles WHERE rolname = ANY($1)', [groups]));
  const uid = (g: string) => `role:${oids.rows.find((r) => r.rolname === g)!.oid}`;
  const groupUids = groups.map(uid);
  const connector = postgresConnectorType.create(postgresConnectorType.validate(target.config()), { label: 'bench-pg' }) as PostgresConnector;
  return {
    connector,
    filter: { op: 'sw', attribute: 'name', value: prefix },
    names: Array.from({ length: ACCOUNTS }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`),
    groupOf: (i) => groupUids[i % 2]!,
    groups: groupUids,
    async stop() {
      await connector.close();
      await target.drop();
    },
  };
}

async function ldapFixture(): Promise<Fixture & { stop(): Promise<void> }> {
  const suffix = 'dc=example,dc=org';
  const tag = randomUUID().slice(0, 6);
  const names = Array.from({ length: ACCOUNTS }, (_, i) => `bench-${tag}-${String(i).padStart(5, '0')}`);
  const people = names.map(
    (n, i) => `dn: uid=${n},ou=people,${suffix}\nobjectClass: inetOrgPerson\nuid: ${n}\ncn: Bench ${i}\nsn: ${i}\nmail: ${n}@example.org\n`,
  );
  const group = (cn: string, parity: number) =>
    `dn: cn=${cn},ou=groups,${suffix}\nobjectClass: groupOfNames\ncn: ${cn}\n${names
      .filter((_, i) => i % 2 === parity)
      .map((n) => `member: uid=${n},ou=people,${suffix}`)
      .join('\n')}\n`;
  const slapd = await startSlapd({ seedLdif: [...people, group('engineers', 0), group('operators', 1)].join('\n'), parentDir: sharedTestDataDir() });
  const connector = ldapConnectorType.create(
    ldapConnectorType.validate({ url: slapd.url, bindDn: slapd.admin.dn, bindPassword: slapd.admin.password, usersDn: slapd.usersDn, groupsDn: slapd.groupsDn }),
    { label: 'bench-ldap' },
  ) as LdapConnector;
  const groupUids: string[] = [];
  for (const cn of ['engineers', 'operators']) {
    for await (const e of connector.searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: cn } })) groupUids.push(e.uid);
  }
  return {
    connector,
    filter: { op: 'sw', attribute: 'name', value: `bench-${tag}-` },
    names,
    groupOf: (i) => groupUids[i % 2]!,
    groups: groupUids,
    async stop() {
      await connector.close();
      await slapd.stop();
    },
  };
}

const services = await startBenchServices();
const rows: BenchRow[] = [];
try {
  for (const [name, make] of [
    ['PostgreSQL', postgresFixture],
    ['LDAP (OpenLDAP slapd)', ldapFixture],
  ] as const) {
    const seeded = performance.now();
    const fixture = await make();
    console.log(`${name}: ${ACCOUNTS} accounts seeded in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);
    try {
      rows.push(await measure(name, fixture));
    } finally {
      await fixture.stop();
    }
  }
  report('reconcile', rows);
} finally {
  await services.stop();
}
