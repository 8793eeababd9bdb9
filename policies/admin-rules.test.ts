// What an admin change needs under a policy: the policy's own rule under `administration`, or the
// default (a second admin for publishing policy), and clear errors for a rule that cannot work.
import { describe, expect, it } from 'vitest';
import { adminRequirement } from './admin-rules.js';
import { parsePolicyDocument } from './policy-document.js';

const doc = (administration = '') => parsePolicyDocument(`apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: acme\n${administration}`);

describe('admin change requirements', () => {
  it('needs a second admin to publish policy when the policy says nothing', () => {
    const r = adminRequirement(doc(), 'publishPolicy');
    expect(r.effect).toBe('require-approval');
    expect(r.rule).toBe('default:publishPolicy');
    expect(r.stages).toEqual([{ name: 'second admin', fromRule: 'default:publishPolicy', approvers: [{ role: 'admin' }], quorum: 1, deadlineMs: 72 * 3600_000, onExpiry: 'deny' }]);
    expect(r.reason).toContain("second admin's approval");
  });

  it("follows the policy's own rule: allow, or its stages in order", () => {
    expect(adminRequirement(doc('administration:\n  publishPolicy: { effect: allow }\n'), 'publishPolicy')).toMatchObject({ effect: 'allow', stages: [], rule: 'administration.publishPolicy' });
    const two = adminRequirement(
      doc(`administration:
  publishPolicy:
    effect: require-approval
    approval:
      stages:
        - { name: Security, approvers: [{ role: security-approver }], deadline: 24h }
        - { name: CISO, approvers: [{ user: ciso@acme.test }], quorum: 1 }
`),
      'publishPolicy',
    );
    expect(two.stages.map((s) => [s.name, s.deadlineMs])).toEqual([['Security', 24 * 3600_000], ['CISO', 72 * 3600_000]]);
    expect(two.reason).toContain('"Security", then "CISO"');
  });

  it('refuses a rule that cannot work, naming the field', () => {
    expect(() => doc('administration:\n  publishPolicy: { effect: require-approval }\n')).toThrow('administration.publishPolicy.approval: is required when effect is require-approval');
    expect(() => doc('administration:\n  publishPolicy: { effect: allow, approval: { stages: [{ name: x, approvers: [{ role: admin }] }] } }\n')).toThrow('administration.publishPolicy.approval: is only allowed');
    expect(() => doc('administration:\n  changeEverything: { effect: allow }\n')).toThrow('administration');
  });

  it('adds no section to a policy that has none, so the version hashes of existing policies stay as they were', () => {
    expect('administration' in doc()).toBe(false);
  });
});
