// An API token for automation: its SHA-256 (the token itself is shown once), the permissions it is
// scoped to, and its life: expiry, revocation, last use.
import { defineEntity, p } from '@mikro-orm/core';

export const ApiToken = defineEntity({
  name: 'ApiToken',
  tableName: 'api_token',
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    tokenHash: p.text().unique(),
    /** The first characters of the token's random part, so people can tell tokens apart. */
    hint: p.text(),
    scopes: p.array(),
    /** The principal that created it: a user id, or cli:<operator> for the command line. */
    createdBy: p.text(),
    createdAt: p.datetime().onCreate(() => new Date()),
    expiresAt: p.datetime(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    revokedBy: p.text().nullable(),
  },
});
