// Request ids and one log line per request. Written here rather than with pino-http, which builds a
// child logger (with its redaction) for every request, even when the line is never written: on the
// SCIM lookup path that was a third of the server's time per request.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** OAuth values and SCIM filters (which hold user names) never reach the log. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:code|state|token|id_token|filter)=)[^&]*/gi, '$1[redacted]');
}

/** Connect-style, so it runs in front of Express's routes and of the protocol handlers alike. */
export function requestLog(log: Logger): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    // A caller's request id is kept when it is well formed, so traces join up across systems.
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    (req as { id?: string }).id = id;
    res.setHeader('X-Request-Id', id);
    if (req.url === '/healthz' || req.url === '/readyz') return next();
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
      if (!log.isLevelEnabled(level)) return;
      log[level](
        {
          req: { id, method: req.method, url: redactUrl((req as { originalUrl?: string }).originalUrl ?? req.url ?? '') },
          res: { statusCode: status },
          responseTime: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        },
        'request completed',
      );
    });
    next();
  };
}
