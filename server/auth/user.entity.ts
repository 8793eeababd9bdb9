// A person who signs in to Gatehouse: one record per OpenID Provider subject (issuer + subject),
// kept so approvals, tokens and the ledger can name who acted.
import { defineEntity, p } from '@mikro-orm/core';

export const GatehouseUser = defineEntity({
  name: 'GatehouseUser',
  tableName: 'gatehouse_user',
  properties: {
    id: p.uuid().primary(),
    /** The issuer identifier (the `iss` claim), or urn:gatehouse:bootstrap for the first admin. */
    issuer: p.text(),
    subject: p.text(),
    email: p.text().nullable(),
    displayName: p.text().nullable(),
    /** The roles the last sign-in mapped from the provider's claims. */
    roles: p.array(),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastSignInAt: p.datetime().nullable(),
    disabledAt: p.datetime().nullable(),
    disabledBy: p.text().nullable(),
  },
});
