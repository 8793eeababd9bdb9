// A five-step joiner (an account on LDAP and on PostgreSQL, then three grants) with a failure caused
// for real at step k, for every k: the target refuses (an entry already in the way, the connector's
// privilege revoked, the group removed). Every change the run applied before step k is undone,
// newest first, each undo on the ledger, so both targets are as before; once the fault is gone, an
// admin's retry completes the joiner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birthrightPolicy, startJmlWorld, type JmlWorld } from '../helpers/jml-world.js';
import { withPg } from '../helpers/services.js';

describe('a failure at step k of a joiner compensates steps 1..k-1, for every k', () => {
  let w: JmlWorld;

  beforeAll(async () => {
    w = await startJmlWorld();
    await w.publish(birthrightPolicy(w));
  });

  afterAll(async () => {
    await w?.close();
  });

  const groupDn = (cn: string) => `cn=${cn},${w.ldap.groupsDn}`;
  const removeGroup = (cn: string) => w.ldapRoot((c) => c.del(groupDn(cn)));
  const restoreGroup = (cn: string) => w.ldapRoot((c) => c.add(groupDn(cn), { objectClass: ['groupOfNames'], cn: [cn], member: [`uid=seed,${w.ldap.usersDn}`] }));

  /** Each fault makes the target refuse step k for real, and how to take it away again. */
  const faults: { step: string; cause: (login: string) => Promise<void>; remove: (login: string) => Promise<void> }[] = [
    {
      step: 'create-account on LDAP (an entry is already in the way)',
      cause: (login) => w.ldapRoot((c) => c.add(`uid=${login},${w.ldap.usersDn}`, { objectClass: ['inetOrgPerson'], uid: [login], cn: ['Squatter'], sn: ['Squatter'] })),
      remove: (login) => w.ldapRoot((c) => c.del(`uid=${login},${w.ldap.usersDn}`)),
    },
    {
      step: 'create-account on PostgreSQL (the connector lost CREATEROLE)',
      cause: () => withPg(w.pg.superuserUrl, (c) => c.query(`ALTER ROLE ${c.escapeIdentifier(w.pg.admin.user)} NOCREATEROLE`)).then(() => undefined),
      remove: () => withPg(w.pg.superuserUrl, (c) => c.query(`ALTER ROLE ${c.escapeIdentifier(w.pg.admin.user)} CREATEROLE`)).then(() => undefined),
    },
    { step: 'grant engineers on LDAP (the group was removed)', cause: () => removeGroup('engineers'), remove: () => restoreGroup('engineers') },
    { step: 'grant vpn on LDAP (the group was removed)', cause: () => removeGroup('vpn'), remove: () => restoreGroup('vpn') },
    {
      step: 'grant analysts on PostgreSQL (the role was dropped)',
      cause: () => w.pgAdmin((c) => c.query(`DROP ROLE ${c.escapeIdentifier(w.pg.groups.analysts)}`)).then(() => undefined),
      remove: () => w.pgAdmin((c) => c.query(`CREATE ROLE ${c.escapeIdentifier(w.pg.groups.analysts)} NOLOGIN`)).then(() => undefined),
    },
  ];

  for (const [i, fault] of faults.entries()) {
    const k = i + 1;
    it(`step ${k}: ${fault.step}`, async () => {
      const key = `k${k}`;
      const login = w.login(key);
      await fault.cause(login);
      const id = await w.join({ key, name: `Kay Step${k}`, department: 'Engineering' });
      const run = await w.waitForRun(id);
      expect(run.status).toBe('compensated');
      expect(run.steps).toHaveLength(k);
      expect(run.steps[k - 1]).toMatchObject({ status: 'failed' });
      expect(run.steps.slice(0, k - 1).map((s) => [s.status, s.compensation])).toEqual(Array.from({ length: k - 1 }, () => ['applied', 'compensated']));

      // Both targets are as they were before the joiner.
      expect(await w.pgRoleExists(login)).toBe(false);
      expect(await w.pgGroupsOf(login)).toEqual([]);
      expect(await w.ldapGroupsOf(login)).toEqual([]);
      if (k === 1) {
        const squatter = await w.ldapRoot(async (c) => (await c.search(`uid=${login},${w.ldap.usersDn}`, { scope: 'base', attributes: ['cn'] })).searchEntries[0]);
        expect(squatter?.cn).toBe('Squatter');
      } else expect(await w.ldapAccount(login)).toEqual({ exists: false, locked: false });

      // On record: the failure, then one compensation per applied change, newest first.
      const actions = run.timeline!.map((e) => e.action);
      expect(actions).toContain('access.change.failed');
      const undone = run.timeline!.filter((e) => e.action === 'access.change.compensated').map((e) => e.correlation?.changeId);
      expect(undone).toEqual(run.steps.slice(0, k - 1).map((s) => s.changeId).reverse());
      expect(actions.indexOf('access.change.failed')).toBeLessThan(actions.indexOf('jml.run.finished'));

      // The fault gone, an admin's retry completes the joiner.
      await fault.remove(login);
      expect((await w.api(w.admin, 'POST', `/api/runs/${run.id}/retry`)).status).toBe(202);
      const retried = await w.waitForRun(id, 2);
      expect(retried).toMatchObject({ status: 'completed', kind: 'joiner' });
      expect(await w.pgGroupsOf(login)).toEqual([w.pg.groups.analysts]);
      expect(await w.ldapGroupsOf(login)).toEqual(['engineers', 'vpn']);
    });
  }

});
