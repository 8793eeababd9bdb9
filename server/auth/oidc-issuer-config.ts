// How an OpenID Provider is configured (OIDC_ISSUERS): where it is, the client Gatehouse is there,
// and which claim values make someone a Gatehouse admin, approver, auditor or NHI owner.
import { z } from 'zod';
import { ROLES, type Role } from '../../shared/auth/permissions.js';

const url = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}, 'must be an https:// URL (http:// outside production), the issuer identifier');

export const oidcIssuerSchema = z
  .object({
    /** Short name used in URLs (/api/auth/oidc/<id>/sign-in). */
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or dashes'),
    /** Shown on the sign-in button. */
    name: z.string().min(1).max(80).optional(),
    /** The issuer identifier; its /.well-known/openid-configuration is discovered. */
    issuer: url,
    clientId: z.string().min(1, 'must not be empty'),
    /** No default: a confidential client's secret comes from the operator. */
    clientSecret: z.string().min(1, 'must not be empty').optional(),
    clientAuth: z.enum(['client_secret_basic', 'client_secret_post', 'none']).default('client_secret_basic'),
    scopes: z.string().default('openid email profile'),
    /** The claim holding group or role names; a dotted path reaches nested claims (realm_access.roles). */
    rolesClaim: z.string().min(1).default('groups'),
    /** Gatehouse role -> the claim values that grant it. A person holding none of them has no role. */
    roles: z
      .record(z.string(), z.array(z.string().min(1)))
      .superRefine((roles, ctx) => {
        for (const key of Object.keys(roles)) {
          if (!(ROLES as readonly string[]).includes(key)) ctx.addIssue({ code: 'custom', path: [key], message: `is not a Gatehouse role (${ROLES.join(', ')})` });
        }
      })
      .transform((roles) => roles as Partial<Record<Role, string[]>>)
      .default({}),
    /** Also read claims from the UserInfo endpoint (where the provider keeps groups out of the ID token). */
    userinfo: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.clientAuth !== 'none' && !c.clientSecret) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `is required with clientAuth ${c.clientAuth} (or set clientAuth "none" for a public client)` });
    }
    if (!c.scopes.split(/\s+/).includes('openid')) ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'must include openid' });
  });

export type OidcIssuerConfig = z.infer<typeof oidcIssuerSchema>;

/** OIDC_ISSUERS: a JSON array (or, in the config file, a YAML list) of issuers with distinct ids. */
export const oidcIssuersSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of issuers' });
      return z.NEVER;
    }
  })
  .pipe(z.array(oidcIssuerSchema))
  .superRefine((issuers, ctx) => {
    const seen = new Set<string>();
    issuers.forEach((issuer, i) => {
      if (seen.has(issuer.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `${issuer.id} is used twice` });
      seen.add(issuer.id);
    });
  });
