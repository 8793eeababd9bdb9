// HTTP to a SCIM service provider: bearer token, application/scim+json, bounded answers, no
// redirects, and every refusal turned into one of the SPI's named errors by its status and SCIM
// `scimType`. The provider's `detail` is kept (it names the attribute at fault) with anything
// secret that was sent cut out, since some providers echo what they were given.
import {
  AlreadyExists,
  ConnectionFailed,
  InvalidCredential,
  PermissionDenied,
  Rejected,
  Retryable,
  UnknownUid,
  type ConnectorError,
} from '../spi/errors.js';
import { createGuardedFetch, environmentEgress, type EgressGuard } from '../spi/egress.js';
import type { ScimConfig } from './scim-config.js';

export interface ScimAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
  etag: string | undefined;
}

export interface ScimRequest {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  ifMatch?: string;
  idempotencyKey?: string;
  /** Values sent in this request that must never appear in an error message (a password). */
  secrets?: string[];
}

type ErrorClass = new (message: string, options?: { details?: Record<string, string | number | boolean> }) => ConnectorError;

function errorClassOf(status: number, scimType: string | undefined): ErrorClass {
  if (status === 401) return InvalidCredential;
  if (status === 403) return PermissionDenied;
  if (status === 404 || status === 410) return UnknownUid;
  if (status === 409) return scimType === 'uniqueness' || scimType === undefined ? AlreadyExists : Retryable;
  // A lost ETag race or a busy provider: the same request may well succeed in a moment.
  if (status === 412 || status === 408 || status === 429 || status >= 500) return status === 501 ? Rejected : Retryable;
  return Rejected;
}

export function createScimClient(config: ScimConfig, label: string, egress: EgressGuard = environmentEgress()) {
  // Every request goes through the egress guard: the host judged, the address it judged connected to.
  const http = createGuardedFetch(egress, label);
  const base = new URL(config.baseUrl);
  const basePath = base.pathname.replace(/\/$/, '');

  async function readBody(res: Response): Promise<Record<string, unknown> | undefined> {
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > config.maxResponseBytes) throw new Rejected(`${label}: the response is larger than ${config.maxResponseBytes} bytes`);
    const buf = Buffer.from(await res.arrayBuffer());
    if (buf.length > config.maxResponseBytes) throw new Rejected(`${label}: the response is larger than ${config.maxResponseBytes} bytes`);
    if (!buf.length) return undefined;
    try {
      const parsed = JSON.parse(buf.toString('utf8')) as unknown;
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  const redact = (text: string, secrets: string[]) => secrets.filter((s) => s.length >= 4).reduce((t, s) => t.split(s).join('[redacted]'), text);

  return {
    close: () => http.close(),
    /** `path` is built by the connector from fixed segments and encoded ids, always under the base URL. */
    async send(action: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, request: ScimRequest = {}): Promise<ScimAnswer> {
      const url = new URL(`${base.origin}${basePath}${path}`);
      // An id a provider returned could be `..`: whatever the path became, it must stay under the base URL.
      if (url.origin !== base.origin || !url.pathname.startsWith(`${basePath}/`)) {
        throw new Rejected(`${label}: ${action}: ${JSON.stringify(path.slice(0, 80))} would leave the base URL ${base.origin}${basePath}; nothing was sent`);
      }
      for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      const headers: Record<string, string> = {
        accept: 'application/scim+json, application/json',
        authorization: `Bearer ${config.token}`,
        ...(request.body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
        ...(request.ifMatch ? { 'if-match': request.ifMatch } : {}),
        ...(request.idempotencyKey ? { 'idempotency-key': request.idempotencyKey } : {}),
      };
      const where = `${method} ${url.pathname}`;
      let res: Response;
      try {
        res = await http.fetch(url, {
          method,
          headers,
          ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
          redirect: 'manual',
          signal: AbortSignal.timeout(config.timeoutMs),
        });
      } catch (err) {
        if (err instanceof ConnectionFailed) throw err; // the egress policy refused, and says why
        const e = err as { name?: string; cause?: { code?: string } };
        if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new Retryable(`${label}: ${action}: ${where} did not answer within ${config.timeoutMs} ms`);
        const code = e.cause?.code ?? '';
        if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code)) throw new Retryable(`${label}: ${action}: the connection to ${where} was lost (${code})`);
        throw new ConnectionFailed(`${label}: ${action}: cannot reach ${url.origin}${url.pathname}${code ? ` (${code})` : ''}`, code ? { details: { code } } : {});
      }
      const body = await readBody(res);
      if (res.status >= 300) {
        const scimType = typeof body?.scimType === 'string' ? body.scimType : undefined;
        const detail = typeof body?.detail === 'string' ? redact(body.detail, [config.token, ...(request.secrets ?? [])]).slice(0, 300) : undefined;
        const Err = res.status < 400 ? Rejected : errorClassOf(res.status, scimType);
        throw new Err(`${label}: ${action}: ${where} answered ${res.status}${scimType ? ` ${scimType}` : ''}${detail ? `: ${detail}` : res.status < 400 ? ' (redirects are not followed)' : ''}`, {
          details: { httpStatus: res.status, ...(scimType ? { scimType } : {}) },
        });
      }
      return { status: res.status, body, etag: res.headers.get('etag') ?? undefined };
    },
  };
}

export type ScimClient = ReturnType<typeof createScimClient>;
