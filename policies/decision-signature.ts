// Approval power comes only from Gatehouse (issue 12, item 6). The server signs every decision it
// accepts with a non-exportable ed25519 key in Vault transit (`gatehouse-decisions`); the approval
// gate's validator verifies the signature before the Update enters history, and the apply step
// verifies it again from the ledger. Someone who can reach the Temporal frontend can send an Update,
// but cannot make one the gate accepts.
//
// Pure and deterministic, so it runs inside the workflow sandbox (no node:crypto there): ed25519 and
// SHA-256 come from the audited pure-JS @noble libraries.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import canonicalizeModule from 'canonicalize';
import type { ApproverClaims } from './approval-eligibility.js';

// canonicalize is CommonJS (module.exports = fn); see audit/ledger-entry-codec.ts.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/** The transit key every accepted decision is signed with. */
export const DECISION_KEY_NAME = 'gatehouse-decisions';

/** Separates these signatures from every other use of an ed25519 key. */
const DOMAIN = 'gatehouse-decision/v1\n';
const WITHDRAWAL_DOMAIN = 'gatehouse-withdrawal/v1\n';

// Keys and signatures travel as hex: the workflow sandbox has no Buffer and no atob.
/** A public key of the decision key: its version and the raw 32 bytes, hex. */
export interface DecisionKey {
  version: number;
  publicKeyHex: string;
}

/** A transit signature: the key version and the raw 64-byte signature, hex. */
export interface DecisionSignature {
  keyVersion: number;
  signatureHex: string;
}

/**
 * What the server vouches for. The approver's claims are covered by their digest (roles and groups
 * can be long); the identifiers that the exclusions of promise 6 compare are carried in full, so the
 * apply step can check them again from the ledger alone.
 */
export interface DecisionStatement {
  changeId: string;
  stageIndex: number;
  stage: string;
  verdict: 'approve' | 'deny';
  reason: string;
  approverId: string;
  /** The approver's user id and identity keys, as eligibility compared them. */
  approverKeys: string[];
  /** SHA-256 (hex) of the canonical JSON of the approver's full claims. */
  claimsDigest: string;
}

/** SHA-256 (hex) of the canonical JSON of an approver's claims. */
export function claimsDigest(claims: ApproverClaims): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalize(claims)!)));
}

/** The statement a decision by `approver` on a stage makes. */
export function decisionStatement(input: { changeId: string; stageIndex: number; stage: string; verdict: 'approve' | 'deny'; reason: string; approver: ApproverClaims }): DecisionStatement {
  return {
    changeId: input.changeId,
    stageIndex: input.stageIndex,
    stage: input.stage,
    verdict: input.verdict,
    // The gate records the reason trimmed; the statement says what is recorded.
    reason: input.reason.trim(),
    approverId: input.approver.userId,
    approverKeys: [input.approver.userId, ...input.approver.identityKeys],
    claimsDigest: claimsDigest(input.approver),
  };
}

/** The exact bytes that are signed: a domain prefix and the statement's RFC 8785 canonical JSON. */
export function decisionMessage(statement: DecisionStatement): Uint8Array {
  return utf8ToBytes(DOMAIN + canonicalize(statement)!);
}

const HEX = /^(?:[0-9a-f]{2})+$/;
const bytesOf = (text: unknown): Uint8Array | undefined => (typeof text === 'string' && HEX.test(text) ? hexToBytes(text) : undefined);

export type SignatureCheck = { valid: true } | { valid: false; reason: string };

/** Whether `signature` is Gatehouse's over `message`, under one of `keys`. Never throws. */
function verifyMessage(message: Uint8Array, signature: DecisionSignature | undefined, keys: readonly DecisionKey[], what: { noun: string; how: string; covers: string }): SignatureCheck {
  if (!signature || typeof signature !== 'object') return { valid: false, reason: `the ${what.noun} carries no Gatehouse signature; ${what.how}` };
  const key = keys.find((k) => k.version === signature.keyVersion);
  if (!key) return { valid: false, reason: `the ${what.noun} is signed with key version ${String(signature.keyVersion)} of ${DECISION_KEY_NAME}, which this gate does not know` };
  const sig = bytesOf(signature.signatureHex);
  const pub = bytesOf(key.publicKeyHex);
  if (!sig || sig.length !== 64 || !pub || pub.length !== 32) return { valid: false, reason: `the ${what.noun} signature is malformed` };
  let ok = false;
  try {
    ok = ed25519.verify(sig, message, pub);
  } catch {
    ok = false;
  }
  return ok ? { valid: true } : { valid: false, reason: `the ${what.noun} signature does not match: it was not issued by Gatehouse for this ${what.covers}` };
}

/** Whether `signature` is Gatehouse's over `statement`, under one of `keys`. Never throws. */
export function verifyDecision(statement: DecisionStatement, signature: DecisionSignature | undefined, keys: readonly DecisionKey[]): SignatureCheck {
  return verifyMessage(decisionMessage(statement), signature, keys, {
    noun: 'decision',
    how: 'decide through Gatehouse (the inbox or POST /api/approvals/{id}/decision)',
    covers: 'approver, change, stage, verdict and reason',
  });
}

/** A withdrawal the server accepted: who withdrew which request, and why. */
export interface WithdrawalStatement {
  changeId: string;
  by: string;
  reason: string;
}

/** The bytes of a withdrawal's signature: its own domain, so no decision signature can stand in for one. */
export function withdrawalMessage(statement: WithdrawalStatement): Uint8Array {
  return utf8ToBytes(WITHDRAWAL_DOMAIN + canonicalize({ changeId: statement.changeId, by: statement.by, reason: statement.reason })!);
}

export function verifyWithdrawal(statement: WithdrawalStatement, signature: DecisionSignature | undefined, keys: readonly DecisionKey[]): SignatureCheck {
  return verifyMessage(withdrawalMessage(statement), signature, keys, { noun: 'withdrawal', how: 'withdraw through Gatehouse (POST /api/requests/{id}/withdraw)', covers: 'request, person and reason' });
}
