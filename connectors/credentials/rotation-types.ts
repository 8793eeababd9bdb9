// What flows between the rotation workflow and its activities: plans, step results and outcomes.
// Never a secret: the new value lives in Vault (a pending slot, then the credential's own path) and
// only activities read it.
import type { Actor } from '../../audit/index.js';
import type { CredentialTarget } from '../spi/connector.js';
import type { RotationStep } from './credential-types.js';

export const ROTATION_REASONS = ['on-demand', 'schedule', 'leaver'] as const;
export type RotationReason = (typeof ROTATION_REASONS)[number];

export interface RotationRequest {
  credentialId: string;
  reason: RotationReason;
  requestedBy: Actor;
  justification?: string;
}

/** Everything the steps need to know, fixed when the rotation claims the credential. */
export interface RotationPlan {
  credentialId: string;
  credentialName: string;
  kind: 'connector-login' | 'service-account';
  connectorId: string;
  connectorName: string;
  connectorType: string;
  target: CredentialTarget;
  model: 'single' | 'dual';
  source: 'caller' | 'target';
  secretPath: string;
  secretField: string;
  /** The Vault version in use when the rotation began: what a failure restores. */
  previousVersion: number;
  /** Vault's current version when the rotation began: the check-and-set of the new version. */
  casVersion: number;
  /** Dual-credential targets: the target's id of the credential in use, revoked at the end. */
  oldCredentialId: string | null;
  ownerIds: string[];
  privileged: boolean;
  workflowId: string;
  runId: string;
  /** The access change this rotation is, as policies and the ledger know it (also its idempotency key). */
  changeId: string;
  reason: RotationReason;
  requestedBy: Actor;
  justification?: string;
}

export type ClaimResult = { claimed: true; plan: RotationPlan } | { claimed: false; why: string };

export interface AppliedStep {
  /** The target's id of the new credential ('password' for single-credential targets). */
  credentialId: string;
}

export interface StoredStep {
  /** The Vault version that now holds the new credential. */
  version: number;
}

export type RotationOutcome =
  | { status: 'succeeded'; credentialId: string; version: number; oldCredentialRevoked: boolean }
  | { status: 'skipped'; credentialId: string; why: string }
  | { status: 'refused'; credentialId: string; reasons: string[] }
  | { status: 'failed'; credentialId: string; step: RotationStep; errorCode: string; message: string; restored: { vault: boolean; target: boolean } };
