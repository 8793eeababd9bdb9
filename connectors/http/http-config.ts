// Configuration of an HTTP/webhook connector: a base URL, how to authenticate (the token or password
// is a secret, kept in Vault), and for each operation the target supports, a declarative request
// whose path, query and body are JSONata expressions, plus the JSONata mapping from the target's
// objects to accounts and entitlements. Operations left out are capabilities the instance lacks.
import { z } from 'zod';
import { defineConnectorConfig, endpoint, secret } from '../spi/config-schema.js';
import { CONNECTOR_ERROR_CODES } from '../spi/errors.js';

const expression = z.string().min(1).max(8000).describe('A JSONata expression');

export const httpRequestSchema = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    path: expression.describe('Evaluates to the path under baseUrl, starting with /'),
    query: expression.optional().describe('Evaluates to an object of query parameters'),
    body: expression.optional().describe('Evaluates to the JSON body'),
    unchangedWhen: expression.optional().describe('Over {status, body}: true when the target already was as asked (changed: false)'),
  })
  .strict();

export const httpListSchema = httpRequestSchema
  .extend({
    items: expression.describe("Over the response body: the page's objects"),
    next: expression.optional().describe('Over the response body: the cursor of the next page, or nothing on the last'),
  })
  .strict();

export const httpConfigSchema = z
  .object({
    baseUrl: endpoint(z.url({ protocol: /^https?$/ }).describe('Every request stays under this URL')),
    auth: z.enum(['none', 'bearer', 'basic', 'header']).default('bearer'),
    token: secret(z.string().min(1).describe('Bearer token, or the value of headerName (kept in Vault)')).optional(),
    username: z.string().min(1).optional(),
    password: secret(z.string().min(1).describe('Basic authentication password (kept in Vault)')).optional(),
    headerName: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name').optional(),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}).describe('Extra headers sent with every request (not secret)'),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    maxResponseBytes: z.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
    pageSize: z.number().int().min(1).max(10_000).default(100),
    probe: httpRequestSchema.optional().describe('The live probe; without it, the first page of accounts'),
    accounts: z
      .object({
        search: httpListSchema,
        get: httpRequestSchema.optional(),
        create: httpRequestSchema.optional(),
        update: httpRequestSchema.optional(),
        enable: httpRequestSchema.optional(),
        disable: httpRequestSchema.optional(),
        delete: httpRequestSchema.optional(),
        map: expression.describe('A target object to {uid, name, enabled?, attributes, entitlements?}'),
      })
      .strict(),
    entitlements: z
      .object({
        search: httpListSchema.optional(),
        map: expression.optional().describe('A target object to {uid, name, kind, description?, privileged?}'),
        grant: httpRequestSchema.optional(),
        revoke: httpRequestSchema.optional(),
      })
      .strict()
      .default({}),
    credentials: z
      .object({
        issue: httpRequestSchema.describe('Issues a new credential beside the current one; over {target: {kind, uid?}, idempotencyKey}'),
        map: expression.describe('Over the issue answer: {"id": the new credential\'s id, "secret": its value}'),
        verify: httpRequestSchema.describe('A request that succeeds only when authenticated, sent with the credential to check; over {target}'),
        revoke: httpRequestSchema.describe('Revokes a credential; over {target, credentialId, idempotencyKey}'),
      })
      .strict()
      .optional()
      .describe('API keys or tokens the system issues, several valid at once: rotation creates the new one beside the old, then revokes the old'),
    errors: z
      .record(z.string().regex(/^[1-5]\d\d$/, 'must be an HTTP status'), z.enum(CONNECTOR_ERROR_CODES))
      .default({})
      .describe('HTTP statuses mapped to named errors, over the defaults (401 InvalidCredential, 403 PermissionDenied, 404 UnknownUid, 409 AlreadyExists, 429/5xx Retryable, other 4xx Rejected)'),
  })
  .strict();

export type HttpConfig = z.output<typeof httpConfigSchema>;
export type HttpRequestConfig = z.output<typeof httpRequestSchema>;
export type HttpListConfig = z.output<typeof httpListSchema>;

export const httpConfig = defineConnectorConfig('http', httpConfigSchema);
