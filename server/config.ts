// Gatehouse's configuration: one zod schema over environment variables (and an optional file),
// parsed once at start. A bad value fails fast with a message naming the variable.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { oidcIssuersSchema } from './auth/oidc-issuer-config.js';
import { parseEgressAllow } from '../connectors/spi/egress.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce
  .number({ message: 'must be a port number' })
  .int('must be a whole number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\/[^\s]+$/.test(v), 'must be a postgres:// or postgresql:// URL')
  .refine((v) => {
    try {
      new URL(v);
      return true;
    } catch {
      return false;
    }
  }, 'is not a valid URL');

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

const hostPort = z.string().regex(/^[^\s:/]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/, 'must be host:port, e.g. temporal.internal:7233');

const nonEmpty = z.string().min(1, 'must not be empty');

/**
 * The schema. Keys are the environment variable names, so an error names exactly what to set.
 * Secrets (tokens, passwords, secret ids) have no defaults.
 */
export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    GATEHOUSE_DATA_DIR: nonEmpty.default('.data'),

    HOST: nonEmpty.default('127.0.0.1'),
    PORT: port.default(8080),
    /** The address people and identity providers use to reach Gatehouse. */
    PUBLIC_URL: httpUrl.optional(),
    /** Run the Temporal worker inside the server process (the default), or only with `npm run worker`. */
    GATEHOUSE_EMBEDDED_WORKER: bool.default(true),

    /** The owner's connection: runs migrations. Unset: embedded PostgreSQL under GATEHOUSE_DATA_DIR. */
    DATABASE_URL: postgresUrl.optional(),
    /** The application role's connection (least privilege). Required in production with DATABASE_URL. */
    DATABASE_APP_URL: postgresUrl.optional(),
    /** The ledger role's connection (gatehouse_ledger): only it writes signed checkpoints. Required with DATABASE_APP_URL. */
    DATABASE_LEDGER_URL: postgresUrl.optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
    EMBEDDED_POSTGRES_PORT: port.default(54329),

    /** A Temporal frontend (host:port). Unset: a local dev server started from the Temporal CLI. */
    TEMPORAL_ADDRESS: hostPort.optional(),
    TEMPORAL_NAMESPACE: nonEmpty.default('default'),
    TEMPORAL_TASK_QUEUE: nonEmpty.default('gatehouse'),
    TEMPORAL_TLS: bool.default(false),
    /** Mutual TLS: the client certificate and key Gatehouse presents (PEM files), and the CA that signed the frontend's. */
    TEMPORAL_TLS_CERT_FILE: nonEmpty.optional(),
    TEMPORAL_TLS_KEY_FILE: nonEmpty.optional(),
    TEMPORAL_TLS_CA_FILE: nonEmpty.optional(),
    TEMPORAL_TLS_SERVER_NAME: nonEmpty.optional(),
    TEMPORAL_API_KEY: nonEmpty.optional(),
    TEMPORAL_CLI_PATH: nonEmpty.optional(),
    TEMPORAL_DEV_PORT: port.default(7233),
    TEMPORAL_DEV_UI_PORT: port.default(8233),

    /** A Vault (or Vault-API) server. Unset: a local Vault server from VAULT_BIN, the PATH or the setup cache. */
    VAULT_ADDR: httpUrl.optional(),
    VAULT_TOKEN: nonEmpty.optional(),
    VAULT_ROLE_ID: nonEmpty.optional(),
    VAULT_SECRET_ID: nonEmpty.optional(),
    VAULT_NAMESPACE: nonEmpty.optional(),
    VAULT_KV_MOUNT: nonEmpty.default('secret'),
    VAULT_TRANSIT_MOUNT: nonEmpty.default('transit'),
    VAULT_BIN: nonEmpty.optional(),
    VAULT_DEV_PORT: port.default(8200),

    /** OpenID Providers people sign in with (README: "Sign-in and roles"). Unset: a one-time admin link at start. */
    OIDC_ISSUERS: oidcIssuersSchema.default([]),
    AUTH_SESSION_MAX_AGE_HOURS: z.coerce.number().positive().max(720).default(12),
    AUTH_SESSION_IDLE_MINUTES: z.coerce.number().positive().max(43_200).default(60),
    AUTH_BOOTSTRAP_LINK_MINUTES: z.coerce.number().int().min(1).max(1440).default(30),
    AUTH_API_TOKEN_MAX_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
    /** Requests per client address per 15 minutes to the sign-in endpoints, and to the API token endpoints. */
    AUTH_SIGN_IN_RATE_LIMIT: z.coerce.number().int().min(1).default(100),
    AUTH_TOKEN_RATE_LIMIT: z.coerce.number().int().min(1).default(120),
    /** Calls per client address per 15 minutes to the flows' inbound webhooks (each refusal is a ledger entry). */
    FLOW_WEBHOOK_RATE_LIMIT: z.coerce.number().int().min(1).default(600),
    /** Failed SCIM authentications per client address per 15 minutes; past it, 429 until the window ends. */
    SCIM_AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).default(30),

    /** Credentials without a max-age policy of their own are reported older than this (no rotation is scheduled for them). */
    /**
     * Addresses, CIDR ranges and host names connectors may reach although the egress policy refuses
     * them (loopback, link-local, unique-local, Gatehouse's own services), comma-separated.
     */
    CONNECTOR_EGRESS_ALLOW: z
      .string()
      .default('')
      .superRefine((v, ctx) => {
        try {
          parseEgressAllow(v.split(','));
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    CREDENTIAL_DEFAULT_MAX_AGE_DAYS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(3650, 'must be at most 3650').default(90),
    /** A credential not used for this many days (where the system tells) is reported unused. */
    INVENTORY_UNUSED_DAYS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(3650, 'must be at most 3650').default(90),
    /** How often every connector's accounts and Vault's metadata are scanned for the inventory. */
    INVENTORY_SCAN_INTERVAL_HOURS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(720, 'must be at most 720').default(24),

    /** How often the identity-event dispatcher looks for new SCIM events when it found none. */
    IDENTITY_EVENT_POLL_MS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(50, 'must be at least 50').max(60_000, 'must be at most 60000').default(500),
    /** How often each connector is reconciled (what Gatehouse applied against what the target holds). */
    RECONCILE_INTERVAL_MINUTES: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(10_080, 'must be at most 10080 (a week)').default(60),

    /** The audit ledger signs a checkpoint after this many new entries... */
    LEDGER_CHECKPOINT_EVERY_ENTRIES: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').default(1000),
    /** ...or this many seconds after the last one, when anything new arrived. */
    LEDGER_CHECKPOINT_INTERVAL_SECONDS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(86_400, 'must be at most 86400 (a day)').default(60),
  })
  .superRefine((c, ctx) => {
    if (!!c.TEMPORAL_TLS_CERT_FILE !== !!c.TEMPORAL_TLS_KEY_FILE) {
      ctx.addIssue({ code: 'custom', path: [c.TEMPORAL_TLS_CERT_FILE ? 'TEMPORAL_TLS_KEY_FILE' : 'TEMPORAL_TLS_CERT_FILE'], message: 'mutual TLS needs both TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE' });
    }
    if (c.VAULT_ADDR && !c.VAULT_TOKEN && !(c.VAULT_ROLE_ID && c.VAULT_SECRET_ID)) {
      ctx.addIssue({ code: 'custom', path: ['VAULT_TOKEN'], message: 'is required with VAULT_ADDR (or set VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole)' });
    }
    if ((c.VAULT_ROLE_ID && !c.VAULT_SECRET_ID) || (!c.VAULT_ROLE_ID && c.VAULT_SECRET_ID)) {
      ctx.addIssue({ code: 'custom', path: [c.VAULT_ROLE_ID ? 'VAULT_SECRET_ID' : 'VAULT_ROLE_ID'], message: 'AppRole needs both VAULT_ROLE_ID and VAULT_SECRET_ID' });
    }
    if (c.DATABASE_APP_URL && !c.DATABASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'is required when DATABASE_APP_URL is set (it runs the migrations)' });
    }
    if (c.DATABASE_APP_URL && !c.DATABASE_LEDGER_URL) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_LEDGER_URL'], message: 'is required when DATABASE_APP_URL is set: the application role may not write the ledger\'s signed checkpoints, the gatehouse_ledger role does' });
    }
    if (c.DATABASE_LEDGER_URL && !c.DATABASE_APP_URL) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_APP_URL'], message: 'is required when DATABASE_LEDGER_URL is set (the ledger role only writes checkpoints)' });
    }
    if (c.NODE_ENV === 'production') {
      for (const key of ['DATABASE_URL', 'DATABASE_APP_URL', 'TEMPORAL_ADDRESS', 'VAULT_ADDR', 'PUBLIC_URL'] as const) {
        if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required when NODE_ENV=production (embedded services are for development only)' });
      }
      // Session cookies are Secure only behind TLS, and an identity provider's answers are trusted only over TLS.
      if (c.PUBLIC_URL && !c.PUBLIC_URL.startsWith('https://')) {
        ctx.addIssue({ code: 'custom', path: ['PUBLIC_URL'], message: 'must be an https:// URL when NODE_ENV=production (session cookies are sent over TLS only)' });
      }
      c.OIDC_ISSUERS.forEach((issuer, i) => {
        if (!issuer.issuer.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['OIDC_ISSUERS', i, 'issuer'], message: 'must be an https:// URL when NODE_ENV=production' });
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

type Source = Record<string, string | undefined>;

/** Reads GATEHOUSE_CONFIG_FILE (YAML or JSON whose keys are the variable names); the environment wins. */
function readConfigFile(file: string): Source {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`GATEHOUSE_CONFIG_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`GATEHOUSE_CONFIG_FILE: ${file} is not valid YAML or JSON (${(err as Error).message.split('\n')[0]})`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([`GATEHOUSE_CONFIG_FILE: ${file} must hold a mapping of variable names to values`]);
  }
  const out: Source = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!(key in configSchema.shape)) {
      throw new ConfigError([`GATEHOUSE_CONFIG_FILE: ${file} sets unknown key ${key}`]);
    }
    // Structured values (OIDC_ISSUERS as a YAML list) reach the schema as the JSON an environment variable would hold.
    if (value !== null && value !== undefined) out[key] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** Parses the configuration. Empty environment variables count as unset. */
export function loadConfig(env: Source = process.env): Config {
  const fromFile = env.GATEHOUSE_CONFIG_FILE ? readConfigFile(env.GATEHOUSE_CONFIG_FILE) : {};
  const merged: Source = { ...fromFile };
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || 'config'} ${i.message}`));
  }
  return result.data;
}

export function dataDir(config: Pick<Config, 'GATEHOUSE_DATA_DIR'>, ...parts: string[]): string {
  return path.resolve(config.GATEHOUSE_DATA_DIR, ...parts);
}

/** The URL people use to reach this server. */
export function publicUrl(config: Pick<Config, 'PUBLIC_URL' | 'PORT'>, actualPort?: number): string {
  return (config.PUBLIC_URL ?? `http://localhost:${actualPort ?? config.PORT}`).replace(/\/$/, '');
}
