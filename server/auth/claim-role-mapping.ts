// Maps an OpenID Provider's group or role claim to Gatehouse roles, as the issuer's configuration
// says. Pure, so it is tested by itself and every replica maps the same person the same way.
import { ROLES, type Role } from '../../shared/auth/permissions.js';
import type { OidcIssuerConfig } from './oidc-issuer-config.js';

/** The claim's values: a dotted path reaches nested claims (Keycloak's realm_access.roles). */
export function claimValues(claims: Record<string, unknown>, path: string): string[] {
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
    value = (value as Record<string, unknown>)[key];
  }
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** Every role one of whose configured values the person's claim holds; none when nothing matches. */
export function rolesFromClaims(claims: Record<string, unknown>, issuer: Pick<OidcIssuerConfig, 'rolesClaim' | 'roles'>): Role[] {
  const held = new Set(claimValues(claims, issuer.rolesClaim));
  return ROLES.filter((role) => (issuer.roles[role] ?? []).some((value) => held.has(value)));
}
