// Reconciliation against a real PostgreSQL target: the plan names exactly what is missing, what is
// there unasked, and what differs, and an account already as desired is left alone.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { withPg } from '../../test/helpers/services.js';
import { postgresConnectorType, type PostgresConnector } from '../postgres/index.js';
import { reconcileAccounts } from './account-reconciler.js';

describe('account reconciliation', () => {
  let target: PostgresTarget;
  let connector: PostgresConnector;
  let analysts: string;
  let auditors: string;
  const ctx = () => ({ idempotencyKey: randomUUID() });

  beforeAll(async () => {
    target = await createPostgresTarget();
    connector = postgresConnectorType.create(postgresConnectorType.validate(target.config()), { label: 'reconcile' }) as PostgresConnector;
    const oids = await withPg(target.superuserUrl, (c) => c.query<{ rolname: string; oid: string }>('SELECT rolname, oid::text FROM pg_roles WHERE rolname = ANY($1)', [[target.groups.analysts, target.groups.auditors]]));
    analysts = `role:${oids.rows.find((r) => r.rolname === target.groups.analysts)!.oid}`;
    auditors = `role:${oids.rows.find((r) => r.rolname === target.groups.auditors)!.oid}`;
  });
  afterAll(async () => {
    await connector?.close();
    await target?.drop();
  });

  it('plans creations, finds accounts nobody asked for, and lists each drift', async () => {
    const n = (s: string) => `rec_${target.tag}_${s}`;
    const ok = await connector.createAccount({ name: n('ok'), attributes: { comment: ['fine'] } }, ctx());
    const drifting = await connector.createAccount({ name: n('drift') }, ctx());
    const stray = await connector.createAccount({ name: n('stray') }, ctx());
    await connector.grant(ok.uid, analysts, ctx());
    await connector.grant(drifting.uid, auditors, ctx());
    await connector.setAccountEnabled(drifting.uid, false, ctx());

    const plan = await reconcileAccounts(
      connector,
      [
        { name: n('ok'), enabled: true, entitlements: [analysts], attributes: { comment: ['fine'] } },
        { name: n('drift'), enabled: true, entitlements: [analysts], attributes: { comment: ['wanted'] } },
        { name: n('new'), entitlements: [analysts] },
      ],
      { filter: { op: 'sw', attribute: 'name', value: `rec_${target.tag}_` }, pageSize: 2 },
    );
    expect(plan.scanned).toBe(3);
    expect(plan.inSync).toBe(1);
    expect(plan.missing.map((d) => d.name)).toEqual([n('new')]);
    expect(plan.unexpected).toEqual([{ uid: stray.uid, name: n('stray') }]);
    expect(plan.drifted).toEqual([
      { uid: drifting.uid, name: n('drift'), enable: true, grant: [analysts], revoke: [auditors], attributes: [{ attribute: 'comment', op: 'replace', values: ['wanted'] }] },
    ]);

    const scoped = await reconcileAccounts(connector, [{ name: n('drift'), entitlements: [] }], {
      filter: { op: 'eq', attribute: 'name', value: n('drift') },
      managedEntitlements: new Set([analysts]),
    });
    expect(scoped.inSync).toBe(1);
  });
});
