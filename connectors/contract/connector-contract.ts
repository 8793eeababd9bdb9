// The contract every connector passes, against its real system: what it declares it can do, it does,
// idempotently, with the SPI's named errors caused for real (a wrong password, a stopped server, a
// missing object, a duplicate, a login without privileges). A connector's test file starts its
// system, builds a ContractFixture and calls describeConnectorContract.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../../shared/errors.js';
import { CAPABILITIES, requireCapability, supports, type Connector, type OperationContext } from '../spi/connector.js';
import { ConnectorError, type ConnectorErrorCode } from '../spi/errors.js';
import type { Account, AttributeDelta, NewAccount } from '../spi/objects.js';
import type { ObjectBatch, ObjectRecord } from '../spi/records.js';

export interface ContractFixture {
  /** Logged in with the administrative credentials the target was set up with. */
  connector: Connector;
  /** A new, valid account each call; its name starts with `namePrefix`. */
  newAccount(): NewAccount;
  namePrefix: string;
  /** An account the target refuses under its own rules (schema, constraint). */
  rejectedAccount(): NewAccount;
  /** An existing entitlement the administrative login may grant. */
  entitlementUid: string;
  /** A uid, shaped as the target's uids are, that names nothing. */
  missingUid: string;
  /** A change the target accepts, and what the account then shows. */
  update?: { deltas: AttributeDelta[]; expect(account: Account): void };
  /** Each builds a connector for one error case, caused for real. */
  wrongPassword(): Promise<Connector>;
  stoppedServer(): Promise<Connector>;
  lowPrivilege(): Promise<Connector>;
  /** Logs in as the account with the password (to check disable and rotation from the outside). */
  canLogIn?(account: Account, password: string): Promise<boolean>;
  /** For connectors with object classes: a writable class whose cursor grows on every change. */
  objects?: ObjectsFixture;
}

export interface ObjectsFixture {
  objectClass: string;
  /** A new record each call, with a key no other record has, and every field the class requires. */
  newRecord(): ObjectRecord;
  /** The record with a field other than the key changed. */
  changed(record: ObjectRecord): ObjectRecord;
}

