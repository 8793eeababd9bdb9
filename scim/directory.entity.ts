// A directory: one identity-provider connection, and the tenant every SCIM resource belongs to.
import { defineEntity, p } from '@mikro-orm/core';

export const Directory = defineEntity({
  name: 'Directory',
  tableName: 'scim_directory',
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    signInIssuers: p.array().fieldName('sign_in_issuers').default([]),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
