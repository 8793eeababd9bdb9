// The mapping from connector failures to Temporal failures that activities throw: only Retryable
// (and an unavailable Vault) is retried; every other named error stops the retries and carries
// its name as the failure type for the workflow to act on.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../../shared/errors.js';
import { SecretConflictError, SecretStoreUnavailableError } from '../../shared/secrets/secret-store.js';
import { asConnectorActivity, toActivityFailure } from './activity-failure.js';
import { AlreadyExists, ConnectionFailed, InvalidCredential, PermissionDenied, Rejected, Retryable, UnknownUid } from './errors.js';

describe('connector failures in activities', () => {
  it('retries Retryable and stops on every other named error, keeping its name and details', () => {
    const cases = [
      [new Retryable('busy', { details: { sqlstate: '40001' } }), 'Retryable', false],
      [new AlreadyExists('taken'), 'AlreadyExists', true],
      [new UnknownUid('gone'), 'UnknownUid', true],
      [new InvalidCredential('no'), 'InvalidCredential', true],
      [new ConnectionFailed('down'), 'ConnectionFailed', true],
      [new PermissionDenied('denied'), 'PermissionDenied', true],
      [new Rejected('refused'), 'Rejected', true],
    ] as const;
    for (const [err, type, nonRetryable] of cases) {
      const f = toActivityFailure(err) as ApplicationFailure;
      expect(f).toBeInstanceOf(ApplicationFailure);
      expect({ type: f.type, nonRetryable: f.nonRetryable, message: f.message }).toEqual({ type, nonRetryable, message: err.message });
      expect(f.details?.[0]).toMatchObject({ code: type, ...err.details });
    }
  });

  it('retries an unavailable Vault, not a lost check-and-set or a refusal by Gatehouse', () => {
    expect(toActivityFailure(new SecretStoreUnavailableError('sealed'))).toMatchObject({ type: 'SecretStoreUnavailable', nonRetryable: false });
    expect(toActivityFailure(new SecretConflictError('p', 2))).toMatchObject({ type: 'SecretConflict', nonRetryable: true });
    expect(toActivityFailure(new GatehouseError('invalid_request', 'x: bad', { field: 'x' }))).toMatchObject({ type: 'GatehouseRefused', nonRetryable: true });
    expect(toActivityFailure(new GatehouseError('dependency_unavailable', 'db down'))).toMatchObject({ type: 'GatehouseRefused', nonRetryable: false });
  });

  it('leaves unknown errors to the retry policy, and wraps activity work', async () => {
    const bug = new TypeError('undefined is not a function');
    expect(toActivityFailure(bug)).toBe(bug);
    await expect(asConnectorActivity(async () => Promise.reject(new UnknownUid('gone')))).rejects.toMatchObject({ type: 'UnknownUid', nonRetryable: true });
    expect(await asConnectorActivity(async () => 42)).toBe(42);
  });
});
