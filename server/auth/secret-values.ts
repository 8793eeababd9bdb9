// The random secrets sign-in hands out (session cookies, API tokens, one-time links) and how they
// are kept: only their SHA-256 reaches PostgreSQL, so a database dump signs nobody in.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 random bits, URL-safe. */
export const randomSecret = (): string => randomBytes(32).toString('base64url');

/**
 * SHA-256, hex. A slow password hash is not needed here: every value hashed is 256 random bits,
 * so there is nothing to guess, and the lookup by hash stays one index probe per request.
 */
export const secretHash = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The CSRF token of a session: derived from the session cookie, so it needs no storage and cannot
 * be computed from what PostgreSQL holds (the cookie's hash).
 */
export const csrfTokenFor = (sessionSecret: string): string => createHmac('sha256', sessionSecret).update('gatehouse csrf token').digest('base64url');

function sealingKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), 'gatehouse sign-in attempt', 32));
}

/**
 * Encrypts a value under a key derived from a browser-held secret (AES-256-GCM), so the stored row
 * alone (a PKCE verifier, a nonce) is useless without the cookie of the browser that started it.
 */
export function seal(value: unknown, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secret), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** Reverses seal; undefined when the secret is not the one it was sealed with, or the text was altered. */
export function unseal<T>(sealed: string, secret: string): T | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
