// The approval gate's activity: each gate event is written to the request record and the ledger in
// one transaction, exactly once (a retried activity finds its event already recorded by request id
// and sequence number). Every entry names the policy version that required the approval.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { LedgerAppender, NewLedgerEntry } from '../../audit/index.js';
import type { AccessChange } from '../../policies/access-change.js';
import type { GateParticipants } from '../../policies/approval-eligibility.js';
import type { DecisionStage, SodConflict } from '../../policies/decide.js';
import type { DecisionKey } from '../../policies/decision-signature.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';
import { LEDGER_ACTIONS } from '../change/change-authority.js';

export type GateEventKind = 'opened' | 'stage-started' | 'approved' | 'denied' | 'escalated' | 'expired' | 'passed-by-expiry' | 'cancelled' | 'closed';

export interface GateEvent {
  requestId: string;
  seq: number;
  kind: GateEventKind;
  stageIndex: number;
  stage?: string | undefined;
  /** The person who acted (approve, deny, withdraw); the workflow otherwise. */
  actorId?: string;
  actorName?: string;
  reason?: string;
  detail?: Record<string, unknown>;
  workflowId: string;
  runId: string;
  policy: { name: string; versionHash: string };
  /** Set for an admin change's gate: its events are recorded with the admin change. */
  gate?: 'admin-change';
}

/** Records an admin change's gate events (server/admin), and applies the change when its gate closes approved. */
export interface AdminGateRecorder {
  recordGateEvent(event: GateEvent): Promise<{ recorded: boolean }>;
}

/** What `opened` carries, so the request record can be created. */
export interface OpenedDetail {
  stages: DecisionStage[];
  participants: GateParticipants;
  reasons: string[];
  sodConflicts: SodConflict[];
}

const LEDGER_ACTION: Record<GateEventKind, string> = {
  opened: LEDGER_ACTIONS.requestOpened,
  'stage-started': LEDGER_ACTIONS.requestStageStarted,
  approved: LEDGER_ACTIONS.approved,
  denied: LEDGER_ACTIONS.denied,
  escalated: LEDGER_ACTIONS.escalated,
  expired: LEDGER_ACTIONS.expired,
  'passed-by-expiry': LEDGER_ACTIONS.approved,
  cancelled: LEDGER_ACTIONS.requestCancelled,
  closed: LEDGER_ACTIONS.requestClosed,
};

/** The request's status once the gate closes, and the change's. */
const CHANGE_STATUS_AFTER: Record<string, string> = { approved: 'approved', denied: 'rejected', expired: 'expired', cancelled: 'cancelled' };

