// Configuration of a SCIM 2.0 outbound connector: the service provider's base URL and its bearer
// token (a secret, kept in Vault), paging, and which of its groups hold administrative power.
import { z } from 'zod';
import { defineConnectorConfig, endpoint, secret } from '../spi/config-schema.js';

export const scimConfigSchema = z
  .object({
    baseUrl: endpoint(z.url({ protocol: /^https?$/ }).describe('The service provider\'s SCIM base URL, e.g. https://app.example.com/scim/v2; every request stays under it')),
    token: secret(z.string().min(1).describe('The bearer token the service provider issued to Gatehouse (kept in Vault)')),
    pageSize: z.number().int().min(1).max(1000).default(100).describe('count per listing request (the provider may answer fewer)'),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    maxResponseBytes: z.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
    /** Whether to send enterprise attributes (department, employeeNumber, manager, …); some providers refuse the extension. */
    enterpriseExtension: z.boolean().default(true).describe('Send and read the enterprise User extension (department, manager, …)'),
    privilegedGroups: z.array(z.string().min(1)).default([]).describe('Group names (displayName) whose members hold administrative power'),
  })
  .strict();

export type ScimConfig = z.output<typeof scimConfigSchema>;

export const scimConfig = defineConnectorConfig('scim', scimConfigSchema);
