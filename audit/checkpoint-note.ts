// A checkpoint is a signed tree head in the transparency-log format (C2SP tlog-checkpoint inside a
// C2SP signed note): origin, tree size and base64 root hash, one line each, then the signing time.
// Verification needs only node:crypto and the raw ed25519 public key, so auditors can do it offline.
import { createHash, createPublicKey, verify as edVerify, type KeyObject } from 'node:crypto';

export interface TreeHead {
  /** Names this ledger: `gatehouse-ledger/<ledger id>`. */
  origin: string;
  treeSize: number;
  rootHash: Buffer;
  /** When it was signed, ISO 8601 UTC with milliseconds. */
  timestamp: string;
}

/** What the ledger stores and exports for each checkpoint. Hashes hex, signature base64. */
export interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: string;
  timestamp: string;
  /** The Vault transit key and version that signed it. */
  keyName: string;
  keyVersion: number;
  /** Raw ed25519 signature (64 bytes, base64) over `body`. */
  signature: string;
  /** The exact signed text. */
  body: string;
}

export interface PublicKey {
  version: number;
  /** Raw 32-byte ed25519 public key, base64 (as Vault transit reports it). */
  publicKey: string;
  createdTime?: string;
}

export const originOf = (ledgerId: string) => `gatehouse-ledger/${ledgerId}`;

export function treeHeadBody(head: TreeHead): string {
  return `${head.origin}\n${head.treeSize}\n${head.rootHash.toString('base64')}\n${head.timestamp}\n`;
}

const BODY = /^([^\s+]+)\n(0|[1-9]\d{0,15})\n([A-Za-z0-9+/]{43}=)\n(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\n$/;

/** Parses a checkpoint body; undefined when it is not one. */
export function parseTreeHeadBody(body: string): TreeHead | undefined {
  const m = BODY.exec(body);
  if (!m) return undefined;
  const treeSize = Number(m[2]);
  if (!Number.isSafeInteger(treeSize)) return undefined;
  return { origin: m[1]!, treeSize, rootHash: Buffer.from(m[3]!, 'base64'), timestamp: m[4]! };
}

/** C2SP signed-note key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], 0x01 meaning Ed25519. */
export function noteKeyId(name: string, rawPublicKey: Buffer): Buffer {
  return createHash('sha256').update(name).update(Buffer.from([0x0a, 0x01])).update(rawPublicKey).digest().subarray(0, 4);
}

/** The checkpoint as a C2SP signed note, readable by transparency-log tooling. */
export function signedNote(checkpoint: Checkpoint, rawPublicKey: Buffer): string {
  const sig = Buffer.concat([noteKeyId(checkpoint.origin, rawPublicKey), Buffer.from(checkpoint.signature, 'base64')]);
  return `${checkpoint.body}\n\u2014 ${checkpoint.origin} ${sig.toString('base64')}\n`;
}

/** The note verifier key (`name+hex key id+base64(0x01 ‖ key)`) transparency-log tools take. */
export function noteVerifierKey(origin: string, rawPublicKey: Buffer): string {
  return `${origin}+${noteKeyId(origin, rawPublicKey).toString('hex')}+${Buffer.concat([Buffer.from([0x01]), rawPublicKey]).toString('base64')}`;
}

export function ed25519PublicKey(rawBase64: string): KeyObject | undefined {
  const raw = Buffer.from(rawBase64, 'base64');
  if (raw.length !== 32) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

export type CheckpointProblem =
  | { kind: 'checkpoint-malformed'; message: string }
  | { kind: 'checkpoint-unknown-key'; message: string }
  | { kind: 'checkpoint-bad-signature'; message: string };

/**
 * Checks one checkpoint offline: its body parses and says what its fields say, it names this
 * ledger, and its signature verifies with the public key of the version it names.
 */
export function checkCheckpoint(checkpoint: Checkpoint, keys: PublicKey[], expectedOrigin?: string): CheckpointProblem | undefined {
  const at = `checkpoint at tree size ${checkpoint.treeSize}`;
  const head = parseTreeHeadBody(checkpoint.body);
  if (!head) return { kind: 'checkpoint-malformed', message: `${at}: its signed body is not a tree head (origin, size, root, time), so it was truncated or forged` };
  if (head.treeSize !== checkpoint.treeSize || head.rootHash.toString('hex') !== checkpoint.rootHash || head.origin !== checkpoint.origin || head.timestamp !== checkpoint.timestamp) {
    return { kind: 'checkpoint-malformed', message: `${at}: its fields differ from the signed body (which says size ${head.treeSize}, root ${head.rootHash.toString('hex')})` };
  }
  if (expectedOrigin && head.origin !== expectedOrigin) {
    return { kind: 'checkpoint-malformed', message: `${at}: it was signed for ${head.origin}, not this ledger (${expectedOrigin})` };
  }
  const key = keys.find((k) => k.version === checkpoint.keyVersion);
  const publicKey = key && ed25519PublicKey(key.publicKey);
  if (!publicKey) return { kind: 'checkpoint-unknown-key', message: `${at}: signed with key version ${checkpoint.keyVersion}, which is not among the public keys (${keys.map((k) => k.version).join(', ') || 'none'})` };
  const signature = Buffer.from(checkpoint.signature, 'base64');
  if (signature.length !== 64) return { kind: 'checkpoint-bad-signature', message: `${at}: the signature is ${signature.length} bytes, not 64 (truncated or forged)` };
  if (!edVerify(null, Buffer.from(checkpoint.body, 'utf8'), publicKey, signature)) {
    return { kind: 'checkpoint-bad-signature', message: `${at}: the signature does not verify with key version ${checkpoint.keyVersion} (forged, or the checkpoint was changed after signing)` };
  }
  return undefined;
}
