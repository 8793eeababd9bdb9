// The API's one error renderer: GatehouseError becomes its status with a body naming the code, the
// message and the field; a CASL refusal becomes 403 naming the action and the subject; anything else
// is a 500 whose details stay in the log.
import type { ErrorRequestHandler, Request, Response, NextFunction } from 'express';
import { ForbiddenError } from '@casl/ability';
import { ZodError } from 'zod';
import { GatehouseError } from '../../shared/errors.js';
import type { Logger } from '../logger.js';

export interface ErrorBody {
  error: { code: string; message: string; field?: string; requestId?: string; details?: Record<string, unknown> };
}

export function toGatehouseError(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  if (err instanceof ForbiddenError) {
    return new GatehouseError('forbidden', err.message, { details: { action: String(err.action), subject: err.subjectType } });
  }
  if (err instanceof ZodError) {
    const issue = err.issues[0]!;
    // An unknown key (a strict schema) is named itself, not its parent object.
    const path = issue.code === 'unrecognized_keys' && issue.keys[0] ? [...issue.path, issue.keys[0]] : issue.path;
    const field = path.join('.') || 'body';
    return new GatehouseError('invalid_request', `${field}: ${issue.message}`, { field });
  }
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
  // body-parser's failures: malformed JSON, too large, unsupported charset.
  if (e.type === 'entity.parse.failed') return new GatehouseError('invalid_request', 'body: is not valid JSON', { field: 'body' });
  if (e.type === 'entity.too.large') return new GatehouseError('payload_too_large', 'body: is larger than this endpoint accepts', { field: 'body' });
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return new GatehouseError('invalid_request', 'body: unsupported encoding', { field: 'body' });
  return new GatehouseError('internal', 'internal error', { cause: err });
}

export interface ErrorMiddlewareOptions {
  /** Told of every refusal (403) before it is rendered, so each one can be recorded. */
  onRefused?: (req: Request, error: GatehouseError) => Promise<void>;
}

export function errorMiddleware(log: Logger, options: ErrorMiddlewareOptions = {}): ErrorRequestHandler {
  return async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const ge = toGatehouseError(err);
    const requestId = (req as { id?: unknown }).id as string | undefined;
    if (ge.status >= 500) log.error({ err, requestId, path: req.path }, 'request failed');
    if (ge.status === 403 && options.onRefused) {
      // The refusal stands whether or not it could be recorded; a failure to record it is logged.
      await options.onRefused(req, ge).catch((recordErr: unknown) => log.error({ err: recordErr, requestId }, 'recording a refusal failed'));
    }
    const body: ErrorBody = {
      error: {
        code: ge.code,
        message: ge.message,
        ...(ge.field ? { field: ge.field } : {}),
        ...(requestId ? { requestId } : {}),
        ...(ge.details && ge.status < 500 ? { details: ge.details } : {}),
      },
    };
    res.status(ge.status).json(body);
  };
}
