// A directory's bearer token, as stored: its SHA-256 hash and bookkeeping, never the token itself.
import { defineEntity, p } from '@mikro-orm/core';

export const DirectoryToken = defineEntity({
  name: 'DirectoryToken',
  tableName: 'scim_directory_token',
  properties: {
    id: p.uuid().primary(),
    directoryId: p.uuid(),
    tokenHash: p.blob(),
    /** The token's last four characters, to tell tokens apart in lists. */
    hint: p.text(),
    label: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});
