// Secrets sign-in hands out: hashed for storage, CSRF tokens derived per session, sealed sign-in
// state that only the browser's secret opens.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { csrfTokenFor, randomSecret, sameSecret, seal, secretHash, unseal } from './secret-values.js';

describe('secret values', () => {
  it('makes 256-bit URL-safe secrets and stores their SHA-256', () => {
    const s = randomSecret();
    expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomSecret()).not.toBe(s);
    expect(secretHash(s)).toBe(createHash('sha256').update(s).digest('hex'));
  });

  it('derives a CSRF token per session that the stored hash does not reveal', () => {
    const session = randomSecret();
    expect(csrfTokenFor(session)).toBe(csrfTokenFor(session));
    expect(csrfTokenFor(session)).not.toBe(csrfTokenFor(randomSecret()));
    expect(csrfTokenFor(session)).not.toBe(secretHash(session));
    expect(sameSecret(csrfTokenFor(session), csrfTokenFor(session))).toBe(true);
    expect(sameSecret(csrfTokenFor(session), 'short')).toBe(false);
  });

  it('opens sealed state only with the secret it was sealed under, and only unaltered', () => {
    const secret = randomSecret();
    const state = { code_verifier: 'v'.repeat(43), nonce: 'n', state: 's' };
    const sealed = seal(state, secret);
    expect(sealed).not.toContain('v'.repeat(10));
    expect(unseal(sealed, secret)).toEqual(state);
    expect(unseal(sealed, randomSecret())).toBeUndefined();
    const bytes = Buffer.from(sealed, 'base64url');
    bytes[bytes.length - 1] = bytes.at(-1)! ^ 1;
    expect(unseal(bytes.toString('base64url'), secret)).toBeUndefined();
    expect(unseal('garbage', secret)).toBeUndefined();
  });
});