const key = (): OperationContext => ({ idempotencyKey: `contract:${randomUUID()}` });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Asserts that `work` fails with the named connector error. */
export async function expectNamedError(work: Promise<unknown>, code: ConnectorErrorCode): Promise<ConnectorError> {
  let caught: unknown;
  try {
    await work;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}, but the call succeeded`).toBeDefined();
  expect(caught).toBeInstanceOf(ConnectorError);
  expect((caught as ConnectorError).code, (caught as Error).message).toBe(code);
  return caught as ConnectorError;
}

export function describeConnectorContract(title: string, lifecycle: { setup: () => Promise<ContractFixture>; teardown?: () => Promise<void> }): void {
  describe(`${title}: connector contract`, () => {
    let f: ContractFixture;
    const opened: Connector[] = [];
    const open = async (make: () => Promise<Connector>) => {
      const c = await make();
      opened.push(c);
      return c;
    };

    beforeAll(async () => {
      f = await lifecycle.setup();
    });
    afterAll(async () => {
      for (const c of opened) await c.close();
      await f?.connector.close();
      await lifecycle.teardown?.();
    });

    const search = (name: string, includeEntitlements = false) =>
      collect(requireCapability(f.connector, 'searchAccounts').searchAccounts({ filter: { op: 'eq', attribute: 'name', value: name }, includeEntitlements }));
    const create = (account: NewAccount, credential?: { password: string }) => requireCapability(f.connector, 'createAccount').createAccount(account, key(), credential);

    it('declares exactly the capabilities it implements, and the core refuses the others', () => {
      for (const capability of CAPABILITIES) {
        if (f.connector.capabilities.has(capability)) {
          expect(supports(f.connector, capability), `declares ${capability} without its methods`).toBe(true);
        } else {
          expect(() => requireCapability(f.connector, capability)).toThrow(GatehouseError);
        }
      }
      // A contract needs something to hold the connector to.
      for (const needed of ['test', 'searchAccounts', 'createAccount', 'deleteAccount', 'grantRevoke'] as const) {
        expect(f.connector.capabilities.has(needed), `the contract needs ${needed}`).toBe(true);
      }
    });

    it('answers the live probe', async () => {
      const probe = await requireCapability(f.connector, 'test').test();
      expect(probe.system.length).toBeGreaterThan(0);
    });

    it('creates an account that a search then finds, by its name and by its uid', async () => {
      const input = f.newAccount();
      const created = await create(input);
      expect(created.name).toBe(input.name);
      expect(created.uid.length).toBeGreaterThan(0);

      const found = await search(input.name);
      expect(found.map((a) => a.uid)).toEqual([created.uid]);
      const byUid = await collect(requireCapability(f.connector, 'searchAccounts').searchAccounts({ filter: { op: 'eq', attribute: 'uid', value: created.uid } }));
      expect(byUid.map((a) => a.name)).toEqual([input.name]);
      const got = await requireCapability(f.connector, 'searchAccounts').getAccount(created.uid);
      expect(got).toMatchObject({ uid: created.uid, name: input.name });
    });

    it('streams a search whose results span several pages, each account once', async () => {
      const names = [f.newAccount(), f.newAccount(), f.newAccount(), f.newAccount(), f.newAccount()];
      for (const a of names) await create(a);
      const found = await collect(
        requireCapability(f.connector, 'searchAccounts').searchAccounts({ filter: { op: 'sw', attribute: 'name', value: f.namePrefix }, pageSize: 2 }),
      );
      const wanted = names.map((a) => a.name);
      const hits = found.filter((a) => wanted.includes(a.name)).map((a) => a.name);
      expect(hits.sort()).toEqual([...wanted].sort());
      expect(new Set(found.map((a) => a.uid)).size).toBe(found.length);
    });

    it('refuses a duplicate with AlreadyExists and leaves the first as it was', async () => {
      const input = f.newAccount();
      const first = await create(input);
      await expectNamedError(create(input), 'AlreadyExists');
      expect((await search(input.name)).map((a) => a.uid)).toEqual([first.uid]);
    });

    it('turns a change the target rejects into a named error, with nothing left behind', async () => {
      const input = f.rejectedAccount();
      let caught: unknown;
      await create(input).catch((err: unknown) => {
        caught = err;
      });
      expect(caught, 'the target accepted an account it should refuse').toBeInstanceOf(ConnectorError);
      expect(await search(input.name)).toEqual([]);
    });

    it('grants idempotently, shows the grant, and revokes idempotently', async () => {
      const ops = requireCapability(f.connector, 'grantRevoke');
      const account = await create(f.newAccount());
      expect(await ops.grant(account.uid, f.entitlementUid, key())).toEqual({ changed: true });
      expect(await ops.grant(account.uid, f.entitlementUid, key())).toEqual({ changed: false });
      const [held] = await search(account.name, true);
      expect(held!.entitlements!.filter((e) => e === f.entitlementUid)).toHaveLength(1);
      const members = await collect(
        requireCapability(f.connector, 'searchAccounts').searchAccounts({
          filter: { op: 'and', filters: [{ op: 'eq', attribute: 'memberOf', value: f.entitlementUid }, { op: 'eq', attribute: 'name', value: account.name }] },
        }),
      );
      expect(members.map((a) => a.uid)).toEqual([account.uid]);

      expect(await ops.revoke(account.uid, f.entitlementUid, key())).toEqual({ changed: true });
      expect(await ops.revoke(account.uid, f.entitlementUid, key())).toEqual({ changed: false });
      const [after] = await search(account.name, true);
      expect(after!.entitlements).not.toContain(f.entitlementUid);
    });

    it('lists the entitlement it grants', async () => {
      const ents = await collect(requireCapability(f.connector, 'searchEntitlements').searchEntitlements({ filter: { op: 'eq', attribute: 'uid', value: f.entitlementUid } }));
      expect(ents.map((e) => e.uid)).toEqual([f.entitlementUid]);
    });

    it('creates an entitlement that a search finds and a grant uses, and deletes it; then it is UnknownUid', async () => {
      if (!supports(f.connector, 'manageEntitlements')) return expect(f.connector.capabilities.has('manageEntitlements')).toBe(false);
      const ops = requireCapability(f.connector, 'manageEntitlements');
      const name = `${f.namePrefix}group-${randomUUID().slice(0, 8)}`;
      const created = await ops.createEntitlement({ name, description: 'made by the contract' }, key());
      expect(created.name).toBe(name);
      const ents = () => collect(requireCapability(f.connector, 'searchEntitlements').searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: name } }));
      expect((await ents()).map((e) => e.uid)).toEqual([created.uid]);

      const account = await create(f.newAccount());
      expect(await requireCapability(f.connector, 'grantRevoke').grant(account.uid, created.uid, key())).toEqual({ changed: true });
      const [held] = await search(account.name, true);
      expect(held!.entitlements).toContain(created.uid);

      await ops.deleteEntitlement(created.uid, key());
      expect(await ents()).toEqual([]);
      await expectNamedError(ops.deleteEntitlement(created.uid, key()), 'UnknownUid');
      await expectNamedError(requireCapability(f.connector, 'grantRevoke').grant(account.uid, created.uid, key()), 'UnknownUid');
      const [after] = await search(account.name, true);
      expect(after!.entitlements ?? []).not.toContain(created.uid);
    });

    it('applies attribute deltas all together', async () => {
      if (!f.update) return expect(supports(f.connector, 'updateAccount')).toBe(false);
      const account = await create(f.newAccount());
      const updated = await requireCapability(f.connector, 'updateAccount').updateAccount(account.uid, f.update.deltas, key());
      f.update.expect(updated);
      f.update.expect(await requireCapability(f.connector, 'searchAccounts').getAccount(account.uid));
    });

    it('disables and enables idempotently, and a disabled account cannot log in', async () => {
      if (!supports(f.connector, 'enableDisable')) return expect(f.connector.capabilities.has('enableDisable')).toBe(false);
      const password = `Pw-${randomUUID()}`;
      const account = await create(f.newAccount(), { password });
      const ops = requireCapability(f.connector, 'enableDisable');
      expect(await ops.setAccountEnabled(account.uid, false, key())).toEqual({ changed: true });
      expect(await ops.setAccountEnabled(account.uid, false, key())).toEqual({ changed: false });
      expect((await requireCapability(f.connector, 'searchAccounts').getAccount(account.uid)).enabled).toBe(false);
      if (f.canLogIn) expect(await f.canLogIn(account, password)).toBe(false);
      expect(await ops.setAccountEnabled(account.uid, true, key())).toEqual({ changed: true });
      expect(await ops.setAccountEnabled(account.uid, true, key())).toEqual({ changed: false });
      expect((await requireCapability(f.connector, 'searchAccounts').getAccount(account.uid)).enabled).toBe(true);
      if (f.canLogIn) expect(await f.canLogIn(account, password)).toBe(true);
    });

    it('deletes; a second delete, and any change to the deleted account, is UnknownUid', async () => {
      const account = await create(f.newAccount());
      await requireCapability(f.connector, 'grantRevoke').grant(account.uid, f.entitlementUid, key());
      await requireCapability(f.connector, 'deleteAccount').deleteAccount(account.uid, key());
      expect(await search(account.name)).toEqual([]);
      await expectNamedError(requireCapability(f.connector, 'deleteAccount').deleteAccount(account.uid, key()), 'UnknownUid');
      await expectNamedError(requireCapability(f.connector, 'grantRevoke').grant(account.uid, f.entitlementUid, key()), 'UnknownUid');
      await expectNamedError(requireCapability(f.connector, 'searchAccounts').getAccount(account.uid), 'UnknownUid');
      // Its grant went with it: a new account of the same name starts with nothing.
      const again = await create({ ...f.newAccount(), name: account.name });
      const [fresh] = await search(again.name, true);
      expect(fresh!.entitlements ?? []).not.toContain(f.entitlementUid);
    });

    it('maps a missing object to UnknownUid', async () => {
      const account = await create(f.newAccount());
      await expectNamedError(requireCapability(f.connector, 'searchAccounts').getAccount(f.missingUid), 'UnknownUid');
      await expectNamedError(requireCapability(f.connector, 'grantRevoke').grant(account.uid, f.missingUid, key()), 'UnknownUid');
      await expectNamedError(requireCapability(f.connector, 'grantRevoke').grant(f.missingUid, f.entitlementUid, key()), 'UnknownUid');
    });

    it('maps a wrong password to InvalidCredential', async () => {
      const c = await open(f.wrongPassword);
      await expectNamedError(requireCapability(c, 'test').test(), 'InvalidCredential');
      await expectNamedError(collect(requireCapability(c, 'searchAccounts').searchAccounts()), 'InvalidCredential');
    });

    it('maps a stopped server to ConnectionFailed', async () => {
      const c = await open(f.stoppedServer);
      await expectNamedError(requireCapability(c, 'test').test(), 'ConnectionFailed');
      await expectNamedError(requireCapability(c, 'createAccount').createAccount(f.newAccount(), key()), 'ConnectionFailed');
    });

    it('maps a login without the privilege to PermissionDenied, changing nothing', async () => {
      const c = await open(f.lowPrivilege);
      const input = f.newAccount();
      await expectNamedError(requireCapability(c, 'createAccount').createAccount(input, key()), 'PermissionDenied');
      expect(await search(input.name)).toEqual([]);
    });

    it('resumes a sync from its token without losing or repeating an account', async () => {
      if (!supports(f.connector, 'sync')) return expect(f.connector.capabilities.has('sync')).toBe(false);
      const mine = [f.newAccount(), f.newAccount(), f.newAccount(), f.newAccount(), f.newAccount()];
      const created = new Map<string, string>();
      for (const a of mine) created.set((await create(a)).uid, a.name);
      const sync = requireCapability(f.connector, 'sync');

      // First call: take one batch, then stop as a crashed worker would.
      const seen: string[] = [];
      let token: string | undefined;
      let complete = false;
      for await (const batch of sync.sync({ pageSize: 2 })) {
        for (const c of batch.changes) if (c.kind === 'upsert') seen.push(c.account.uid);
        token = batch.token;
        complete = batch.complete;
        break;
      }
      // Resume, possibly in another process: only the token carries over.
      let batches = 0;
      while (!complete) {
        for await (const batch of sync.sync({ token: token!, pageSize: 2 })) {
          for (const c of batch.changes) if (c.kind === 'upsert') seen.push(c.account.uid);
          token = batch.token;
          complete = batch.complete;
          batches++;
        }
      }
      expect(batches).toBeGreaterThan(0);
      expect(new Set(seen).size).toBe(seen.length);
      for (const uid of created.keys()) expect(seen).toContain(uid);

      // After a complete pass, the token carries on from the present.
      const later = await create(f.newAccount());
      const next: string[] = [];
      for await (const batch of sync.sync({ token: token!, pageSize: 50 })) {
        for (const c of batch.changes) if (c.kind === 'upsert') next.push(c.account.uid);
        if (batch.complete) break;
      }
      expect(next).toContain(later.uid);
      if (sync.syncMode.mode === 'incremental') {
        for (const uid of created.keys()) expect(next).not.toContain(uid);
      }
    });

    describe('object classes', () => {
      const read = async (objectClass: string, cursor?: string, pageSize = 3) => {
        const batches: ObjectBatch[] = [];
        for await (const batch of requireCapability(f.connector, 'readObjects').readObjects(objectClass, { ...(cursor ? { cursor } : {}), pageSize })) batches.push(batch);
        return { records: batches.flatMap((b) => b.records), cursor: batches.at(-1)!.cursor, batches };
      };
      const keyOf = (record: ObjectRecord, key: string[]) => Object.fromEntries(key.map((k) => [k, record[k]!]));
      const subset = (record: ObjectRecord | undefined, given: ObjectRecord) => expect(record).toMatchObject(given);

      it('lists its classes with their key, cursor and fields', async () => {
        if (!f.objects) return expect(f.connector.capabilities.has('readObjects')).toBe(false);
        const classes = await requireCapability(f.connector, 'readObjects').objectClasses();
        const cls = classes.find((c) => c.name === f.objects!.objectClass);
        expect(cls).toMatchObject({ writable: true, cursor: expect.any(String) });
        const names = cls!.fields.map((x) => x.name);
        for (const k of cls!.key) expect(names).toContain(k);
        for (const field of Object.keys(f.objects.newRecord())) expect(names).toContain(field);
      });

      it('upserts by key (created, updated, unchanged counted; the same batch again changes nothing) and deletes', async () => {
        if (!f.objects) return expect(f.connector.capabilities.has('writeObjects')).toBe(false);
        const o = f.objects;
        const write = requireCapability(f.connector, 'writeObjects');
        const [cls] = (await requireCapability(f.connector, 'readObjects').objectClasses()).filter((c) => c.name === o.objectClass);
        const records = [o.newRecord(), o.newRecord(), o.newRecord(), o.newRecord()];
        expect(await write.upsertObjects(o.objectClass, records, key())).toEqual({ created: 4, updated: 0, unchanged: 0 });
        expect(await write.upsertObjects(o.objectClass, records, key())).toEqual({ created: 0, updated: 0, unchanged: 4 });
        const changed = o.changed(records[0]!);
        expect(await write.upsertObjects(o.objectClass, [changed, ...records.slice(1)], key())).toEqual({ created: 0, updated: 1, unchanged: 3 });
        const all = (await read(o.objectClass)).records;
        const find = (r: ObjectRecord) => all.find((x) => cls!.key.every((k) => x[k] === r[k]));
        subset(find(changed), changed);
        for (const r of records.slice(1)) subset(find(r), r);

        // Create-only leaves an existing record as it is, and creates a new one.
        const fresh = o.newRecord();
        expect(await write.upsertObjects(o.objectClass, [o.changed(changed), fresh], key(), { createOnly: true })).toEqual({ created: 1, updated: 0, unchanged: 1 });
        subset((await read(o.objectClass)).records.find((x) => cls!.key.every((k) => x[k] === changed[k])), changed);

        // Read back by key: those that exist, and nothing for a key that does not.
        const gotten = await requireCapability(f.connector, 'readObjects').getObjects(o.objectClass, [keyOf(records[1]!, cls!.key), keyOf(o.newRecord(), cls!.key)]);
        expect(gotten).toHaveLength(1);
        subset(gotten[0], records[1]!);

        const keys = records.slice(0, 2).map((r) => keyOf(r, cls!.key));
        expect(await write.deleteObjects(o.objectClass, keys, key())).toEqual({ deleted: 2 });
        expect(await write.deleteObjects(o.objectClass, keys, key())).toEqual({ deleted: 0 });
        const left = (await read(o.objectClass)).records;
        expect(left.filter((x) => keys.some((k) => cls!.key.every((n) => x[n] === k[n])))).toEqual([]);
      });

      it('reads page by page, each record once, and from a cursor only what changed after it', async () => {
        if (!f.objects) return expect(f.connector.capabilities.has('readObjects')).toBe(false);
        const o = f.objects;
        const write = requireCapability(f.connector, 'writeObjects');
        const [cls] = (await requireCapability(f.connector, 'readObjects').objectClasses()).filter((c) => c.name === o.objectClass);
        const records = Array.from({ length: 7 }, () => o.newRecord());
        await write.upsertObjects(o.objectClass, records, key());
        const first = await read(o.objectClass, undefined, 3);
        expect(first.batches.length).toBeGreaterThan(2);
        expect(first.batches.at(-1)!.complete).toBe(true);
        const seen = first.records.map((r) => JSON.stringify(keyOf(r, cls!.key)));
        expect(new Set(seen).size).toBe(seen.length);
        for (const r of records) expect(seen).toContain(JSON.stringify(keyOf(r, cls!.key)));

        // Nothing changed: nothing to read. Then one record changes, one is added: those two only.
        expect((await read(o.objectClass, first.cursor)).records).toEqual([]);
        const changed = o.changed(records[3]!);
        const added = o.newRecord();
        await write.upsertObjects(o.objectClass, [changed, added], key());
        const next = await read(o.objectClass, first.cursor);
        expect(next.records.map((r) => JSON.stringify(keyOf(r, cls!.key))).sort()).toEqual([changed, added].map((r) => JSON.stringify(keyOf(r, cls!.key))).sort());
        subset(next.records.find((r) => cls!.key.every((k) => r[k] === changed[k])), changed);
      });

      it('refuses a field the class does not have, naming it, and writes none of the batch; an unknown class; a cursor of another class', async () => {
        if (!f.objects) return expect(f.connector.capabilities.has('writeObjects')).toBe(false);
        const o = f.objects;
        const write = requireCapability(f.connector, 'writeObjects');
        const good = o.newRecord();
        const bad = { ...o.newRecord(), no_such_field: 'x' };
        const refused = await expectNamedError(write.upsertObjects(o.objectClass, [good, bad], key()), 'Rejected');
        expect(refused.message).toContain('records[1].no_such_field');
        const [cls] = (await requireCapability(f.connector, 'readObjects').objectClasses()).filter((c) => c.name === o.objectClass);
        const all = (await read(o.objectClass)).records;
        expect(all.some((x) => cls!.key.every((k) => x[k] === good[k]))).toBe(false);

        await expectNamedError(write.upsertObjects('no-such-class', [good], key()), 'UnknownUid');
        await expectNamedError(read('no-such-class'), 'UnknownUid');
        await expectNamedError(read(o.objectClass, 'not-a-cursor'), 'Rejected');
      });
    });

    it('rotates a credential: the new one works, and a single-credential target drops the old', async () => {
      if (!supports(f.connector, 'rotateCredential')) return expect(f.connector.capabilities.has('rotateCredential')).toBe(false);
      const rotate = requireCapability(f.connector, 'rotateCredential');
      const oldPassword = `Old-${randomUUID()}`;
      const newPassword = `New-${randomUUID()}`;
      const account = await create(f.newAccount(), { password: oldPassword });
      const target = { kind: 'account' as const, uid: account.uid };
      await rotate.verifyCredential(target, oldPassword);

      const applied = await rotate.applyCredential(target, key(), rotate.credentials.source === 'caller' ? newPassword : undefined);
      const current = applied.secret ?? newPassword;
      await rotate.verifyCredential(target, current);
      if (rotate.credentials.model === 'single') {
        await expectNamedError(rotate.verifyCredential(target, oldPassword), 'InvalidCredential');
        expect(await rotate.retireCredential(target, applied.credentialId, key())).toEqual({ changed: false });
      }
      if (f.canLogIn) expect(await f.canLogIn(account, current)).toBe(true);
    });
  });
}
