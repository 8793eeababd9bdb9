// JSON logs through pino. Secret-bearing fields are redacted wherever they appear, at any depth and
// in errors' own fields too, so a careless `log.info({ config })` or `log.error({ err })` cannot leak a
// token.
import { pino, type Logger, type LoggerOptions } from 'pino';

/** Field names (in any case) whose values never reach a log line, at any depth. */
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
  'DATABASE_LEDGER_URL',
  'OIDC_ISSUERS',
  'csrfToken',
  'codeVerifier',
  'set-cookie',
];

const SECRET_KEYS = new Set(SECRET_FIELD_NAMES.map((n) => n.toLowerCase()));
const CENSOR = '[redacted]';
const MAX_DEPTH = 24;

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of what is logged with every secret-named field censored, however deep. pino's own redact
 * takes fixed paths only (`*.*.token` is as deep as they go), so the walk is ours. An error is copied
 * as an error of the same class (for pino's err serializer) with its own fields and its cause
 * censored the same way: an HTTP library's error carries the request's headers. Other class
 * instances (Dates, Buffers, streams) are left for their serializers.
 */
export function redactSecrets(value: unknown, path: object[] = []): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (path.includes(value)) return '[circular]';
  if (path.length >= MAX_DEPTH) return '[too deep]';
  const isError = value instanceof Error;
  if (!Array.isArray(value) && !isError && !isPlain(value)) return value;
  path.push(value);
  try {
    if (Array.isArray(value)) return value.map((v) => redactSecrets(v, path));
    const out: Record<string, unknown> = isError ? Object.create(Object.getPrototypeOf(value)) : {};
    if (isError) {
      for (const key of ['message', 'stack', 'cause'] as const) {
        if (key in value) Object.defineProperty(out, key, { value: key === 'cause' ? redactSecrets(value.cause, path) : value[key], writable: true, configurable: true });
      }
    }
    for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEYS.has(key.toLowerCase()) ? CENSOR : redactSecrets(v, path);
    return out;
  } finally {
    path.pop();
  }
}

// What serializers produce is logged after the walk above: the request log's headers are censored here.
const SERIALIZED_SECRET_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'];

export function createLogger(options: { level: string; name?: string; destination?: NodeJS.WritableStream } ): Logger {
  const opts: LoggerOptions = {
    level: options.level,
    base: { service: options.name ?? 'gatehouse' },
    redact: { paths: SERIALIZED_SECRET_PATHS, censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => redactSecrets(object) as Record<string, unknown>,
      bindings: (bindings) => redactSecrets(bindings) as Record<string, unknown>,
    },
  };
  const logger = options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
  // pino applies the bindings formatter to the root's bindings only; a child's (`log.child({ connector })`)
  // are censored here. Children inherit this from the root, so grandchildren are too.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings) as typeof bindings, childOptions);
  } as Logger['child'];
  return logger;
}

export type { Logger };
