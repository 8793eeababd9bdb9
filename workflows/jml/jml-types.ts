// What the joiner-mover-leaver workflows pass between workflow code, activities and the runs API.
// Types only: nothing here runs, so workflow code may import it.
import type { ChangeKind, ChangeSubject } from '../../policies/access-change.js';
import type { ChangeFailure } from '../change/change-types.js';

/** What the identity workflow is told: an identity event by reference (its content stays in PostgreSQL), or a retry. */
export interface IdentityEventRef {
  /** The event's id (the dispatcher's idempotency key), or `retry:<run id>:<n>` for an admin's retry. */
  id: string;
  kind: 'created' | 'updated' | 'deactivated' | 'reactivated' | 'deleted' | 'retry';
  /** The outbox position, for the record. */
  seq?: string;
  /** For a retry: the run it retries, and who asked. */
  retryOf?: string;
  requestedBy?: string;
}

export type RunKind = 'joiner' | 'mover' | 'leaver' | 'rejoiner' | 'no-change' | 'reconcile';

export const RUN_STATUSES = ['running', 'completed', 'partial', 'compensated', 'failed', 'cancelled', 'superseded'] as const;
/**
 * completed: every change applied (or nothing to do); partial: some were denied, rejected or
 * expired (recorded, not applied), the rest applied; compensated: a change failed and what the run
 * had applied was undone; failed: a change failed and not everything could be undone (or a leaver's
 * removal failed: removals are not undone); cancelled: an admin stopped it; superseded: a newer
 * event for the same person arrived and is handled instead.
 */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One planned change, before it has an id. */
export interface PlanStep {
  kind: Extract<ChangeKind, 'create-account' | 'enable' | 'disable' | 'grant' | 'revoke'>;
  connectorId: string;
  connectorName: string;
  accountName?: string;
  /** Account attributes to create it with (never secrets). */
  attributes?: Record<string, string[]>;
  entitlementId?: string;
  /** The birthright rules behind it, or why it is removed. */
  because: string[];
}

export interface AccessPlan {
  kind: Exclude<RunKind, 'reconcile'>;
  /** Whether the person is active in the directory (false: deactivated or deleted). */
  active: boolean;
  /** False once the directory no longer has them (deleted, or never a user). */
  inDirectory: boolean;
  subject: ChangeSubject;
  /** The policy whose birthright rules were read; absent when none is published. */
  policy?: { name: string; versionHash: string };
  steps: PlanStep[];
  /** Birthright the plan could not turn into steps (an unknown connector, an account name that cannot be made). */
  problems: { connector: string; message: string }[];
}

/** A step as it ended, for the run record and the API. */
export interface StepResult {
  changeId: string;
  kind: PlanStep['kind'];
  connectorId: string;
  connectorName: string;
  entitlementId?: string;
  accountName?: string;
  status: 'applied' | 'denied' | 'rejected' | 'expired' | 'cancelled' | 'failed' | 'skipped';
  error?: ChangeFailure;
  compensation?: 'compensated' | 'nothing-to-undo' | 'impossible' | 'failed';
}

/** What reconciliation found on one connector: access changed outside Gatehouse. */
export interface DriftReport {
  connectorId: string;
  connectorName: string;
  mode: 'report' | 'correct';
  /** Accounts Gatehouse manages on this connector, and how many of them the target returned. */
  managedAccounts: number;
  scannedAccounts: number;
  /** Accounts on the target Gatehouse does not manage (not Gatehouse's to change; counted only). */
  unmanagedAccounts: number;
  items: DriftItem[];
}

export type DriftItem =
  | { kind: 'account-missing'; subject: { type: 'human' | 'nhi'; id: string }; accountName: string }
  | { kind: 'account-enabled-state'; subject: { type: 'human' | 'nhi'; id: string }; accountName: string; expected: boolean; actual: boolean }
  | { kind: 'entitlement-missing'; subject: { type: 'human' | 'nhi'; id: string }; accountName: string; entitlementId: string }
  | { kind: 'entitlement-unexpected'; subject: { type: 'human' | 'nhi'; id: string }; accountName: string; entitlementId: string; entitlementUid: string };

/** What became of a leaver's non-human identities (the leaver-credentials child workflow). */
export interface NhiHandOver {
  handedOver: { credentialId: string; name: string; outcome: 'reassigned' | 'co-owned' | 'orphaned' }[];
  rotations: { credentialId: string; status: string }[];
  error?: ChangeFailure;
}
