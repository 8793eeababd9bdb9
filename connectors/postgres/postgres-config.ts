// Configuration of a PostgreSQL connector instance: where the cluster is, the connector's own login
// (its password is a secret, kept in Vault), and which schemas' table privileges are entitlements.
import { z } from 'zod';
import { defineConnectorConfig, endpoint, secret } from '../spi/config-schema.js';
import { OBJECT_CLASS_KINDS } from '../spi/records.js';

export const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;

const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a plain SQL name (letters, digits, _ and $)');

/** A table or view whose rows sync flows read, and write only where `writable` says so. */
export const postgresObjectClassSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lower case letters, digits, _ and -').describe('How flows name the class'),
    schema: sqlName.default('public'),
    table: sqlName.describe('The table (or view, read only) holding the records'),
    key: z.array(sqlName).min(1).optional().describe("Columns identifying a record (default: the table's primary key); writes need a unique index on exactly these"),
    cursor: sqlName.optional().describe('A NOT NULL column that grows on every change (updated_at, a sequence): reads resume after it. Without one, every read is a full snapshot'),
    kind: z.enum(OBJECT_CLASS_KINDS).default('data').describe('data, or what its rows grant (account, membership, credential, entitlement): writes to those go through the access gate'),
    writable: z.boolean().default(false).describe('Flows may create, update and delete its rows'),
  })
  .strict();
export type PostgresObjectClassConfig = z.output<typeof postgresObjectClassSchema>;

export const postgresConfigSchema = z
  .object({
    host: endpoint(z.string().min(1).describe('Host name or address of the PostgreSQL server')),
    port: endpoint(z.number().int().min(1).max(65535).default(5432)),
    database: z.string().min(1).describe('The database whose table privileges are managed (roles are cluster-wide)'),
    user: z.string().min(1).describe("The connector's login: CREATEROLE, and ADMIN OPTION on the group roles it grants; never a superuser"),
    password: secret(z.string().min(1).describe("The connector's password (kept in Vault)")),
    ssl: endpoint(z.enum(['disable', 'require', 'verify-full']).default('verify-full').describe('require encrypts; verify-full also checks the server certificate and host name')),
    sslRootCert: endpoint(z.string().min(1).optional().describe('PEM CA certificate(s) to verify the server with (verify-full)')),
    managedSchemas: z.array(z.string().min(1)).default(['public']).describe('Schemas whose table privileges are entitlements'),
    tablePrivileges: z.array(z.enum(TABLE_PRIVILEGES)).min(1).default(['SELECT', 'INSERT', 'UPDATE', 'DELETE']),
    ignoredRoles: z.array(z.string().min(1)).default([]).describe('Roles never listed or changed (break-glass accounts, replication)'),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    statementTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    poolSize: z.number().int().min(1).max(20).default(2),
    objectClasses: z.array(postgresObjectClassSchema).max(200).default([]).describe('Tables and views sync flows read and write, each an object class'),
  })
  .strict();

export type PostgresConfig = z.output<typeof postgresConfigSchema>;

export const postgresConfig = defineConnectorConfig('postgresql', postgresConfigSchema);
