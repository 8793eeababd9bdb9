// JSON logs through pino. Secret-bearing fields are redacted wherever they appear, so a careless
// `log.info({ config })` cannot leak a token.
import { pino, type Logger, type LoggerOptions } from 'pino';

/** Field names whose values never reach a log line, at any depth we redact. */
export const SECRET_FIELD_NAMES = [
  'password',
  'passwd',
  'secret',
  'secretId',
  'secret_id',
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'apiKey',
  'clientSecret',
  'privateKey',
  'authorization',
  'cookie',
  'VAULT_TOKEN',
  'VAULT_SECRET_ID',
  'TEMPORAL_API_KEY',
  'DATABASE_URL',
  'DATABASE_APP_URL',
  'OIDC_ISSUERS',
  'csrfToken',
  'codeVerifier',
];

function redactPaths(): string[] {
  const paths: string[] = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'];
  for (const name of SECRET_FIELD_NAMES) {
    paths.push(name, `*.${name}`, `*.*.${name}`);
  }
  return paths;
}

export function createLogger(options: { level: string; name?: string; destination?: NodeJS.WritableStream } ): Logger {
  const opts: LoggerOptions = {
    level: options.level,
    base: { service: options.name ?? 'gatehouse' },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

export type { Logger };
