// Configuration of an LDAP connector instance: the directory, the service account (its password is a
// secret, kept in Vault), where accounts and groups live, and how an account is disabled.
import { z } from 'zod';
import { defineConnectorConfig, endpoint, secret } from '../spi/config-schema.js';

const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'must be an LDAP attribute name');

export const ldapConfigSchema = z
  .object({
    url: endpoint(z.string().regex(/^ldaps?:\/\/[^\s/]+\/?$/, 'must be ldap://host[:port] or ldaps://host[:port]')),
    startTls: endpoint(z.boolean().default(false).describe('Upgrade an ldap:// connection with StartTLS before binding')),
    tlsCa: endpoint(z.string().min(1).optional().describe('PEM CA certificate(s) that sign the directory certificate')),
    bindDn: z.string().min(1).describe("The connector's service account"),
    bindPassword: secret(z.string().min(1).describe("The service account's password (kept in Vault)")),
    usersDn: z.string().min(1).describe('Where accounts are created and searched (subtree)'),
    groupsDn: z.string().min(1).describe('Where groups are searched (subtree)'),
    accountObjectClasses: z.array(z.string().min(1)).min(1).default(['inetOrgPerson']),
    accountNameAttribute: attributeName.default('uid').describe("The account's name and the attribute of its RDN"),
    groupObjectClass: z.string().min(1).default('groupOfNames'),
    groupNameAttribute: attributeName.default('cn'),
    memberAttribute: attributeName.default('member'),
    emptyGroupPlaceholder: z
      .string()
      .min(1)
      .default('cn=gatehouse-empty-group-placeholder')
      .describe('groupOfNames needs a member; this DN (of no entry) holds the place of the last one revoked'),
    disableAttribute: attributeName.default('pwdAccountLockedTime').describe('Set to disableValue to disable an account, removed to enable it'),
    disableValue: z.string().min(1).default('000001010000Z').describe('With ppolicy (pwdLockout TRUE), 000001010000Z locks until an administrator unlocks'),
    privilegedGroups: z.array(z.string().min(1)).default([]).describe('Group names whose members hold administrative power'),
    excludedAttributes: z.array(attributeName).default(['jpegPhoto', 'photo', 'audio', 'userCertificate', 'userSMIMECertificate', 'userPKCS12']),
    pageSize: z.number().int().min(1).max(5000).default(500),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  })
  .strict();

export type LdapConfig = z.output<typeof ldapConfigSchema>;

export const ldapConfig = defineConnectorConfig('ldap', ldapConfigSchema);
