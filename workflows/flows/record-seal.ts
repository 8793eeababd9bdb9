// Sealing a dead-lettered source record at rest: AES-256-GCM (node:crypto) under the flows' own key,
// which lives in Vault; PostgreSQL holds only iv || tag || ciphertext. Opened only in a worker, to
// replay the record through the flow.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { canonicalJson } from '../../shared/canonical-json.js';
import type { ObjectRecord } from '../../connectors/spi/records.js';

export const DEAD_LETTER_KEY_PATH = 'gatehouse/flows/dead-letter-key';

export function sealRecord(record: ObjectRecord, key: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(canonicalJson(record), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function openRecord(sealed: Buffer, key: Buffer): ObjectRecord {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8')) as ObjectRecord;
}
