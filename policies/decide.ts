// decide(change, context, policy): the pure policy decision for one AccessChange. Same inputs, same
// decision, every time: no clock, no I/O. The result names the policy version hash and every rule
// that matched, so the ledger can say exactly why.
import { subject as asSubject } from '@casl/ability';
import type { AccessChange } from './access-change.js';
import { REMOVING_KINDS } from './access-change.js';
import type { CompiledPolicy, EffectiveTarget } from './compile-policy.js';
import { effectiveTarget, toMatchable } from './compile-policy.js';
import type { ApproverSpec, StageSpec } from './policy-document.js';
import { durationMs } from './policy-document.js';

export type Effect = 'allow' | 'deny' | 'require-approval';

export interface DecisionContext {
  /** Entitlement keys (`<connector>:<entitlement>`) the subject holds now, on every connector. */
  heldEntitlements: readonly string[];
}

export interface DecisionStage {
  name: string;
  /** The rule (or separation-of-duties rule) that asked for this stage. */
  fromRule: string;
  approvers: ApproverSpec[];
  quorum: number;
  deadlineMs: number;
  escalateTo?: ApproverSpec[];
  escalationDeadlineMs?: number;
  onExpiry: 'deny' | 'allow';
}

export interface SodConflict {
  id: string;
  description?: string;
  /** The entitlements the subject would hold together. */
  entitlements: string[];
  effect: 'deny' | 'require-approval';
}

export interface Decision {
  effect: Effect;
  policy: { name: string; versionHash: string };
  /** The target as the policy saw it (its risk level, the entitlement's owner). */
  target: EffectiveTarget;
  matchedRules: { id: string; effect: Effect; description?: string }[];
  sodConflicts: SodConflict[];
  /** The approval stages in the order they must pass; empty unless the effect is require-approval. */
  stages: DecisionStage[];
  /** Why, in words a security engineer can act on. */
  reasons: string[];
}

export function toStage(spec: StageSpec, fromRule: string): DecisionStage {
  return {
    name: spec.name,
    fromRule,
    approvers: spec.approvers,
    quorum: spec.quorum,
    deadlineMs: durationMs(spec.deadline),
    ...(spec.escalateTo ? { escalateTo: spec.escalateTo, escalationDeadlineMs: durationMs(spec.escalationDeadline ?? spec.deadline) } : {}),
    onExpiry: spec.onExpiry,
  };
}

function sodConflicts(change: AccessChange, target: EffectiveTarget, context: DecisionContext, policy: CompiledPolicy): SodConflict[] {
  const key = target.entitlementKey;
  if (change.kind !== 'grant' || !key) return [];
  const after = new Set([...context.heldEntitlements, key]);
  return policy.document.separationOfDuties
    .filter((rule) => rule.entitlements.includes(key) && rule.entitlements.every((e) => after.has(e)))
    .map((rule) => ({
      id: rule.id,
      ...(rule.description ? { description: rule.description } : {}),
      entitlements: [...rule.entitlements],
      effect: rule.effect,
    }));
}

export function decide(change: AccessChange, context: DecisionContext, policy: CompiledPolicy): Decision {
  const target = effectiveTarget(change, policy);
  const matchable = asSubject('AccessChange', toMatchable(change, target));
  const policyRef = { name: policy.document.name, versionHash: policy.versionHash };
  // rulesFor lists the most recently defined first; decisions follow document order.
  const matched = policy.ability
    .rulesFor(change.kind, 'AccessChange')
    .filter((r) => r.matchesConditions(matchable))
    .map((r) => policy.rulesById.get(r.reason!)!)
    .sort((a, b) => policy.document.rules.indexOf(a) - policy.document.rules.indexOf(b));
  const conflicts = sodConflicts(change, target, context, policy);

  const matchedRules = matched.map((r) => ({ id: r.id, effect: r.effect, ...(r.description ? { description: r.description } : {}) }));
  const reasons: string[] = [];
  const describe = (r: { id: string; description?: string }) => (r.description ? `${r.id} (${r.description})` : r.id);

  const denials = matched.filter((r) => r.effect === 'deny');
  const sodDenials = conflicts.filter((c) => c.effect === 'deny');
  if (denials.length || sodDenials.length) {
    for (const r of denials) reasons.push(`rule ${describe(r)} denies this change`);
    for (const c of sodDenials) reasons.push(`separation of duties ${describe(c)}: the subject would hold ${c.entitlements.join(' and ')} together`);
    return { effect: 'deny', policy: policyRef, target, matchedRules, sodConflicts: conflicts, stages: [], reasons };
  }

  const approvals = matched.filter((r) => r.effect === 'require-approval');
  const sodApprovals = conflicts.filter((c) => c.effect === 'require-approval');
  if (approvals.length || sodApprovals.length) {
    const stages: DecisionStage[] = [];
    for (const r of approvals) {
      reasons.push(`rule ${describe(r)} requires approval`);
      for (const s of r.approval!.stages) stages.push(toStage(s, r.id));
    }
    for (const c of sodApprovals) {
      const rule = policy.document.separationOfDuties.find((s) => s.id === c.id)!;
      reasons.push(`separation of duties ${describe(c)}: the subject would hold ${c.entitlements.join(' and ')} together, so an extra stage is required`);
      stages.push(toStage(rule.stage!, c.id));
    }
    return { effect: 'require-approval', policy: policyRef, target, matchedRules, sodConflicts: conflicts, stages, reasons };
  }

  if (matched.some((r) => r.effect === 'allow')) {
    for (const r of matched) reasons.push(`rule ${describe(r)} allows this change`);
    return { effect: 'allow', policy: policyRef, target, matchedRules, sodConflicts: conflicts, stages: [], reasons };
  }

  if (REMOVING_KINDS.includes(change.kind)) {
    const effect = policy.document.defaults.removals;
    reasons.push(effect === 'allow' ? `no rule matched; ${change.kind} takes access away and is allowed by default` : `no rule matched; this policy denies removals by default`);
    return { effect, policy: policyRef, target, matchedRules, sodConflicts: conflicts, stages: [], reasons };
  }
  reasons.push(`no rule allows ${change.kind} on ${target.connector}; denied by default`);
  return { effect: 'deny', policy: policyRef, target, matchedRules, sodConflicts: conflicts, stages: [], reasons };
}
