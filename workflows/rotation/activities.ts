// The rotation's activities: each step of connectors/credentials/credential-rotation.ts, run where
// secrets may be read (a worker), with connector and Vault failures mapped to Temporal's (a
// Retryable target or an unreachable Vault is retried; a refusal fails the step for the saga).
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import type { CredentialRotation } from '../../connectors/credentials/credential-rotation.js';
import type { AppliedStep, ClaimResult, RotationPlan, RotationRequest, StoredStep } from '../../connectors/credentials/rotation-types.js';
import type { RotationStep } from '../../connectors/credentials/credential-types.js';
import { ApplicationFailure } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Ledger } from '../../audit/index.js';
import type { AccessChange } from '../../policies/access-change.js';
import { unreachableStages, type GateParticipants } from '../../policies/approval-eligibility.js';
import { accessChangeHash } from '../../policies/change-hash.js';
import type { Decision } from '../../policies/decide.js';
import type { PolicyStore } from '../../policies/policy-store.js';
import { checkAuthority, holdsApprovals, type RecordedStage } from '../change/change-authority.js';
import { insertAccessChange, ledgerEntriesOfChange, readAccessChange } from '../change/access-change-record.js';
import type { ApprovalInput } from '../approval/workflow.js';
import { decideRotation, rotationChange } from './rotation-decision.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';

/** Who the approval gate must tell apart for a rotation: the credential and its owners, the requester, the owners' managers. */
export interface RotationParticipants {
  participantsOfCredential(change: AccessChange, credentialId: string): Promise<GateParticipants>;
}

export interface RotationActivityDeps {
  orm: MikroORM;
  rotation: CredentialRotation;
  policies: Pick<PolicyStore, 'compiledInForce'>;
  /** Reads a rotation's entries back, to check its approvals before the target is touched (promise 1). */
  ledger: Pick<Ledger, 'query'>;
  participants: RotationParticipants;
  /** The decision key's public versions: every approval is verified again before the rotation goes on. */
  decisions: Pick<DecisionSigner, 'keys'>;
}

/** What the decide step tells the workflow: the effect, why, and for require-approval what the gate needs (no secrets). */
export interface RotationDecisionResult {
  effect: string;
  reasons: string[];
  gate?: ApprovalInput;
}

