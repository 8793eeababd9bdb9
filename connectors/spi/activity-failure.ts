// How a connector failure leaves an activity: as a Temporal ApplicationFailure whose type is the
// named error. Retryable is retried by the activity's retry policy; every other named error is
// non-retryable, so the workflow decides (compensate, ask a person, give up) instead of hammering
// a target that said no. Workflows compare `failure.type` with ConnectorFailureType (import type).
import { ApplicationFailure } from '@temporalio/common';
import { GatehouseError } from '../../shared/errors.js';
import { SecretConflictError, SecretStoreUnavailableError } from '../../shared/secrets/secret-store.js';
import { ConnectorError, type ConnectorErrorCode } from './errors.js';

export type ConnectorFailureType =
  | ConnectorErrorCode
  /** Vault could not be reached or was sealed: retried, the change has not been attempted. */
  | 'SecretStoreUnavailable'
  /** A check-and-set on the connector's secret lost a race: non-retryable, re-read and decide. */
  | 'SecretConflict'
  /** Gatehouse refused before calling the target (bad input, unsupported operation, unknown instance). */
  | 'GatehouseRefused';

export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ConnectorError) {
    return ApplicationFailure.create({
      type: err.code satisfies ConnectorFailureType,
      message: err.message,
      nonRetryable: !err.retryable,
      details: [{ code: err.code, ...err.details }],
    });
  }
  if (err instanceof SecretStoreUnavailableError) {
    return ApplicationFailure.create({ type: 'SecretStoreUnavailable' satisfies ConnectorFailureType, message: err.message, nonRetryable: false });
  }
  if (err instanceof SecretConflictError) {
    return ApplicationFailure.create({ type: 'SecretConflict' satisfies ConnectorFailureType, message: err.message, nonRetryable: true });
  }
  if (err instanceof GatehouseError) {
    // dependency_unavailable (our database, Vault) is worth retrying; a refusal is not.
    const retryable = err.code === 'dependency_unavailable' || err.code === 'internal';
    return ApplicationFailure.create({
      type: 'GatehouseRefused' satisfies ConnectorFailureType,
      message: err.message,
      nonRetryable: !retryable,
      details: [{ code: err.code, ...(err.field ? { field: err.field } : {}) }],
    });
  }
  // Anything else is a bug or an unforeseen failure: the activity's retry policy applies.
  return err;
}

/** Runs connector work inside an activity, turning its failures into the mapped Temporal failures. */
export async function asConnectorActivity<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toActivityFailure(err);
  }
}
