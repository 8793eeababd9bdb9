// What the decide step asks of the identity store: the subject as it is now (so decisions use
// current attributes, not whatever a caller wrote into the change), and everyone the approval gate
// must tell apart. The server implements it over the SCIM directories and Gatehouse's users.
import type { AccessChange, ChangeSubject } from '../../policies/access-change.js';
import type { GateParticipants } from '../../policies/approval-eligibility.js';

export interface SubjectResolver {
  /** The subject with its attributes from the identity store; undefined when the store does not know it. */
  resolveSubject(subject: ChangeSubject): Promise<ChangeSubject | undefined>;
  /**
   * Identifier sets for the gate: the subject (and, for a non-human identity, its owner), the
   * requester, the subject's manager, and the entitlement's owner (as the policy names it).
   */
  participants(change: AccessChange, entitlementOwner: string | undefined): Promise<GateParticipants>;
}
