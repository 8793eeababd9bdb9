// What each Gatehouse role may do on the admin plane. Nobody gets more than the role needs: admins
// configure, security approvers review, auditors read evidence, owners of non-human identities see
// theirs; deciding an approval is for whoever the policy makes eligible.
import type { AbilityBuilder } from '@casl/ability';
import type { AdminAbility, Role } from '../shared/auth/permissions.js';

type Can = AbilityBuilder<AdminAbility>['can'];
type Cannot = AbilityBuilder<AdminAbility>['cannot'];

/**
 * Instance conditions read these fields, which services put on the subjects they check:
 * - `ApprovalRequest`: `eligibleApproverIds` (user ids the approval policy made eligible),
 *   `requesterId` (who asked for the change), `subjectUserIds` (users whose access it changes);
 * - `AccessRequest`: `requesterId` (who asked), `subjectUserIds` (users whose access it changes);
 * - `Credential`: `ownerIds` (user ids of its owners).
 * A check by subject type alone (the route's access rule) passes when any rule could allow it;
 * the service then checks the instance.
 */
/**
 * What every person who signs in may do, whatever their roles: ask for access (for themselves, or
 * for a non-human identity they own; policy and approvers decide what they get) and follow the
 * requests they made or that change their own access, withdraw the ones they made, and decide the
 * approval requests a policy makes them eligible for.
 */
export function personPermissions(can: Can, userId: string): void {
  can('request', 'AccessRequest');
  can('read', 'AccessRequest', { requesterId: userId });
  can('read', 'AccessRequest', { subjectUserIds: userId });
  // Withdraw a request they made while it waits for approval.
  can('cancel', 'AccessRequest', { requesterId: userId });
  // Decide the approval requests a policy makes them eligible for (a manager stage, an entitlement
  // owner, a named person, a role): the policy says who, not a Gatehouse role.
  can('decide', 'ApprovalRequest', { eligibleApproverIds: userId });
}

/**
 * Promise 6, applied after every role's rules so that no role's `can` comes later and wins: nobody
 * approves their own request or a change to their own access.
 */
export function personLimits(cannot: Cannot, userId: string): void {
  cannot('decide', 'ApprovalRequest', { requesterId: userId }).because('nobody approves a request they made');
  cannot('decide', 'ApprovalRequest', { subjectUserIds: userId }).because('nobody approves a change to their own access');
}

export const rolePermissions: Record<Role, (can: Can, cannot: Cannot, userId: string) => void> = {
  admin: (can) => {
    can('manage', ['Directory', 'Connector', 'Policy', 'Flow', 'ApiToken', 'User']);
    can(['read', 'retry', 'cancel'], 'Run');
    can('read', ['ApprovalRequest', 'AccessRequest', 'Identity', 'System']);
    can('cancel', 'AccessRequest');
    // Register credentials, set their owners and max age, stop managing them, rotate them.
    can(['read', 'create', 'update', 'delete', 'rotate'], 'Credential');
  },

  // Deciding is every person's, where a policy makes them eligible (personPermissions); policies
  // name this role for the security team's stages. The role adds reading what they review.
  'security-approver': (can) => {
    can('read', ['ApprovalRequest', 'AccessRequest', 'Run', 'Identity', 'Policy', 'Flow', 'Credential']);
    // A flow run's plan (its blast radius) is theirs to approve too.
    can('decide', 'Flow');
  },

  auditor: (can) => {
    can(['read', 'verify'], 'LedgerEntry');
    can(['read', 'export'], 'Evidence');
    can('read', 'Credential');
  },

  'nhi-owner': (can, _cannot, userId) => {
    can(['read', 'rotate'], 'Credential', { ownerIds: userId });
  },
};
