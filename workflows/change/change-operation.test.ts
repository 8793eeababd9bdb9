// AccessChange to connector operation, and the inverse that undoes exactly what was applied.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { accessChangeSchema, type AccessChangeInput } from '../../policies/access-change.js';
import { inverseOf, toConnectorOperation } from './change-operation.js';

const change = (kind: AccessChangeInput['kind'], target: Partial<AccessChangeInput['target']> = {}, more: Partial<AccessChangeInput> = {}) =>
  accessChangeSchema.parse({
    id: randomUUID(),
    kind,
    subject: { type: 'human', id: 'dana' },
    target: { connectorId: 'c', ...target },
    source: 'jml',
    requester: { kind: 'workflow', id: 'jml' },
    ...more,
  });

describe('toConnectorOperation', () => {
  it('maps each kind to its operation', () => {
    expect(toConnectorOperation(change('create-account', { accountName: 'dana' }, { attributes: { mail: 'd@x', tags: ['a', 'b'] } }), {})).toEqual({
      kind: 'createAccount',
      account: { name: 'dana', attributes: { mail: ['d@x'], tags: ['a', 'b'] }, enabled: true },
    });
    expect(toConnectorOperation(change('grant', { entitlement: { id: 'readers' } }), { accountUid: '1', entitlementUid: 'role:2' })).toEqual({ kind: 'grant', accountUid: '1', entitlementUid: 'role:2' });
    expect(toConnectorOperation(change('revoke', { entitlement: { id: 'readers' } }), { accountUid: '1', entitlementUid: 'role:2' })).toEqual({ kind: 'revoke', accountUid: '1', entitlementUid: 'role:2' });
    expect(toConnectorOperation(change('disable'), { accountUid: '1' })).toEqual({ kind: 'disableAccount', accountUid: '1' });
    expect(toConnectorOperation(change('delete-account'), { accountUid: '1' })).toEqual({ kind: 'deleteAccount', accountUid: '1' });
    expect(toConnectorOperation(change('update-account', {}, { attributes: { title: 'Lead', phone: null } }), { accountUid: '1' })).toEqual({
      kind: 'updateAccount',
      accountUid: '1',
      deltas: [
        { attribute: 'title', op: 'replace', values: ['Lead'] },
        { attribute: 'phone', op: 'replace', values: [] },
      ],
    });
  });

  it('refuses what cannot be applied, naming the field', () => {
    expect(() => toConnectorOperation(change('create-account'), {})).toThrow(/change.target.accountName: is required/);
    expect(() => toConnectorOperation(change('grant', { entitlement: { id: 'r' } }), { entitlementUid: 'x' })).toThrow(/change.target.account: the subject holds no account on this connector on record/);
    expect(() => toConnectorOperation(change('update-account', {}, { attributes: { nested: { a: 1 } } }), { accountUid: '1' })).toThrow(/change.attributes.nested\[0\]/);
    expect(() => toConnectorOperation(change('update-account'), { accountUid: '1' })).toThrow(/at least one attribute/);
    expect(() => toConnectorOperation(change('rotate-credential'), { accountUid: '1' })).toThrow(/credential rotation workflow/);
  });
});

describe('inverseOf', () => {
  it('undoes what changed, and only that', () => {
    const g = change('grant', { entitlement: { id: 'r' } });
    expect(inverseOf(g, { operation: 'grant', changed: true, accountUid: '1', entitlementUid: 'role:2' })).toEqual({ kind: 'operation', operation: { kind: 'revoke', accountUid: '1', entitlementUid: 'role:2' } });
    expect(inverseOf(g, { operation: 'grant', changed: false, accountUid: '1', entitlementUid: 'role:2' }).kind).toBe('nothing');
    expect(inverseOf(change('revoke'), { operation: 'revoke', changed: true, accountUid: '1', entitlementUid: 'role:2' })).toMatchObject({ operation: { kind: 'grant' } });
    expect(inverseOf(change('create-account'), { operation: 'createAccount', changed: true, accountUid: '9' })).toEqual({ kind: 'operation', operation: { kind: 'deleteAccount', accountUid: '9' } });
    expect(inverseOf(change('disable'), { operation: 'disableAccount', changed: true, accountUid: '9' })).toEqual({ kind: 'operation', operation: { kind: 'enableAccount', accountUid: '9' } });
  });

  it('says so when it cannot undo', () => {
    expect(inverseOf(change('delete-account'), { operation: 'deleteAccount', changed: true, accountUid: '9' })).toMatchObject({ kind: 'impossible', reason: expect.stringMatching(/cannot be restored/) });
    expect(inverseOf(change('update-account'), { operation: 'updateAccount', changed: true, accountUid: '9' }).kind).toBe('impossible');
    expect(inverseOf(change('grant'), { operation: 'grant', changed: true }).kind).toBe('impossible');
  });
});
