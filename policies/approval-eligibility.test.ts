// Every eligibility refusal, and every way of being eligible.
import { describe, expect, it } from 'vitest';
import { checkEligibility, unreachableStages, type ApproverClaims, type GateParticipants } from './approval-eligibility.js';
import type { ApproverSpec } from './policy-document.js';

const participants: GateParticipants = {
  subjectKeys: ['id-dana', 'dana@acme.test'],
  requesterKeys: ['user-rob', 'rob@acme.test'],
  managerKeys: ['id-mia', 'mia@acme.test'],
  entitlementOwnerKeys: ['owen@acme.test'],
};

const person = (userId: string, over: Partial<ApproverClaims> = {}): ApproverClaims => ({
  userId,
  identityKeys: [`${userId.replace('user-', '')}@acme.test`],
  roles: [],
  groups: [],
  ...over,
});

const check = (approvers: ApproverSpec[], approver: ApproverClaims, decidedBy: string[] = []) =>
  checkEligibility({ stageName: 'Review', approvers, participants, decidedBy, approver });

describe('approval eligibility', () => {
  it('refuses the subject approving their own access, whichever identifier matches', () => {
    const dana = person('user-dana', { roles: ['security-approver'] });
    expect(check([{ role: 'security-approver' }], dana)).toEqual({ eligible: false, reason: 'you cannot decide a change to your own access (or to a non-human identity you own)' });
    const danaByDirectoryId = person('user-x', { identityKeys: ['ID-DANA'], roles: ['security-approver'] });
    expect(check([{ role: 'security-approver' }], danaByDirectoryId).eligible).toBe(false);
  });

  it('refuses the requester, for themselves or for someone else', () => {
    const rob = person('user-rob', { roles: ['security-approver'] });
    expect(check([{ role: 'security-approver' }], rob)).toEqual({ eligible: false, reason: 'you requested this change, so someone else must decide it' });
  });

  it('refuses the same approver twice in one request', () => {
    const sam = person('user-sam', { roles: ['security-approver'] });
    expect(check([{ role: 'security-approver' }], sam, ['user-sam'])).toEqual({
      eligible: false,
      reason: 'you have already decided on this request; each approval must come from a different person',
    });
  });

  it('refuses someone the stage does not name, saying who it needs', () => {
    expect(check([{ manager: true }, { group: 'security-leads' }], person('user-zed'))).toEqual({
      eligible: false,
      reason: `you are not an approver for stage "Review" (it needs the subject's manager, or group security-leads)`,
    });
  });

  it('admits each kind of approver', () => {
    expect(check([{ user: 'zed@acme.test' }], person('user-zed'))).toEqual({ eligible: true, as: 'user zed@acme.test' });
    expect(check([{ group: 'Security-Leads' }], person('user-zed', { groups: ['security-leads'] }))).toEqual({ eligible: true, as: 'group Security-Leads' });
    expect(check([{ role: 'security-approver' }], person('user-zed', { roles: ['security-approver'] }))).toEqual({ eligible: true, as: 'role security-approver' });
    expect(check([{ manager: true }], person('user-mia'))).toEqual({ eligible: true, as: "the subject's manager" });
    expect(check([{ entitlementOwner: true }], person('user-owen'))).toEqual({ eligible: true, as: "the entitlement's owner" });
  });

  it('a manager or owner that is unknown admits no one', () => {
    const none = { ...participants, managerKeys: [], entitlementOwnerKeys: [] };
    expect(checkEligibility({ stageName: 'S', approvers: [{ manager: true }, { entitlementOwner: true }], participants: none, decidedBy: [], approver: person('user-mia') }).eligible).toBe(false);
  });

  it('the self check wins even for an eligible manager (the manager is also the subject)', () => {
    const p = { ...participants, managerKeys: ['dana@acme.test'] };
    expect(checkEligibility({ stageName: 'S', approvers: [{ manager: true }], participants: p, decidedBy: [], approver: person('user-dana') }).eligible).toBe(false);
  });
});

describe('stages nobody could decide', () => {
  const nobody: GateParticipants = { subjectKeys: ['cred-1'], requesterKeys: ['user-rob'], managerKeys: [], entitlementOwnerKeys: [] };
  it('names a stage whose every approver, escalation included, is a manager or entitlement owner there is none of', () => {
    expect(unreachableStages([{ name: 'Manager', approvers: [{ manager: true }], escalateTo: [{ entitlementOwner: true }] }], nobody)).toEqual([
      'nobody is eligible to approve stage "Manager": it needs the subject\'s manager, or the entitlement\'s owner, and there is no such person for this change',
    ]);
  });
  it('passes a stage someone could decide: by role, group or user, by escalation, or a manager who exists', () => {
    expect(unreachableStages([{ name: 'Security', approvers: [{ role: 'security-approver' }] }], nobody)).toEqual([]);
    expect(unreachableStages([{ name: 'Manager', approvers: [{ manager: true }], escalateTo: [{ group: 'leads' }] }], nobody)).toEqual([]);
    expect(unreachableStages([{ name: 'Manager', approvers: [{ manager: true }] }], participants)).toEqual([]);
  });
});
