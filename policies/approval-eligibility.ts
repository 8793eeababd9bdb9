// Who may decide an approval stage (promise 6): nobody approves their own request, a change to their
// own access, or a change they requested for someone else; a quorum needs distinct people; and the
// approver must be one the stage names. Pure, so the approval workflow's update validator and the
// inbox give the same answer.
import type { Role } from '../shared/auth/permissions.js';
import type { ApproverSpec } from './policy-document.js';

/** The person deciding, as the server authenticated them. */
export interface ApproverClaims {
  /** Gatehouse user id. */
  userId: string;
  displayName?: string;
  /** Every identifier that denotes this person: user id, e-mail addresses, directory identity ids. */
  identityKeys: string[];
  roles: Role[];
  /** Group names from sign-in claims and directory memberships. */
  groups: string[];
}

/** Who the change is about and who asked for it, as identifier sets. */
export interface GateParticipants {
  /** The subject: its identity ids and e-mails; for a non-human identity, also its owner's. */
  subjectKeys: string[];
  requesterKeys: string[];
  /** The subject's manager, for `{ manager: true }`. */
  managerKeys: string[];
  /** The entitlement's owner, for `{ entitlementOwner: true }`. */
  entitlementOwnerKeys: string[];
}

export type Eligibility = { eligible: true; as: string } | { eligible: false; reason: string };

const norm = (k: string) => k.trim().toLowerCase();
const overlaps = (a: readonly string[], b: readonly string[]) => {
  const set = new Set(a.map(norm));
  return b.some((k) => set.has(norm(k)));
};

export function describeApprover(spec: ApproverSpec): string {
  if ('user' in spec) return `user ${spec.user}`;
  if ('group' in spec) return `group ${spec.group}`;
  if ('role' in spec) return `role ${spec.role}`;
  if ('manager' in spec) return "the subject's manager";
  return "the entitlement's owner";
}

function matches(spec: ApproverSpec, approver: ApproverClaims, participants: GateParticipants): boolean {
  if ('user' in spec) return overlaps(approver.identityKeys, [spec.user]);
  if ('group' in spec) return approver.groups.some((g) => norm(g) === norm(spec.group));
  if ('role' in spec) return approver.roles.includes(spec.role);
  if ('manager' in spec) return participants.managerKeys.length > 0 && overlaps(approver.identityKeys, participants.managerKeys);
  return participants.entitlementOwnerKeys.length > 0 && overlaps(approver.identityKeys, participants.entitlementOwnerKeys);
}

/**
 * Whether `approver` may decide the current stage now. `approvers` is the stage's list, plus its
 * escalation targets once it has escalated. `decidedBy` holds the user ids that already decided
 * anything in this request: one person counts once, across every stage.
 */
export function checkEligibility(input: {
  stageName: string;
  approvers: readonly ApproverSpec[];
  participants: GateParticipants;
  decidedBy: readonly string[];
  approver: ApproverClaims;
}): Eligibility {
  const { approver, participants } = input;
  const keys = [approver.userId, ...approver.identityKeys];
  if (overlaps(keys, participants.subjectKeys)) {
    return { eligible: false, reason: 'you cannot decide a change to your own access (or to a non-human identity you own)' };
  }
  if (overlaps(keys, participants.requesterKeys)) {
    return { eligible: false, reason: 'you requested this change, so someone else must decide it' };
  }
  if (input.decidedBy.includes(approver.userId)) {
    return { eligible: false, reason: 'you have already decided on this request; each approval must come from a different person' };
  }
  const via = input.approvers.find((spec) => matches(spec, approver, participants));
  if (!via) {
    return {
      eligible: false,
      reason: `you are not an approver for stage "${input.stageName}" (it needs ${input.approvers.map(describeApprover).join(', or ')})`,
    };
  }
  return { eligible: true, as: describeApprover(via) };
}

/** Whether an approver spec can name anyone here: a manager or entitlement owner the gate knows nobody for names no one. */
function canName(spec: ApproverSpec, participants: GateParticipants): boolean {
  if ('manager' in spec) return participants.managerKeys.length > 0;
  if ('entitlementOwner' in spec) return participants.entitlementOwnerKeys.length > 0;
  return true;
}

/**
 * Stages nobody could ever decide, because every approver they name (escalation included) is a
 * manager or entitlement owner the participants do not have. Each is a sentence for the refusal.
 */
export function unreachableStages(stages: readonly { name: string; approvers: readonly ApproverSpec[]; escalateTo?: readonly ApproverSpec[] | undefined }[], participants: GateParticipants): string[] {
  return stages
    .filter((s) => ![...s.approvers, ...(s.escalateTo ?? [])].some((spec) => canName(spec, participants)))
    .map((s) => `nobody is eligible to approve stage "${s.name}": it needs ${[...s.approvers, ...(s.escalateTo ?? [])].map(describeApprover).join(', or ')}, and there is no such person for this change`);
}
