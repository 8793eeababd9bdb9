// Gatehouse's one error taxonomy. Services throw these; the HTTP layer renders them (the API as
// JSON problem bodies, SCIM as the SCIM error schema) and the CLI prints their message.

export type ErrorCode =
  | 'invalid_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'payload_too_large'
  | 'rate_limited'
  | 'dependency_unavailable'
  | 'internal';

const statusOf: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  rate_limited: 429,
  dependency_unavailable: 503,
  internal: 500,
};

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The input field the error is about, as the caller named it (a JSON path or parameter). */
  readonly field?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { field?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = statusOf[code];
    if (options.field !== undefined) this.field = options.field;
    if (options.details !== undefined) this.details = options.details;
  }
}

export const invalid = (field: string, message: string, details?: Record<string, unknown>) =>
  new GatehouseError('invalid_request', `${field}: ${message}`, { field, ...(details ? { details } : {}) });

export const notFound = (what: string, id: string) => new GatehouseError('not_found', `${what} ${id} was not found`);

export const conflict = (message: string, field?: string) =>
  new GatehouseError('conflict', message, field === undefined ? {} : { field });

export const dependencyUnavailable = (dependency: string, message: string, cause?: unknown) =>
  new GatehouseError('dependency_unavailable', `${dependency}: ${message}`, { details: { dependency }, cause });
