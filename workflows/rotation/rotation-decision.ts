// Rotation's policy decision, as a step of its own. Rotating is an access change (`rotate-credential`)
// and is decided before anything reaches the target (promise 1). Until the approval gate's per-change
// path is on main, the decision is taken here, with `decide()` and the built-in policy below, and
// recorded in the ledger with that policy's name and version hash. When the gate lands, this step
// becomes a call into it (and a rotation that needs approval waits there instead of being refused).
import { accessChangeSchema, type AccessChange } from '../../policies/access-change.js';
import { compilePolicy } from '../../policies/compile-policy.js';
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
const compiled = compilePolicy(document, policyVersionHash(document));

/** The access change a rotation is, as policies and the ledger know it. */
export function rotationChange(plan: RotationPlan): AccessChange {
  return accessChangeSchema.parse({
    id: plan.changeId,
    kind: 'rotate-credential',
    subject: { type: 'nhi', id: plan.credentialId, displayName: plan.credentialName, ...(plan.ownerIds[0] ? { ownerId: plan.ownerIds[0] } : {}) },
    target: {
      connectorId: plan.connectorId,
      connectorType: plan.connectorType,
      riskLevel: plan.privileged ? 'high' : 'medium',
      ...(plan.target.kind === 'account' ? { account: plan.target.uid } : {}),
    },
    source: 'rotation',
    requester: { kind: plan.requestedBy.kind, id: plan.requestedBy.id },
    ...(plan.justification ? { justification: plan.justification } : {}),
  });
}

export function decideRotation(plan: RotationPlan): Decision {
  return decide(rotationChange(plan), { heldEntitlements: [] }, compiled);
}