export function createApprovalActivities(deps: { orm: MikroORM; ledger: LedgerAppender; decisions: Pick<DecisionSigner, 'ensureKey' | 'keys'>; adminChanges?: AdminGateRecorder }) {
  return {
    /** The public versions of the decision key, for the gate's validator (the key is created on first use). */
    async decisionKeys(): Promise<DecisionKey[]> {
      await deps.decisions.ensureKey();
      return deps.decisions.keys();
    },

    async recordGateEvent(event: GateEvent): Promise<{ recorded: boolean }> {
      if (event.gate === 'admin-change') {
        if (!deps.adminChanges) throw new Error(`approval gate ${event.workflowId} is for an admin change, and this worker cannot record admin changes`);
        return deps.adminChanges.recordGateEvent(event);
      }
      return deps.orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const now = new Date();
        const run = (sql: string, params: unknown[]) => conn.execute(sql, params, 'run', ctx);

        const inserted = await conn.execute<{ seq: number }[]>(
          `INSERT INTO access_request_event (request_id, seq, kind, stage, actor_id, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (request_id, seq) DO NOTHING RETURNING seq`,
          [event.requestId, event.seq, event.kind, event.stage ?? null, event.actorId ?? null, event.reason ?? null, now],
          'all',
          ctx,
        );
        if (!inserted.length) return { recorded: false }; // a retry of an event already on record

        const [changeRow] = await conn.execute<{ change: AccessChange }[]>('SELECT change FROM access_change WHERE id = ?', [event.requestId], 'all', ctx);
        if (!changeRow) throw new Error(`approval gate ${event.workflowId}: change ${event.requestId} was never decided, so it cannot wait for approval`);
        const change = changeRow.change;

        switch (event.kind) {
          case 'opened': {
            const d = event.detail as unknown as OpenedDetail;
            await run(
              `INSERT INTO access_request (id, workflow_id, status, kind, subject_id, subject_type, requester_kind, requester_id, connector_id, entitlement_id, change,
                 policy_name, policy_version_hash, reasons, sod_conflicts, stages, participants, current_stage_index, current_stage, stage_started_at, created_at, updated_at)
               VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)
               ON CONFLICT (id) DO NOTHING`,
              [
                event.requestId,
                event.workflowId,
                change.kind,
                change.subject.id,
                change.subject.type,
                change.requester.kind,
                change.requester.id,
                change.target.connectorId,
                change.target.entitlement?.id ?? null,
                JSON.stringify(change),
                event.policy.name,
                event.policy.versionHash,
                JSON.stringify(d.reasons),
                JSON.stringify(d.sodConflicts),
                JSON.stringify(d.stages),
                JSON.stringify(d.participants),
                event.stage ?? null,
                now,
                now,
                now,
              ],
            );
            break;
          }
          case 'stage-started':
            await run('UPDATE access_request SET current_stage_index = ?, current_stage = ?, stage_started_at = ?, escalated = false, updated_at = ? WHERE id = ?', [
              event.stageIndex,
              event.stage ?? null,
              now,
              now,
              event.requestId,
            ]);
            break;
          case 'escalated':
            await run('UPDATE access_request SET escalated = true, updated_at = ? WHERE id = ?', [now, event.requestId]);
            break;
          case 'approved':
          case 'denied':
            await run("UPDATE access_request SET decisions = decisions || ?::jsonb, updated_at = ? WHERE id = ?", [
              // The signature and the approver's keys go to the ledger only; the request record shows how they were eligible.
              JSON.stringify([{ stageIndex: event.stageIndex, stage: event.stage, userId: event.actorId, ...(event.actorName ? { displayName: event.actorName } : {}), verdict: event.kind === 'approved' ? 'approve' : 'deny', reason: event.reason, at: now.toISOString(), as: event.detail?.as }]),
              now,
              event.requestId,
            ]);
            break;
          case 'closed': {
            const status = String(event.detail?.status);
            await run('UPDATE access_request SET status = ?, closing_reason = ?, closed_at = ?, updated_at = ? WHERE id = ?', [status, event.reason ?? null, now, now, event.requestId]);
            await run("UPDATE access_change SET status = ?, updated_at = ? WHERE id = ? AND status = 'awaiting-approval'", [CHANGE_STATUS_AFTER[status] ?? 'cancelled', now, event.requestId]);
            break;
          }
          default:
            break;
        }

        const human = (event.kind === 'approved' || event.kind === 'denied' || event.kind === 'cancelled') && event.actorId;
        const entry: NewLedgerEntry = {
          action: LEDGER_ACTION[event.kind],
          actor: human ? { kind: 'human', id: event.actorId!, ...(event.actorName ? { display: event.actorName.slice(0, 256) } : {}) } : { kind: 'workflow', id: event.workflowId },
          subject: { type: change.subject.type === 'nhi' ? 'nhi' : 'identity', id: change.subject.id },
          target: { type: 'connector', id: change.target.connectorId, ...(change.target.connectorName ? { display: change.target.connectorName } : {}) },
          details: {
            gateEvent: event.kind,
            changeKind: change.kind,
            ...(change.target.entitlement ? { entitlement: change.target.entitlement.id } : {}),
            stageIndex: event.stageIndex,
            ...(event.stage ? { stage: event.stage } : {}),
            ...(event.reason ? { reason: event.reason } : {}),
            ...(event.kind === 'passed-by-expiry' ? { byExpiry: true } : {}),
            ...(event.kind === 'opened'
              ? { stages: (event.detail as unknown as OpenedDetail).stages.map((s) => ({ name: s.name, quorum: s.quorum, deadlineMs: s.deadlineMs })) }
              : (event.detail ?? {})),
          },
          correlation: { workflowId: event.workflowId, runId: event.runId, requestId: event.requestId, changeId: event.requestId },
          policy: { id: event.policy.name, versionHash: event.policy.versionHash },
        };
        await deps.ledger.append(entry, { em });
        return { recorded: true };
      });
    },
  };
}

export type ApprovalActivities = ReturnType<typeof createApprovalActivities>;
