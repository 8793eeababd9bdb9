// Simulation of a draft policy before anyone publishes it: every access identities hold today and
// every request waiting at the gate is decided again under the draft, and the ones that would be
// decided differently are reported. decide() is pure, so this changes nothing anywhere.
import type { AccessChange } from './access-change.js';
import type { CompiledPolicy } from './compile-policy.js';
import { decide, type Decision, type DecisionContext, type Effect } from './decide.js';

/** One thing to decide again: a held account or entitlement (as the change that would grant it), or a pending request. */
export interface SimulationCase {
  kind: 'assignment' | 'pending-request';
  /** What the case is, for people: the subject, connector, entitlement or request id. */
  ref: Record<string, string>;
  change: AccessChange;
  context: DecisionContext;
  /** For a pending request: the decision it is waiting under (stages as stageLabel names them). */
  recorded?: { effect: Effect; stages: string[]; policy: { name: string; versionHash: string } };
}

/** Where the cases come from: the server reads them from Gatehouse's records of assignments and requests. */
export interface SimulationSource {
  cases(limit: number): Promise<{ cases: SimulationCase[]; truncated: boolean }>;
}

export interface DecisionSummary {
  effect: Effect;
  rules: string[];
  stages: string[];
  policy?: { name: string; versionHash: string };
}

export interface SimulationDifference {
  ref: Record<string, string>;
  change: { id: string; kind: string; connector: string; entitlement?: string };
  before: DecisionSummary | null;
  after: DecisionSummary & { reasons: string[] };
}

export interface SimulationReport {
  draft: { name: string; versionHash: string };
  inForce: { name: string; versionHash: string } | null;
  assignments: { evaluated: number; differences: SimulationDifference[] };
  pendingRequests: { evaluated: number; differences: SimulationDifference[] };
  /** True when there were more cases than the limit; only the first ones were evaluated. */
  truncated: boolean;
}

/** A stage as the report names it; recorded decisions use the same form. */
export const stageLabel = (s: { name: string; quorum: number }) => `${s.name} (${s.quorum})`;

const summary = (d: Decision): DecisionSummary => ({
  effect: d.effect,
  rules: d.matchedRules.map((r) => r.id),
  stages: d.stages.map(stageLabel),
  policy: d.policy,
});

const same = (a: DecisionSummary | null, b: DecisionSummary) => a !== null && a.effect === b.effect && a.stages.join('\n') === b.stages.join('\n');

export async function simulatePolicy(input: { draft: CompiledPolicy; inForce: CompiledPolicy | undefined; source: SimulationSource; limit: number }): Promise<SimulationReport> {
  const { cases, truncated } = await input.source.cases(input.limit);
  const report: SimulationReport = {
    draft: { name: input.draft.document.name, versionHash: input.draft.versionHash },
    inForce: input.inForce ? { name: input.inForce.document.name, versionHash: input.inForce.versionHash } : null,
    assignments: { evaluated: 0, differences: [] },
    pendingRequests: { evaluated: 0, differences: [] },
    truncated,
  };
  for (const c of cases) {
    const after = decide(c.change, c.context, input.draft);
    // A pending request is compared with the decision it waits under; held access with the policy in force.
    const before: DecisionSummary | null = c.recorded
      ? { effect: c.recorded.effect, rules: [], stages: c.recorded.stages, policy: c.recorded.policy }
      : input.inForce
        ? summary(decide(c.change, c.context, input.inForce))
        : null;
    const bucket = c.kind === 'assignment' ? report.assignments : report.pendingRequests;
    bucket.evaluated++;
    const afterSummary = summary(after);
    if (!same(before, afterSummary)) {
      bucket.differences.push({
        ref: c.ref,
        change: {
          id: c.change.id,
          kind: c.change.kind,
          connector: after.target.connector,
          ...(c.change.target.entitlement ? { entitlement: c.change.target.entitlement.id } : {}),
        },
        before,
        after: { ...afterSummary, reasons: after.reasons },
      });
    }
  }
  return report;
}