export function createRotationActivities(deps: RotationActivityDeps) {
  const r = deps.rotation;

  return {
    rotationClaim: (input: RotationRequest & { workflowId: string; runId: string; changeId: string }): Promise<ClaimResult> => asConnectorActivity(() => r.claim(input)),
    rotationClaimFailed: (input: RotationRequest & { workflowId: string; runId: string; changeId: string }, error: { code: string; message: string }): Promise<void> =>
      asConnectorActivity(() => r.claimFailed(input, error)),

    /**
     * The policy decision under the published policy (or the built-in rotation policy where it has no
     * rule for this rotation), on record before any change. A decision requiring approval comes back
     * with what the approval gate needs; one that nobody could approve comes back refused, saying why.
     */
    rotationDecide: (plan: RotationPlan): Promise<RotationDecisionResult> =>
      asConnectorActivity(async () => {
        const forGate = (change: AccessChange, decision: Decision, participants: GateParticipants): RotationDecisionResult => {
          const nobody = unreachableStages(decision.stages, participants);
          if (nobody.length) return { effect: 'refused', reasons: [...decision.reasons, ...nobody] };
          return {
            effect: decision.effect,
            reasons: decision.reasons,
            gate: { change, policy: decision.policy, reasons: decision.reasons, sodConflicts: decision.sodConflicts, stages: decision.stages, participants },
          };
        };
        // A retry answers with the decision on record (one change is decided once; the policy may have changed since).
        const fromRecord = async (): Promise<RotationDecisionResult | undefined> => {
          const recorded = await r.recordedDecision(plan);
          if (!recorded) return undefined;
          if (recorded.effect !== 'require-approval') return { effect: recorded.effect, reasons: recorded.reasons };
          const row = await readAccessChange(deps.orm.em.fork(), plan.changeId);
          if (!row) return { effect: 'refused', reasons: [...recorded.reasons, `the decision on record for change ${plan.changeId} requires approval, but its request record is missing`] };
          return forGate(row.change, row.decision as Decision, row.participants as GateParticipants);
        };
        const earlier = await fromRecord();
        if (earlier) return earlier;

        const change = rotationChange(plan);
        const decision = decideRotation(change, await deps.policies.compiledInForce());
        if (decision.effect !== 'require-approval') {
          if (await r.recordDecision(plan, decision)) return { effect: decision.effect, reasons: decision.reasons };
          return (await fromRecord())!;
        }
        const participants = await deps.participants.participantsOfCredential(change, plan.credentialId);
        const changeHash = accessChangeHash(change);
        const stages: RecordedStage[] = decision.stages.map((s, index) => ({ index, name: s.name, quorum: s.quorum, onExpiry: s.onExpiry }));
        const opened = await r.recordDecision(plan, decision, {
          details: { changeHash, stages, exclusions: { subjectKeys: participants.subjectKeys, requesterKeys: participants.requesterKeys } },
          within: (em) => insertAccessChange(em, { change, changeHash, inputHash: changeHash, status: 'awaiting-approval', decision, heldEntitlements: [], participants, workflowId: plan.workflowId, at: new Date() }),
        });
        if (!opened) return (await fromRecord())!;
        return forGate(change, decision, participants);
      }),

    /** After the gate said approved: the ledger must hold every approval the decision required (promise 1), then it is on record for apply. */
    rotationApproved: (plan: RotationPlan): Promise<void> =>
      asConnectorActivity(async () => {
        const entries = await ledgerEntriesOfChange(deps.ledger, plan.changeId);
        const authority = checkAuthority(entries, { id: plan.changeId, hash: accessChangeHash(rotationChange(plan)) }, holdsApprovals(entries) ? await deps.decisions.keys() : []);
        if (!authority.allowed) throw ApplicationFailure.create({ type: 'NotAuthorized', message: `not rotated: ${authority.reason}`, nonRetryable: true });
        await r.recordApproval(plan, authority);
      }),

    rotationCreate: (plan: RotationPlan): Promise<void> => asConnectorActivity(() => r.create(plan)),
    rotationApply: (plan: RotationPlan): Promise<AppliedStep> => asConnectorActivity(() => r.apply(plan)),
    rotationStore: (plan: RotationPlan): Promise<StoredStep> => asConnectorActivity(() => r.store(plan)),
    rotationVerify: (plan: RotationPlan, stored: StoredStep): Promise<void> => asConnectorActivity(() => r.verify(plan, stored)),
    rotationRevoke: (plan: RotationPlan, applied: AppliedStep): Promise<{ revoked: boolean; note?: string }> => asConnectorActivity(() => r.revoke(plan, applied)),
    rotationComplete: (plan: RotationPlan, stored: StoredStep, applied: AppliedStep, revoked: { revoked: boolean; note?: string }): Promise<void> =>
      asConnectorActivity(() => r.complete(plan, stored, applied, revoked)),

    rotationDiscardPending: (plan: RotationPlan): Promise<void> => asConnectorActivity(() => r.discardPending(plan)),
    rotationRestoreTarget: (plan: RotationPlan): Promise<{ changed: boolean }> => asConnectorActivity(() => r.restoreTarget(plan)),
    rotationRestoreVault: (plan: RotationPlan): Promise<{ version: number }> => asConnectorActivity(() => r.restoreVault(plan)),
    rotationFail: (plan: RotationPlan, outcome: { step: RotationStep; errorCode: string; message: string; restored: { vault: boolean; target: boolean } }): Promise<void> =>
      asConnectorActivity(() => r.fail(plan, outcome)),
    rotationRefuse: (plan: RotationPlan, reasons: string[]): Promise<void> => asConnectorActivity(() => r.refuse(plan, reasons)),
    rotationRecordUndoFailure: (plan: RotationPlan, undo: string, error: { code: string; message: string }): Promise<void> => asConnectorActivity(() => r.recordUndoFailure(plan, undo, error)),
  };
}

export type RotationActivities = ReturnType<typeof createRotationActivities>;
