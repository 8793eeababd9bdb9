// Rotation's policy decision. Rotating is an access change (`rotate-credential`, source `rotation`) and
// is decided by the access policy in force before anything reaches the target (promise 1); where the
// policy requires approval, the rotation waits at the approval gate like any other change.
//
// Default: Gatehouse ships no policy document, and installs that published one before rotations were
// decided by it have no rule for `rotate-credential`. So when no policy is published, or the policy in
// force has no rule that matches this rotation, the built-in policy below decides (and is named, with
// its version hash, on the ledger): rotations keep running as they always did. A published rule that
// matches (allow, deny or require-approval) always wins over the built-in one.
import { accessChangeSchema, type AccessChange } from '../../policies/access-change.js';
import { compilePolicy, type CompiledPolicy } from '../../policies/compile-policy.js';
import { decide, type Decision } from '../../policies/decide.js';
import { parsePolicyDocument, policyVersionHash } from '../../policies/policy-document.js';
import type { RotationPlan } from '../../connectors/credentials/rotation-types.js';

/** Rotation replaces a secret with a fresh one and grants nobody new access: allowed, and recorded. */
export const BUILTIN_ROTATION_POLICY = `
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: builtin-credential-rotation
description: >-
  Rotating a credential Gatehouse manages, on its schedule, on request, or when its owner leaves.
  It replaces a secret with a fresh one and grants no new access.
rules:
  - id: rotate-managed-credentials
    description: a managed credential may be rotated by Gatehouse, its admins and its owners
    match:
      kinds: [rotate-credential]
      sources: [rotation]
    effect: allow
`;

const document = parsePolicyDocument(BUILTIN_ROTATION_POLICY);
const builtin = compilePolicy(document, policyVersionHash(document));

/** The access change a rotation is, as policies and the ledger know it. */
export function rotationChange(plan: RotationPlan): AccessChange {
  return accessChangeSchema.parse({
    id: plan.changeId,
    kind: 'rotate-credential',
    subject: { type: 'nhi', id: plan.credentialId, displayName: plan.credentialName, ...(plan.ownerIds[0] ? { ownerId: plan.ownerIds[0] } : {}) },
    target: {
      connectorId: plan.connectorId,
      connectorName: plan.connectorName,
      connectorType: plan.connectorType,
      riskLevel: plan.privileged ? 'high' : 'medium',
      ...(plan.target.kind === 'account' ? { account: plan.target.uid } : {}),
    },
    source: 'rotation',
    requester: { kind: plan.requestedBy.kind, id: plan.requestedBy.id },
    ...(plan.justification ? { justification: plan.justification } : {}),
  });
}

/** The decision under the published policy, or the built-in one where the published policy says nothing about this rotation. */
export function decideRotation(change: AccessChange, published: CompiledPolicy | undefined): Decision {
  if (published) {
    const decision = decide(change, { heldEntitlements: [] }, published);
    if (decision.matchedRules.length) return decision;
    const fallback = decide(change, { heldEntitlements: [] }, builtin);
    return {
      ...fallback,
      reasons: [`policy ${published.document.name} (${published.versionHash}) has no rule for rotate-credential on ${change.target.connectorName ?? change.target.connectorId}; the built-in rotation policy applies`, ...fallback.reasons],
    };
  }
  const fallback = decide(change, { heldEntitlements: [] }, builtin);
  return { ...fallback, reasons: ['no access policy is published; the built-in rotation policy applies', ...fallback.reasons] };
}
