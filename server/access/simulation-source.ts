// The cases a policy simulation decides again: every account and entitlement Gatehouse's record of
// assignments holds (as the change that granted it, with the subject's current attributes and the
// rest of what they hold), and every request waiting at the approval gate (with the decision it
// waits under).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AccessChange } from '../../policies/access-change.js';
import { entitlementKey } from '../../policies/access-change.js';
import type { DecisionStage } from '../../policies/decide.js';
import { stageLabel, type SimulationCase, type SimulationSource } from '../../policies/policy-simulation.js';
import type { SubjectResolver } from '../../workflows/change/subject-resolver.js';

interface HeldRow {
  kind: 'account' | 'entitlement';
  connector_id: string;
  connector_name: string;
  subject_type: 'human' | 'nhi';
  subject_id: string;
  entitlement_id: string | null;
  account_name: string | null;
  change: AccessChange | null;
}

export function createSimulationSource(deps: { orm: MikroORM; subjects: Pick<SubjectResolver, 'resolveSubject'> }): SimulationSource {
  const sql = () => deps.orm.em.fork().getConnection();
  return {
    async cases(limit) {
      const held = await sql().execute<HeldRow[]>(
        `SELECT * FROM (
           SELECT 'entitlement' AS kind, e.connector_id::text AS connector_id, c.name AS connector_name, e.subject_type, e.subject_id, e.entitlement_id, NULL AS account_name, ac.change
             FROM identity_entitlement e JOIN connector_instance c ON c.id = e.connector_id LEFT JOIN access_change ac ON ac.id = e.change_id
           UNION ALL
           SELECT 'account', a.connector_id::text, c.name, a.subject_type, a.subject_id, NULL, a.account_name, ac.change
             FROM identity_account a JOIN connector_instance c ON c.id = a.connector_id LEFT JOIN access_change ac ON ac.id = a.change_id
         ) held ORDER BY subject_type, subject_id, connector_name, kind, entitlement_id LIMIT ?`,
        [limit + 1],
      );
      const truncated = held.length > limit;
      const rows = held.slice(0, limit);
      const pending = await sql().execute<{ id: string; change: AccessChange; stages: DecisionStage[]; policy_name: string; policy_version_hash: string; held: string[] | null }[]>(
        `SELECT r.id, r.change, r.stages, r.policy_name, r.policy_version_hash, ac.held_entitlements AS held
           FROM access_request r LEFT JOIN access_change ac ON ac.id = r.id WHERE r.status = 'pending' ORDER BY r.created_at LIMIT ?`,
        [limit],
      );

      const heldKeys = new Map<string, string[]>();
      for (const r of rows) {
        if (r.kind !== 'entitlement' || !r.entitlement_id) continue;
        const k = `${r.subject_type}:${r.subject_id}`;
        heldKeys.set(k, [...(heldKeys.get(k) ?? []), entitlementKey(r.connector_name, r.entitlement_id)]);
      }
      const fresh = new Map<string, AccessChange['subject'] | undefined>();
      const subjectOf = async (s: AccessChange['subject']) => {
        const k = `${s.type}:${s.id}`;
        if (!fresh.has(k)) fresh.set(k, await deps.subjects.resolveSubject(s));
        return fresh.get(k) ?? s;
      };

      const cases: SimulationCase[] = [];
      for (const r of rows) {
        const stored = r.change;
        const baseSubject: AccessChange['subject'] = stored?.subject ?? { type: r.subject_type, id: r.subject_id, attributes: {} };
        const change: AccessChange = {
          id: stored?.id ?? '00000000-0000-4000-8000-000000000000',
          kind: r.kind === 'account' ? 'create-account' : 'grant',
          subject: await subjectOf(baseSubject),
          target: {
            connectorId: r.connector_id,
            connectorName: r.connector_name,
            riskLevel: stored?.target.riskLevel ?? 'medium',
            ...(r.account_name ? { accountName: r.account_name } : {}),
            ...(r.entitlement_id ? { entitlement: stored?.target.entitlement ?? { id: r.entitlement_id, privileged: false } } : {}),
          },
          source: stored?.source ?? 'reconcile',
          requester: stored?.requester ?? { kind: 'system', id: 'gatehouse' },
          ...(stored?.justification ? { justification: stored.justification } : {}),
        };
        const own = r.entitlement_id ? entitlementKey(r.connector_name, r.entitlement_id) : undefined;
        const others = (heldKeys.get(`${r.subject_type}:${r.subject_id}`) ?? []).filter((k) => k !== own);
        cases.push({
          kind: 'assignment',
          ref: { subject: `${r.subject_type}:${r.subject_id}`, connector: r.connector_name, ...(r.entitlement_id ? { entitlement: r.entitlement_id } : { account: r.account_name ?? '' }) },
          change,
          context: { heldEntitlements: others },
        });
      }
      for (const p of pending) {
        cases.push({
          kind: 'pending-request',
          ref: { requestId: p.id, subject: `${p.change.subject.type}:${p.change.subject.id}` },
          change: p.change,
          context: { heldEntitlements: p.held ?? [] },
          recorded: { effect: 'require-approval', stages: p.stages.map(stageLabel), policy: { name: p.policy_name, versionHash: p.policy_version_hash } },
        });
      }
      return { cases, truncated: truncated || pending.length >= limit };
    },
  };
}
