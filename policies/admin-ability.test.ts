// The admin-plane abilities: what each role may and may not do, instance conditions (an NHI owner's
// own credentials; nobody approving their own request), tokens holding exactly their scopes, and
// which permissions a caller may pass on to a token.
import { describe, expect, it } from 'vitest';
import { subject } from '@casl/ability';
import { ACTIONS, SUBJECTS, type Principal } from '../shared/auth/permissions.js';
import { adminAbilityFor, holdsUnconditionally } from './admin-ability.js';

const person = (roles: Principal['roles'], id = 'user-1'): Principal => ({ kind: 'human', id, roles });

/** What every signed-in person holds, whatever their roles. */
const PERSON = ['cancel:AccessRequest', 'decide:ApprovalRequest', 'read:AccessRequest', 'request:AccessRequest'];

/** Every action:Subject pair the ability allows by subject type. */
const allowed = (p: Principal) => {
  const ability = adminAbilityFor(p);
  return ACTIONS.flatMap((a) => SUBJECTS.filter((s) => ability.can(a, s)).map((s) => `${a}:${s}`)).sort();
};

describe('admin-plane abilities', () => {
  it('gives an auditor the ledger, evidence and the inventory, and nothing else', () => {
    expect(allowed(person(['auditor']))).toEqual([...PERSON, 'export:Evidence', 'read:Credential', 'read:Evidence', 'read:LedgerEntry', 'verify:LedgerEntry'].sort());
  });

  it('lets an admin configure directories, connectors and policies, but not decide approvals or export evidence', () => {
    const ability = adminAbilityFor(person(['admin']));
    for (const s of ['Directory', 'Connector', 'Policy', 'ApiToken', 'User'] as const) {
      for (const a of ACTIONS) expect(ability.can(a, s), `${a}:${s}`).toBe(true);
    }
    // Deciding is by policy eligibility, not by being an admin.
    expect(ability.can('decide', subject('ApprovalRequest', { eligibleApproverIds: ['someone-else'], requesterId: 'u-9', subjectUserIds: [] }))).toBe(false);
    expect(ability.can('export', 'Evidence')).toBe(false);
    expect(ability.can('read', 'LedgerEntry')).toBe(false);
    expect(ability.can('read', 'Run')).toBe(true);
    // Credentials: registered, changed, stopped and rotated by admins, whoever owns them.
    for (const a of ['read', 'create', 'update', 'delete', 'rotate'] as const) expect(ability.can(a, subject('Credential', { id: 'c9', ownerIds: ['someone-else'] })), a).toBe(true);
    expect(ability.can('export', 'Credential')).toBe(false);
  });

  it('lets an NHI owner see and rotate only the credentials they own', () => {
    const ability = adminAbilityFor(person(['nhi-owner'], 'owner-7'));
    expect(ability.can('read', 'Credential')).toBe(true); // the route check: some credential may be theirs
    expect(ability.can('read', subject('Credential', { id: 'c1', ownerIds: ['owner-7', 'someone'] }))).toBe(true);
    expect(ability.can('rotate', subject('Credential', { id: 'c1', ownerIds: ['owner-7'] }))).toBe(true);
    expect(ability.can('read', subject('Credential', { id: 'c2', ownerIds: ['someone'] }))).toBe(false);
    expect(ability.can('rotate', subject('Credential', { id: 'c3', ownerIds: [] }))).toBe(false);
    expect(allowed(person(['nhi-owner']))).toEqual([...PERSON, 'read:Credential', 'rotate:Credential'].sort());
  });

  it.each([[['security-approver']], [['admin', 'security-approver', 'auditor', 'nhi-owner']], [[]]] as Principal['roles'][][])('lets a person with roles %j decide requests a policy makes them eligible for, never their own or one changing their own access', (roles) => {
    const ability = adminAbilityFor(person(roles, 'appr-1'));
    const request = (fields: Record<string, unknown>) => subject('ApprovalRequest', { eligibleApproverIds: ['appr-1', 'appr-2'], requesterId: 'u-9', subjectUserIds: ['u-5'], ...fields });
    expect(ability.can('decide', 'ApprovalRequest')).toBe(true);
    expect(ability.can('decide', request({}))).toBe(true);
    expect(ability.can('decide', request({ eligibleApproverIds: ['appr-2'] }))).toBe(false);
    expect(ability.can('decide', request({ requesterId: 'appr-1' }))).toBe(false);
    expect(ability.can('decide', request({ subjectUserIds: ['u-5', 'appr-1'] }))).toBe(false);
    expect(ability.relevantRuleFor('decide', request({ requesterId: 'appr-1' }))?.reason).toBe('nobody approves a request they made');
  });

  it('combines the rules of several roles', () => {
    const both = allowed(person(['auditor', 'nhi-owner']));
    expect(both).toContain('export:Evidence');
    expect(both).toContain('rotate:Credential');
  });

  it('gives a person with no role only asking for access, following their own requests and withdrawing them', () => {
    expect(allowed(person([]))).toEqual(PERSON);
    const ability = adminAbilityFor(person([], 'u-3'));
    expect(ability.can('read', subject('AccessRequest', { requesterId: 'u-3', subjectUserIds: [] }))).toBe(true);
    expect(ability.can('read', subject('AccessRequest', { requesterId: 'u-4', subjectUserIds: ['u-3'] }))).toBe(true);
    expect(ability.can('read', subject('AccessRequest', { requesterId: 'u-4', subjectUserIds: ['u-5'] }))).toBe(false);
    expect(holdsUnconditionally(ability, 'read:AccessRequest')).toBe(false);
    // Withdrawing: only what they asked for themselves, not what is merely about them.
    expect(ability.can('cancel', subject('AccessRequest', { requesterId: 'u-3', subjectUserIds: [] }))).toBe(true);
    expect(ability.can('cancel', subject('AccessRequest', { requesterId: 'u-4', subjectUserIds: ['u-3'] }))).toBe(false);
    // Only what a policy makes them eligible for.
    expect(ability.can('decide', subject('ApprovalRequest', { eligibleApproverIds: ['u-4'], requesterId: 'u-4', subjectUserIds: [] }))).toBe(false);
  });

  it('gives a token exactly its scopes, whatever roles it claims', () => {
    const token: Principal = { kind: 'token', id: 't1', roles: ['admin'], scopes: ['read:Run', 'manage:Directory', 'not-a:permission'] };
    const perms = allowed(token);
    expect(perms).toContain('read:Run');
    expect(perms).toContain('delete:Directory');
    expect(perms.filter((p) => !p.endsWith(':Directory'))).toEqual(['read:Run']);
  });

  it('lets Gatehouse itself do anything', () => {
    expect(allowed({ kind: 'system', id: 'system', roles: [] })).toHaveLength(ACTIONS.length * SUBJECTS.length);
  });

  it('passes on to a token only what the caller holds for every instance', () => {
    const admin = adminAbilityFor(person(['admin']));
    expect(holdsUnconditionally(admin, 'read:Directory')).toBe(true); // through manage
    expect(holdsUnconditionally(admin, 'export:Evidence')).toBe(false);
    expect(holdsUnconditionally(adminAbilityFor(person(['nhi-owner'])), 'read:Credential')).toBe(false); // only their own
    expect(holdsUnconditionally(adminAbilityFor(person(['security-approver'])), 'decide:ApprovalRequest')).toBe(false);
    expect(holdsUnconditionally(adminAbilityFor(person(['auditor'])), 'read:LedgerEntry')).toBe(true);
  });
});
