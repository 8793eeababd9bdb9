// Turns a Principal into its CASL ability on the admin plane: a person's roles, a token's scopes,
// or Gatehouse itself. Pure: no I/O, so any replica computes the same answer.
import { AbilityBuilder, createMongoAbility } from '@casl/ability';
import type { AdminAbility, Permission, Principal } from '../shared/auth/permissions.js';
import { personLimits, personPermissions, rolePermissions } from './role-permissions.js';
import { parsePermission } from './token-scopes.js';

export function adminAbilityFor(principal: Principal): AdminAbility {
  const builder = new AbilityBuilder<AdminAbility>(createMongoAbility);
  const { can, cannot } = builder;
  switch (principal.kind) {
    case 'system':
      can('manage', 'all');
      break;
    case 'human':
      personPermissions(can, principal.id);
      for (const role of principal.roles) rolePermissions[role](can, cannot, principal.id);
      personLimits(cannot, principal.id);
      break;
    case 'token':
      // A token holds exactly its scopes, never conditions and never a role's rules.
      for (const scope of principal.scopes ?? []) {
        const parsed = parsePermission(scope);
        if (parsed) can(parsed.action, parsed.subject);
      }
      break;
  }
  return builder.build();
}

/**
 * Whether the ability allows this permission on every instance of the subject, as a token would
 * hold it. A conditional rule (an nhi-owner's own credentials) does not count, and neither does a
 * permission some `cannot` rule narrows. Used so a caller cannot hand a token more than they hold.
 */
export function holdsUnconditionally(ability: AdminAbility, permission: Permission): boolean {
  const parsed = parsePermission(permission);
  if (!parsed) return false;
  for (const rule of ability.rulesFor(parsed.action, parsed.subject)) {
    if (rule.inverted) return false;
    if (!rule.conditions) return true;
  }
  return false;
}
