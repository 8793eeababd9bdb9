// A one-time admin sign-in link, for the first start before any OpenID Provider is configured:
// its SHA-256, its expiry, and when it was used (once).
import { defineEntity, p } from '@mikro-orm/core';

export const BootstrapLink = defineEntity({
  name: 'BootstrapLink',
  tableName: 'auth_bootstrap_link',
  properties: {
    id: p.uuid().primary(),
    tokenHash: p.text().unique(),
    createdBy: p.text(),
    createdAt: p.datetime().onCreate(() => new Date()),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  },
});
