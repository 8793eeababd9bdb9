// Activities of the approval gate: each gate event is written to the request record and the ledger
// in one transaction, exactly once (a retried activity finds its event already recorded).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AccessChange } from '../../policies/access-change.js';
import type { DecisionStage } from '../../policies/decide.js';
import type { GateParticipants } from '../../policies/approval-eligibility.js';

export type GateEventKind = 'opened' | 'stage-started' | 'approved' | 'denied' | 'escalated' | 'expired' | 'passed-by-expiry' | 'cancelled' | 'closed';

export interface GateEvent {
  requestId: string;
  seq: number;
  kind: GateEventKind;
  stage?: string | undefined;
  /** The person who acted (approve, deny, cancel); the workflow otherwise. */
  actorId?: string;
  reason?: string;
  detail?: Record<string, unknown>;
  workflowId: string;
  runId: string;
  policy: { name: string; versionHash: string };
}

/** What `opened` carries, so the request record can be created. */
export interface OpenedDetail {
  change: AccessChange;
  stages: DecisionStage[];
  participants: GateParticipants;
  reasons: string[];
}

/** The ledger as the gate uses it: appends that join the caller's transaction. */
export interface GateLedger {
  append(
    entry: {
      action: string;
      actor: { kind: 'human' | 'idp' | 'workflow' | 'nhi' | 'system'; id: string; display?: string };
      subject?: { type: string; id: string; display?: string };
      target?: { type: string; id: string; display?: string };
      details?: Record<string, unknown>;
      correlation?: { workflowId?: string; runId?: string; requestId?: string; directoryId?: string; changeId?: string };
      policy?: { id: string; versionHash: string };
    },
    options?: { em?: EntityManager },
  ): Promise<unknown>;
}

const LEDGER_ACTION: Record<GateEventKind, string> = {
  opened: 'access.request.opened',
  'stage-started': 'access.request.stage-started',
  approved: 'access.change.approved',
  denied: 'access.change.denied',
  escalated: 'access.change.escalated',
  expired: 'access.change.expired',
  'passed-by-expiry': 'access.change.approved',
  cancelled: 'access.request.cancelled',
  closed: 'access.request.closed',
};

const STATUS_AFTER: Partial<Record<GateEventKind, string>> = { denied: 'denied', expired: 'expired', cancelled: 'cancelled' };

export function createApprovalActivities(deps: { orm: MikroORM; ledger: GateLedger }) {
  return {
    async recordGateEvent(event: GateEvent): Promise<{ recorded: boolean }> {
      return deps.orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const now = new Date();

        if (event.kind === 'opened') {
          const d = event.detail as unknown as OpenedDetail;
          const c = d.change;
          await conn.execute(
            `INSERT INTO access_request (id, workflow_id, status, kind, subject_id, subject_type, requester_id, connector_id, entitlement_id, change,
               policy_name, policy_version_hash, reasons, stages, participants, current_stage, created_at, updated_at)
             VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING`,
            [event.requestId, event.workflowId, c.kind, c.subject.id, c.subject.type, c.requester.id, c.target.connectorId, c.target.entitlement?.id ?? null,
              JSON.stringify(c), event.policy.name, event.policy.versionHash, JSON.stringify(d.reasons), JSON.stringify(d.stages), JSON.stringify(d.participants),
              event.stage ?? null, now, now],
            'run',
            ctx,
          );
        }
        const inserted = await conn.execute<{ seq: number }[]>(
          `INSERT INTO access_request_event (request_id, seq, kind, stage, actor_id, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (request_id, seq) DO NOTHING RETURNING seq`,
          [event.requestId, event.seq, event.kind, event.stage ?? null, event.actorId ?? null, event.reason ?? null, now],
          'all',
          ctx,
        );
        if (!inserted.length) return { recorded: false }; // a retry of an event already on record

        const rows = await conn.execute<{ change: AccessChange; decisions: unknown[] }[]>('SELECT change, decisions FROM access_request WHERE id = ? FOR UPDATE', [event.requestId], 'all', ctx);
        const change = rows[0]!.change;
        const decisions = [...rows[0]!.decisions];
        if (event.kind === 'approved' || event.kind === 'denied') {
          decisions.push({ stage: event.stage, userId: event.actorId, verdict: event.kind === 'approved' ? 'approve' : 'deny', reason: event.reason, at: now.toISOString(), ...event.detail });
        }
        const closedStatus = event.kind === 'closed' ? String(event.detail?.status) : STATUS_AFTER[event.kind];
        await conn.execute(
          `UPDATE access_request SET current_stage = COALESCE(?, current_stage), escalated = CASE WHEN ? THEN true WHEN ? THEN false ELSE escalated END,
             decisions = ?, status = COALESCE(?, status), closing_reason = CASE WHEN ? THEN ? ELSE closing_reason END,
             closed_at = CASE WHEN ? THEN ? ELSE closed_at END, updated_at = ?
           WHERE id = ?`,
          [event.stage ?? null, event.kind === 'escalated', event.kind === 'stage-started', JSON.stringify(decisions), closedStatus ?? null,
            event.kind === 'closed', event.reason ?? null, event.kind === 'closed', now, now, event.requestId],
          'run',
          ctx,
        );

        const human = event.kind === 'approved' || event.kind === 'denied' || event.kind === 'cancelled';
        await deps.ledger.append(
          {
            action: LEDGER_ACTION[event.kind],
            actor: human && event.actorId ? { kind: 'human', id: event.actorId } : { kind: 'workflow', id: event.workflowId },
            subject: { type: change.subject.type === 'nhi' ? 'nhi' : 'identity', id: change.subject.id },
            target: { type: 'connector', id: change.target.connectorId, ...(change.target.entitlement ? { display: change.target.entitlement.id } : {}) },
            details: {
              gateEvent: event.kind,
              changeKind: change.kind,
              ...(event.stage ? { stage: event.stage } : {}),
              ...(event.reason ? { reason: event.reason } : {}),
              ...(event.kind === 'passed-by-expiry' ? { byExpiry: true } : {}),
              ...(event.kind === 'opened' ? { stages: (event.detail as unknown as OpenedDetail).stages.map((s) => s.name) } : event.detail ?? {}),
            },
            correlation: { workflowId: event.workflowId, runId: event.runId, changeId: event.requestId },
            policy: { id: event.policy.name, versionHash: event.policy.versionHash },
          },
          { em },
        );
        return { recorded: true };
      });
    },
  };
}

export type ApprovalActivities = ReturnType<typeof createApprovalActivities>;
