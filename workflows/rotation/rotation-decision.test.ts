// The rotation's decision: the published policy where it has a rule for the rotation, the built-in
// allow rule where it has none or no policy is published.
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../policies/compile-policy.js';
import { parsePolicyDocument, policyVersionHash } from '../../policies/policy-document.js';
import type { RotationPlan } from '../../connectors/credentials/rotation-types.js';
import { decideRotation, rotationChange } from './rotation-decision.js';

const plan = {
  credentialId: '7d1f7e0a-1111-4a7e-9b1a-3c8f2b9d0e01',
  credentialName: 'reports-db',
  connectorId: '7d1f7e0a-2222-4a7e-9b1a-3c8f2b9d0e01',
  connectorName: 'finance-db',
  connectorType: 'postgresql',
  target: { kind: 'account', uid: 'role:16384' },
  ownerIds: [],
  privileged: false,
  changeId: '7d1f7e0a-3333-4a7e-9b1a-3c8f2b9d0e01',
  requestedBy: { kind: 'human', id: 'user-ada' },
} as unknown as RotationPlan;

const published = (rules: string) => {
  const doc = parsePolicyDocument(`apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: acme\nrules:\n${rules}`);
  return compilePolicy(doc, policyVersionHash(doc));
};

describe('rotation decision', () => {
  it('uses the built-in allow rule when no policy is published', () => {
    const d = decideRotation(rotationChange(plan), undefined);
    expect(d).toMatchObject({ effect: 'allow', policy: { name: 'builtin-credential-rotation' }, matchedRules: [{ id: 'rotate-managed-credentials' }] });
    expect(d.reasons[0]).toBe('no access policy is published; the built-in rotation policy applies');
  });

  it('uses the built-in allow rule when the published policy has no rule for the rotation, and says so', () => {
    const policy = published('  - id: accounts\n    match: { kinds: [create-account] }\n    effect: allow\n');
    const d = decideRotation(rotationChange(plan), policy);
    expect(d).toMatchObject({ effect: 'allow', policy: { name: 'builtin-credential-rotation' } });
    expect(d.reasons[0]).toBe(`policy acme (${policy.versionHash}) has no rule for rotate-credential on finance-db; the built-in rotation policy applies`);
  });

  it('follows a published rule that matches: approval required, or denied', () => {
    const approval = published(
      '  - id: finance-rotations\n    match: { kinds: [rotate-credential], connectors: [finance-db] }\n    effect: require-approval\n    approval:\n      stages:\n        - { name: Security, approvers: [{ role: security-approver }], deadline: 1h }\n',
    );
    const d = decideRotation(rotationChange(plan), approval);
    expect(d).toMatchObject({ effect: 'require-approval', policy: { name: 'acme', versionHash: approval.versionHash }, stages: [{ name: 'Security', quorum: 1 }] });
    const denial = published('  - id: frozen\n    match: { kinds: [rotate-credential], sources: [rotation] }\n    effect: deny\n');
    expect(decideRotation(rotationChange(plan), denial)).toMatchObject({ effect: 'deny', policy: { name: 'acme' }, reasons: ['rule frozen denies this change'] });
  });
});
