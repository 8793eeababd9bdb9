// API tokens as the API shows them (never the token itself, except once at creation), and the
// request that creates one.
import { z } from 'zod';
import { tokenScopesSchema } from '../../policies/token-scopes.js';

export const apiTokenSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  /** The token's first characters, to tell tokens apart; not enough to use it. */
  hint: z.string(),
  scopes: z.array(z.string()),
  createdBy: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
  revokedBy: z.string().nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
});

export type ApiTokenView = z.infer<typeof apiTokenSchema>;

export const createApiTokenSchema = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
    scopes: tokenScopesSchema,
    /** Default: 90 days, or AUTH_API_TOKEN_MAX_DAYS when that is shorter. */
    expiresInDays: z.number().int('must be a whole number of days').min(1, 'must be at least 1').optional(),
  })
  .strict();

export const createdApiTokenSchema = apiTokenSchema.extend({
  /** The token. Shown this once: Gatehouse keeps only its hash. */
  token: z.string(),
});

/** Every API token starts with this, so secret scanners and people can recognise one. */
export const API_TOKEN_PREFIX = 'gatehouse_';
