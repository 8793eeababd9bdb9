// The connector SPI's named errors: the small, fixed set every connector maps its system's failures
// to, so the core, the activities and the workflows can act on a failure without knowing the system.
// Messages and details never carry secrets or the raw client error (which may hold a request).

export const CONNECTOR_ERROR_CODES = [
  'AlreadyExists',
  'UnknownUid',
  'InvalidCredential',
  'ConnectionFailed',
  'Retryable',
  'PermissionDenied',
  'Rejected',
] as const;
export type ConnectorErrorCode = (typeof CONNECTOR_ERROR_CODES)[number];

export interface ConnectorErrorOptions {
  /** Safe, system-specific facts: a SQLSTATE, an LDAP result code, an HTTP status. Never a secret. */
  details?: Record<string, string | number | boolean>;
}

export abstract class ConnectorError extends Error {
  abstract readonly code: ConnectorErrorCode;
  readonly details: Record<string, string | number | boolean>;

  constructor(message: string, options: ConnectorErrorOptions = {}) {
    super(message);
    this.details = options.details ?? {};
  }

  /** Only a transient failure is worth repeating unchanged; every other one needs a decision. */
  get retryable(): boolean {
    return this.code === 'Retryable';
  }
}

/** The object to create is already there (same name or unique attribute). */
export class AlreadyExists extends ConnectorError {
  readonly code = 'AlreadyExists';
  override readonly name = 'AlreadyExists';
}

/** The account, entitlement or object named by its uid does not exist in the target. */
export class UnknownUid extends ConnectorError {
  readonly code = 'UnknownUid';
  override readonly name = 'UnknownUid';
}

/** The target refused the connector's credentials (wrong password, expired or revoked token). */
export class InvalidCredential extends ConnectorError {
  readonly code = 'InvalidCredential';
  override readonly name = 'InvalidCredential';
}

/** The target could not be reached at all: refused, unresolvable, or it does not answer. */
export class ConnectionFailed extends ConnectorError {
  readonly code = 'ConnectionFailed';
  override readonly name = 'ConnectionFailed';
}

/** A transient failure after the target was reached (busy, timeout, conflict, lost connection). */
export class Retryable extends ConnectorError {
  readonly code = 'Retryable';
  override readonly name = 'Retryable';
}

/** The connector's own login may not do this (missing privilege, ACL, token scope). */
export class PermissionDenied extends ConnectorError {
  readonly code = 'PermissionDenied';
  override readonly name = 'PermissionDenied';
}

/**
 * The target refused the change under its own rules: a schema or constraint violation, a value it
 * does not accept, dependent objects. Nothing was changed; the message says which rule.
 */
export class Rejected extends ConnectorError {
  readonly code = 'Rejected';
  override readonly name = 'Rejected';
}

export const isConnectorError = (err: unknown): err is ConnectorError => err instanceof ConnectorError;
