// Group and role claims to Gatehouse roles, as configured per issuer.
import { describe, expect, it } from 'vitest';
import { claimValues, rolesFromClaims } from './claim-role-mapping.js';

describe('claim to role mapping', () => {
  const issuer = { rolesClaim: 'groups', roles: { admin: ['gh-admins'], auditor: ['audit', 'compliance'], 'nhi-owner': ['svc-owners'] } };

  it('grants each role one of whose values the claim holds, in the vocabulary order', () => {
    expect(rolesFromClaims({ groups: ['compliance', 'gh-admins', 'eng'] }, issuer)).toEqual(['admin', 'auditor']);
    expect(rolesFromClaims({ groups: ['eng'] }, issuer)).toEqual([]);
    expect(rolesFromClaims({}, issuer)).toEqual([]);
  });

  it('compares exactly: no prefixes, no case folding', () => {
    expect(rolesFromClaims({ groups: ['GH-ADMINS', 'gh-admins-extra', 'gh-admin'] }, issuer)).toEqual([]);
  });

  it('accepts a single string claim and reaches nested claims by a dotted path', () => {
    expect(rolesFromClaims({ groups: 'svc-owners' }, issuer)).toEqual(['nhi-owner']);
    const keycloak = { rolesClaim: 'realm_access.roles', roles: { 'security-approver': ['approver'] } };
    expect(rolesFromClaims({ realm_access: { roles: ['approver', 'offline_access'] } }, keycloak)).toEqual(['security-approver']);
  });

  it('ignores values that are not strings and paths that lead nowhere', () => {
    expect(claimValues({ groups: ['a', 1, null, { x: 'b' }, 'c'] }, 'groups')).toEqual(['a', 'c']);
    expect(claimValues({ realm_access: 'roles' }, 'realm_access.roles')).toEqual([]);
    expect(claimValues({ groups: { admin: true } }, 'groups')).toEqual([]);
  });
});
