// What the per-change path passes between workflow code and its activities, and what it returns to
// the workflows that use it (the access-request workflow, the joiner-mover-leaver workflows). Types
// only: nothing here runs, so workflow code may import it.
import type { AccessChange, ChangeSubject } from '../../policies/access-change.js';
import type { GateParticipants } from '../../policies/approval-eligibility.js';
import type { Decision } from '../../policies/decide.js';
import type { ConnectorOperation } from '../../connectors/operations/connector-operations.js';
import type { ApprovalOutcome } from '../approval/workflow.js';

/** Which workflow run a step belongs to, for the ledger's correlation ids. */
export interface RunRef {
  workflowId: string;
  runId: string;
}

/** A change as it was decided and recorded (`access.change.decided`). */
export interface DecidedChange {
  /** The change as decided: its connector's name and its subject's attributes from Gatehouse's own records. */
  change: AccessChange;
  /** SHA-256 of the change's canonical JSON; the apply step refuses any other content under this id. */
  changeHash: string;
  decision: Decision;
  /** Who the gate must tell apart (subject, requester, manager, entitlement owner); set when approval is required. */
  participants?: GateParticipants;
  /** True when the decision was already on record (a retry, or the same change run again): it is returned as recorded. */
  alreadyRecorded: boolean;
}

/** What applying a change did (`access.change.applied`). */
export interface AppliedChange {
  changeId: string;
  connectorId: string;
  operation: ConnectorOperation['kind'];
  /** False when the target already was as asked. */
  changed: boolean;
  accountUid?: string;
  entitlementUid?: string;
  /** True when an earlier attempt had applied it: the connector journal answered, the target was not called again. */
  replayed: boolean;
}

export type CompensationResult =
  | { status: 'compensated'; changeId: string; operation: ConnectorOperation['kind']; changed: boolean }
  | { status: 'nothing-to-undo'; changeId: string; reason: string }
  | { status: 'impossible'; changeId: string; reason: string };

/** A failure as the workflow saw it: the Temporal failure's type (a connector's named error, or Gatehouse's) and message. */
export interface ChangeFailure {
  type: string;
  message: string;
}

/** How one change ended. Only `applied` reached the target. */
export type ChangeOutcome =
  | { status: 'applied'; changeId: string; decided: DecidedChange; approval?: ApprovalOutcome; applied: AppliedChange }
  /** Policy said no. */
  | { status: 'denied'; changeId: string; decided: DecidedChange }
  /** The gate said no, or nobody decided in time, or the request was withdrawn. */
  | { status: 'rejected' | 'expired' | 'cancelled'; changeId: string; decided: DecidedChange; approval: ApprovalOutcome }
  /** It could not be decided or applied; `phase` says where. Nothing was applied. */
  | { status: 'failed'; changeId: string; phase: 'decide' | 'approval' | 'apply'; error: ChangeFailure; decided?: DecidedChange };

export type { ChangeSubject };
