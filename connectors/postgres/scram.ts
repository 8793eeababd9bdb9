// SCRAM-SHA-256 password verifiers (RFC 5802, RFC 7677), computed here so that CREATE ROLE and
// ALTER ROLE carry the verifier, never the password: a statement log or pg_stat_statements then
// holds nothing a login can use. node-postgres only implements the client side of SCRAM, so the
// verifier is built by hand, in PostgreSQL's own stored format.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();

/**
 * PostgreSQL applies SASLprep to passwords, which leaves printable ASCII unchanged; for anything
 * else its normalisation would have to be reproduced exactly, so only printable ASCII is accepted.
 */
export const isScramSafePassword = (password: string) => /^[\x20-\x7e]+$/.test(password);

export function scramSha256Verifier(password: string, options: { iterations?: number; salt?: Buffer } = {}): string {
  if (!isScramSafePassword(password)) throw new Error('password must be printable ASCII');
  const iterations = options.iterations ?? 4096;
  const salt = options.salt ?? randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
