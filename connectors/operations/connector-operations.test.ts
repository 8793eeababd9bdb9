// Changes through the operation journal, against real PostgreSQL (Gatehouse's and a target's) and
// Vault: a key applies once, a reused key for another change is refused, an attempt cut short is
// finished on retry rather than reported as a conflict, and a refusal is recorded as such.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, createTestVault, openOrm, withPg, type MikroORM, type TestDatabase, type TestVault } from '../../test/helpers/services.js';
import { createPostgresTarget, type PostgresTarget } from '../../test/helpers/postgres-target.js';
import { createBuiltinConnectorRegistry } from '../builtin-connectors.js';
import { createConnectorFactory } from '../instances/connector-factory.js';
import { createConnectorInstanceService } from '../instances/connector-instance-service.js';
import { ConnectorError } from '../spi/errors.js';
import { createConnectorOperations, operationHash, type ConnectorOperations } from './connector-operations.js';
import { createLedger, type Ledger } from '../../audit/index.js';
import { adminCaller } from '../../test/helpers/service-callers.js';

describe('connector operations: idempotent by key', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let orm: MikroORM;
  let target: PostgresTarget;
  let ops: ConnectorOperations;
  let instanceId: string;
  let analysts: string;
  const registry = createBuiltinConnectorRegistry();
  let ledger: Ledger;
  const actor = { kind: 'workflow' as const, id: 'identity:test:1' };

  beforeAll(async () => {
    [db, vault, target] = await Promise.all([createTestDatabase(), createTestVault(), createPostgresTarget()]);
    orm = await openOrm(db.appUrl, 4);
    const service = createConnectorInstanceService({ orm, secrets: vault.store, registry, ledger: createLedger({ orm, signer: vault.store }) });
    instanceId = (await service.create({ name: 'pg', type: 'postgresql', config: target.config() }, adminCaller())).id;
    ledger = createLedger({ orm, signer: vault.store });
    ops = createConnectorOperations({ orm, factory: createConnectorFactory({ orm, secrets: vault.store, registry }), ledger });
    const g = await withPg(target.superuserUrl, (c) => c.query<{ oid: string }>('SELECT oid::text FROM pg_roles WHERE rolname = $1', [target.groups.analysts]));
    analysts = `role:${g.rows[0]!.oid}`;
  });
  afterAll(async () => {
    await orm?.close(true);
    await target?.drop();
    await db?.drop();
  });

  const roleExists = async (name: string) => (await withPg(target.superuserUrl, (c) => c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]))).rowCount === 1;
  const journal = (key: string) =>
    withPg(db.superuserUrl, async (c) => (await c.query('SELECT status, attempts, error_code, outcome FROM connector_operation WHERE idempotency_key = $1', [key])).rows[0]);

  it('applies a change once: the same key again answers from the journal without calling the target', async () => {
    const name = `acct_${target.tag}_once`;
    const first = await ops.apply({ actor, instanceId, idempotencyKey: 'change-1', operation: { kind: 'createAccount', account: { name } } });
    expect(first).toMatchObject({ changed: true, replayed: false, accountUid: expect.stringMatching(/^\d+$/) });
    // Behind Gatehouse's back the account goes; a replay must not bring it back.
    await withPg(target.superuserUrl, (c) => c.query(`DROP ROLE ${c.escapeIdentifier(name)}`));
    const again = await ops.apply({ actor, instanceId, idempotencyKey: 'change-1', operation: { kind: 'createAccount', account: { name } } });
    expect(again).toEqual({ ...first, replayed: true });
    expect(await roleExists(name)).toBe(false);
    expect(await journal('change-1')).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('refuses a key reused for a different change, naming the key', async () => {
    await expect(ops.apply({ actor, instanceId, idempotencyKey: 'change-1', operation: { kind: 'createAccount', account: { name: 'someone_else' } } })).rejects.toMatchObject({
      status: 409,
      field: 'idempotencyKey',
    });
    expect(await roleExists('someone_else')).toBe(false);
  });

  it('finishes a create whose earlier attempt reached the target but was cut short', async () => {
    const name = `acct_${target.tag}_cut`;
    const operation = { kind: 'createAccount' as const, account: { name } };
    // Stand-in for a worker killed after the target committed and before the journal did (a crash
    // at that instant cannot be caused on demand): the journal says 'started' and the role exists.
    await withPg(db.superuserUrl, (c) =>
      c.query(`INSERT INTO connector_operation (instance_id, idempotency_key, operation, request_hash, status) VALUES ($1, 'change-cut', 'createAccount', $2, 'started')`, [
        instanceId,
        operationHash(operation),
      ]),
    );
    await withPg(target.superuserUrl, (c) => c.query(`CREATE ROLE ${c.escapeIdentifier(name)} LOGIN`));

    const finished = await ops.apply({ actor, instanceId, idempotencyKey: 'change-cut', operation });
    expect(finished).toMatchObject({ changed: true, replayed: false, accountUid: expect.stringMatching(/^\d+$/) });
    expect(await journal('change-cut')).toMatchObject({ status: 'succeeded', attempts: 2 });
    // Without the journal's word, the same create under a new key is a genuine conflict.
    const conflict = await ops.apply({ actor, instanceId, idempotencyKey: 'change-dup', operation }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConnectorError);
    expect((conflict as ConnectorError).code).toBe('AlreadyExists');
    expect(await journal('change-dup')).toMatchObject({ status: 'failed', error_code: 'AlreadyExists' });
  });

  it('grants once per key and reports a second grant under a new key as no change', async () => {
    const { accountUid } = await ops.apply({ actor, instanceId, idempotencyKey: 'change-2', operation: { kind: 'createAccount', account: { name: `acct_${target.tag}_g` } } });
    const grant = (key: string) => ops.apply({ actor, instanceId, idempotencyKey: key, operation: { kind: 'grant', accountUid: accountUid!, entitlementUid: analysts } });
    expect(await grant('grant-1')).toMatchObject({ changed: true, replayed: false });
    expect(await grant('grant-1')).toMatchObject({ changed: true, replayed: true });
    expect(await grant('grant-2')).toMatchObject({ changed: false, replayed: false });
  });

  it('records a refusal as failed with its named error, and lets a retry with the same key try again', async () => {
    const { accountUid } = await ops.apply({ actor, instanceId, idempotencyKey: 'change-3', operation: { kind: 'createAccount', account: { name: `acct_${target.tag}_r` } } });
    const revokeMissing = () => ops.apply({ actor, instanceId, idempotencyKey: 'revoke-missing', operation: { kind: 'revoke', accountUid: accountUid!, entitlementUid: 'role:4294967000' } });
    await expect(revokeMissing()).rejects.toMatchObject({ code: 'UnknownUid' });
    expect(await journal('revoke-missing')).toMatchObject({ status: 'failed', error_code: 'UnknownUid', attempts: 1 });
    await expect(revokeMissing()).rejects.toMatchObject({ code: 'UnknownUid' });
    expect(await journal('revoke-missing')).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('records each outcome in the ledger with the journal, once per change, never again for a replay', async () => {
    const name = `acct_${target.tag}_ledger`;
    const correlation = { workflowId: 'identity:test:ledger', changeId: 'change-ledger' };
    const created = await ops.apply({ actor, instanceId, idempotencyKey: 'change-ledger', operation: { kind: 'createAccount', account: { name } }, correlation });
    await ops.apply({ actor, instanceId, idempotencyKey: 'change-ledger', operation: { kind: 'createAccount', account: { name } }, correlation });
    await expect(ops.apply({ actor, instanceId, idempotencyKey: 'change-ledger-2', operation: { kind: 'createAccount', account: { name } }, correlation })).rejects.toMatchObject({ code: 'AlreadyExists' });
    const entries = (await ledger.query({ workflowId: 'identity:test:ledger', order: 'oldest' })).entries;
    expect(entries.map((e) => e.action)).toEqual(['connector.operation.applied', 'connector.operation.failed']);
    expect(entries[0]).toMatchObject({ actor, target: { type: 'connector', id: instanceId }, details: { operation: 'createAccount', accountName: name, accountUid: created.accountUid, changed: true, idempotencyKey: 'change-ledger' } });
    expect(entries[1]).toMatchObject({ details: { operation: 'createAccount', errorCode: 'AlreadyExists', idempotencyKey: 'change-ledger-2' } });
  });

  it('refuses malformed operations before anything is journaled', async () => {
    await expect(ops.apply({ actor, instanceId, idempotencyKey: 'bad', operation: { kind: 'grant', accountUid: '1' } as never })).rejects.toMatchObject({
      status: 400,
      field: 'operation.entitlementUid',
    });
    await expect(ops.apply({ actor, instanceId, idempotencyKey: '', operation: { kind: 'deleteAccount', accountUid: '1' } })).rejects.toMatchObject({ field: 'idempotencyKey' });
    expect(await journal('bad')).toBeUndefined();
  });
});
