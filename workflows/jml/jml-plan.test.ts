import { describe, expect, it } from 'vitest';
import type { DesiredAccess } from '../../policies/birthright.js';
import { planAccess, type PlanInput } from './jml-plan.js';

const ids = new Map([
  ['ldap', 'c-ldap'],
  ['pg', 'c-pg'],
]);
const subject = { type: 'human' as const, id: 'dana' };
const account = (connector: 'ldap' | 'pg', enabled = true, source = 'jml') => ({ connectorId: `c-${connector}`, connectorName: connector, subject, accountUid: `${connector}-uid`, accountName: 'dana', enabled, changeId: `a-${connector}`, updatedAt: '', source });
const held = (connector: 'ldap' | 'pg', entitlementId: string, source = 'jml') => ({ connectorId: `c-${connector}`, connectorName: connector, subject, entitlementId, accountUid: `${connector}-uid`, changeId: `e-${entitlementId}`, grantedAt: '', source });
const want = (accounts: ('ldap' | 'pg')[], entitlements: [string, string][]): DesiredAccess => ({
  accounts: accounts.map((c) => ({ connector: c, accountName: 'dana', attributes: {}, rules: ['r'] })),
  entitlements: entitlements.map(([connector, entitlementId]) => ({ connector, entitlementId, rules: ['r'] })),
  problems: [],
});
const plan = (input: Partial<PlanInput>) => {
  const p = planAccess({ active: true, desired: want([], []), connectorIds: ids, current: { accounts: [], entitlements: [] }, ...input });
  return { kind: p.kind, steps: p.steps.map((s) => `${s.kind} ${s.connectorName}${s.entitlementId ? `:${s.entitlementId}` : ''}`), problems: p.problems };
};

describe('the joiner-mover-leaver plan', () => {
  it('a joiner: accounts first, then grants', () => {
    expect(plan({ desired: want(['ldap', 'pg'], [['ldap', 'vpn'], ['pg', 'analysts']]) })).toEqual({
      kind: 'joiner',
      steps: ['create-account ldap', 'create-account pg', 'grant ldap:vpn', 'grant pg:analysts'],
      problems: [],
    });
  });

  it('a mover: the new before the old; what people requested stays', () => {
    const current = { accounts: [account('pg')], entitlements: [held('pg', 'analysts'), held('pg', 'requested', 'manual-request')] };
    expect(plan({ desired: want(['pg'], [['pg', 'auditors']]), current })).toEqual({ kind: 'mover', steps: ['grant pg:auditors', 'revoke pg:analysts'], problems: [] });
  });

  it('a mover off a connector: its birthright revoked, then the account disabled, unless requested access remains on it', () => {
    const current = { accounts: [account('pg'), account('ldap')], entitlements: [held('pg', 'analysts'), held('ldap', 'vpn'), held('ldap', 'wiki', 'manual-request')] };
    expect(plan({ desired: want([], []), current }).steps).toEqual(['revoke pg:analysts', 'revoke ldap:vpn', 'disable pg']);
  });

  it('a rejoiner: disabled accounts enabled again', () => {
    const current = { accounts: [account('pg', false)], entitlements: [] };
    expect(plan({ desired: want(['pg'], [['pg', 'analysts']]), current })).toMatchObject({ kind: 'rejoiner', steps: ['enable pg', 'grant pg:analysts'] });
  });

  it('a leaver: every account disabled first, then every entitlement revoked, requested ones too', () => {
    const current = { accounts: [account('ldap'), account('pg'), account('pg', false)], entitlements: [held('ldap', 'vpn'), held('pg', 'requested', 'manual-request')] };
    expect(plan({ active: false, desired: want(['pg'], [['pg', 'x']]), current })).toEqual({ kind: 'leaver', steps: ['disable ldap', 'disable pg', 'revoke ldap:vpn', 'revoke pg:requested'], problems: [] });
  });

  it('nothing to do is said so; an unknown connector is a problem, not a step', () => {
    const current = { accounts: [account('pg')], entitlements: [held('pg', 'analysts')] };
    expect(plan({ desired: want(['pg'], [['pg', 'analysts']]), current })).toEqual({ kind: 'no-change', steps: [], problems: [] });
    const unknown: DesiredAccess = { ...want([], []), accounts: [{ connector: 'crm', accountName: 'dana', attributes: {}, rules: ['r'] }], entitlements: [{ connector: 'crm', entitlementId: 'sales', rules: ['r'] }] };
    expect(plan({ desired: unknown })).toEqual({ kind: 'no-change', steps: [], problems: [{ connector: 'crm', message: "the policy's birthright names connector crm, which Gatehouse does not have" }] });
  });
});
