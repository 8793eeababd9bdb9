// The joiner-mover-leaver activities: open a run for an identity event (once per event, whatever
// the deliveries), plan a person's access from the policy's birthright rules against what Gatehouse
// applied for them, and close the run on record. Reconciliation's activity compares what Gatehouse
// applied on a connector with what the target holds. Changes themselves go through the per-change
// path (workflows/change), never from here.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { LedgerAppender, NewLedgerEntry } from '../../audit/index.js';
import type { ChangeSubject } from '../../policies/access-change.js';
import { desiredAccess, type BirthrightIdentity } from '../../policies/birthright.js';
import type { PolicyStore } from '../../policies/policy-store.js';
import type { ConnectorFactory } from '../../connectors/instances/connector-factory.js';
import { reconcileAccounts, type DesiredAccount } from '../../connectors/reconcile/account-reconciler.js';
import { requireCapability } from '../../connectors/spi/connector.js';
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import type { AssignmentStore } from '../change/assignment-store.js';
import { planAccess, type Sourced } from './jml-plan.js';
import type { AccessPlan, DriftItem, DriftReport, IdentityEventRef, NhiHandOver, RunKind, RunStatus, StepResult } from './jml-types.js';

/** Who a person is now, from the directories; undefined when the directory no longer has them. */
export interface BirthrightIdentitySource {
  birthrightIdentity(directoryId: string, identityId: string): Promise<{ active: boolean; subject: ChangeSubject; identity: BirthrightIdentity } | undefined>;
}

export interface JmlActivityDeps {
  orm: MikroORM;
  ledger: LedgerAppender;
  policies: Pick<PolicyStore, 'compiledInForce'>;
  identities: BirthrightIdentitySource;
  assignments: Pick<AssignmentStore, 'assignmentsOf'>;
  connectors: Pick<ConnectorFactory, 'withConnector'>;
}

export const JML_LEDGER_ACTIONS = {
  runStarted: 'jml.run.started',
  runFinished: 'jml.run.finished',
  driftDetected: 'reconcile.drift.detected',
  reconcileFinished: 'reconcile.run.finished',
} as const;

/** How much of a drift report the ledger entry lists (the counts are always complete). */
const DRIFT_ITEMS_ON_RECORD = 200;

const workflowRef = () => {
  const e = Context.current().info.workflowExecution;
  if (!e) throw new Error('JML activities run for a workflow');
  return e;
};

export function createJmlActivities(deps: JmlActivityDeps) {
  const { orm, ledger } = deps;
  const sql = () => orm.em.fork().getConnection();

  /** Run-level entries name the run in correlation.requestId, beside the workflow and its Temporal run. */
  const runEntry = (runId: string, directoryId: string | undefined, entry: Omit<NewLedgerEntry, 'actor' | 'correlation'>): NewLedgerEntry => {
    const wf = workflowRef();
    return {
      ...entry,
      actor: { kind: 'workflow', id: wf.workflowId },
      correlation: { workflowId: wf.workflowId, runId: wf.runId, requestId: runId, ...(directoryId ? { directoryId } : {}) },
    };
  };

  async function sourcesOf(changeIds: string[]): Promise<Map<string, string>> {
    if (!changeIds.length) return new Map();
    const rows = await sql().execute<{ id: string; source: string }[]>('SELECT id::text AS id, source FROM access_change WHERE id::text IN (SELECT jsonb_array_elements_text(?::jsonb))', [JSON.stringify(changeIds)]);
    return new Map(rows.map((r) => [r.id, r.source]));
  }

  return {
    /**
     * Opens the run for one identity event. An event has one run, ever: a second call (a duplicate
     * delivery, a retry of this activity, a workflow that lost its memory) gets the run it already has.
     */
    async startIdentityRun(input: { runId: string; directoryId: string; identityId: string; event: IdentityEventRef }): Promise<{ runId: string; status: RunStatus; existing: boolean }> {
      const wf = workflowRef();
      const identityKey = `identity:${input.directoryId}:${input.identityId}`;
      return orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const now = new Date();
        const inserted = await conn.execute<{ id: string }[]>(
          `INSERT INTO jml_run (id, kind, status, identity_key, directory_id, identity_id, event_id, event_kind, retry_of, workflow_id, temporal_run_id, started_at, updated_at)
           VALUES (?, 'pending', 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING RETURNING id`,
          [input.runId, identityKey, input.directoryId, input.identityId, input.event.id, input.event.kind, input.event.retryOf ?? null, wf.workflowId, wf.runId, now, now],
          'all',
          ctx,
        );
        if (!inserted.length) {
          const [row] = await conn.execute<{ id: string; status: RunStatus }[]>('SELECT id, status FROM jml_run WHERE event_id = ?', [input.event.id], 'all', ctx);
          return { runId: row!.id, status: row!.status, existing: true };
        }
        await ledger.append(
          runEntry(input.runId, input.directoryId, {
            action: JML_LEDGER_ACTIONS.runStarted,
            subject: { type: 'identity', id: input.identityId },
            details: { eventId: input.event.id, eventKind: input.event.kind, ...(input.event.seq ? { outboxSeq: input.event.seq } : {}), ...(input.event.retryOf ? { retryOf: input.event.retryOf, requestedBy: input.event.requestedBy } : {}) },
          }),
          { em },
        );
        return { runId: input.runId, status: 'running' as const, existing: false };
      });
    },

    /** What the person should hold by the policy in force, against what Gatehouse applied for them: the ordered changes. */
    async planIdentityAccess(input: { runId: string; directoryId: string; identityId: string }): Promise<AccessPlan> {
      const found = await deps.identities.birthrightIdentity(input.directoryId, input.identityId);
      const subject: ChangeSubject = found?.subject ?? { type: 'human', id: input.identityId, directoryId: input.directoryId, attributes: {} };
      const active = found?.active ?? false;
      const policy = await deps.policies.compiledInForce();
      const birthright = policy?.document.birthright;
      const desired = active && found && birthright ? desiredAccess(birthright, found.identity) : { accounts: [], entitlements: [], problems: [] };

      const names = [...new Set(desired.accounts.map((a) => a.connector))];
      const connectorRows = names.length
        ? await sql().execute<{ id: string; name: string }[]>('SELECT id::text AS id, name FROM connector_instance WHERE name IN (SELECT jsonb_array_elements_text(?::jsonb))', [JSON.stringify(names)])
        : [];
      const held = await deps.assignments.assignmentsOf({ type: subject.type, id: subject.id });
      const sources = await sourcesOf([...held.accounts.map((a) => a.changeId), ...held.entitlements.map((e) => e.changeId)]);
      const withSource = <T extends { changeId: string }>(x: T): Sourced<T> => ({ ...x, ...(sources.has(x.changeId) ? { source: sources.get(x.changeId)! } : {}) });
      const plan = planAccess({
        active,
        desired,
        connectorIds: new Map(connectorRows.map((r) => [r.name, r.id])),
        current: { accounts: held.accounts.map(withSource), entitlements: held.entitlements.map(withSource) },
      });
      const policyRef = policy ? { name: policy.document.name, versionHash: policy.versionHash } : undefined;
      await sql().execute("UPDATE jml_run SET kind = ?, policy_version_hash = ?, problems = ?, updated_at = ? WHERE id = ? AND status = 'running'", [
        plan.kind,
        policyRef?.versionHash ?? null,
        JSON.stringify(plan.problems),
        new Date(),
        input.runId,
      ]);
      return { ...plan, active, inDirectory: Boolean(found), subject, ...(policyRef ? { policy: policyRef } : {}) };
    },

    /** Closes a run on record: its status, every step's outcome, the error that stopped it. Once. */
    async finishRun(input: { runId: string; directoryId?: string; subjectId?: string; kind: RunKind; status: Exclude<RunStatus, 'running'>; steps: StepResult[]; error?: { type: string; message: string }; nhi?: NhiHandOver; extra?: Record<string, unknown> }): Promise<void> {
      const error = input.error ? { type: input.error.type.slice(0, 100), message: input.error.message.slice(0, 1000) } : null;
      await orm.em.fork().transactional(async (em) => {
        const updated = await em
          .getConnection()
          .execute<{ id: string }[]>(
            "UPDATE jml_run SET kind = ?, status = ?, steps = ?, error = ?, nhi = ?, finished_at = ?, updated_at = ? WHERE id = ? AND status = 'running' RETURNING id",
            [input.kind, input.status, JSON.stringify(input.steps), error ? JSON.stringify(error) : null, input.nhi ? JSON.stringify(input.nhi) : null, new Date(), new Date(), input.runId],
            'all',
            em.getTransactionContext(),
          );
        if (!updated.length) return;
        const count = (s: StepResult['status']) => input.steps.filter((x) => x.status === s).length;
        await ledger.append(
          runEntry(input.runId, input.directoryId, {
            action: input.kind === 'reconcile' ? JML_LEDGER_ACTIONS.reconcileFinished : JML_LEDGER_ACTIONS.runFinished,
            ...(input.subjectId ? { subject: { type: 'identity', id: input.subjectId } } : {}),
            details: {
              kind: input.kind,
              status: input.status,
              steps: input.steps.length,
              applied: count('applied'),
              refused: count('denied') + count('rejected') + count('expired') + count('cancelled'),
              failed: count('failed'),
              compensated: input.steps.filter((s) => s.compensation === 'compensated').length,
              changeIds: input.steps.map((s) => s.changeId),
              ...(error ? { error } : {}),
              ...(input.nhi ? { nonHumanIdentities: { handedOver: input.nhi.handedOver, rotations: input.nhi.rotations } } : {}),
              ...(input.extra ?? {}),
            },
          }),
          { em },
        );
      });
    },

    /**
     * Reconciliation: what Gatehouse applied on one connector (its record of accounts and
     * entitlements) against what the target holds now, read in one streaming search. The drift is
     * recorded on the ledger and on the run; the workflow corrects it when the policy says so.
     */
    async detectDrift(input: { runId: string; connectorId: string }): Promise<DriftReport> {
      const wf = workflowRef();
      const now = new Date();
      const [connector] = await sql().execute<{ name: string }[]>('SELECT name FROM connector_instance WHERE id::text = ?', [input.connectorId]);
      if (!connector) throw ApplicationFailure.create({ type: 'UnknownConnector', message: `no connector ${input.connectorId}`, nonRetryable: true });
      await sql().execute(
        `INSERT INTO jml_run (id, kind, status, connector_id, workflow_id, temporal_run_id, started_at, updated_at) VALUES (?, 'reconcile', 'running', ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [input.runId, input.connectorId, wf.workflowId, wf.runId, now, now],
      );
      const policy = await deps.policies.compiledInForce();
      const mode = policy?.targets.get(connector.name)?.reconcile ?? 'report';

      const accounts = await sql().execute<{ subject_type: 'human' | 'nhi'; subject_id: string; account_uid: string; account_name: string | null; enabled: boolean }[]>(
        'SELECT subject_type, subject_id, account_uid, account_name, enabled FROM identity_account WHERE connector_id = ? ORDER BY subject_type, subject_id',
        [input.connectorId],
      );
      const ents = await sql().execute<{ subject_type: string; subject_id: string; entitlement_id: string; entitlement_uid: string | null }[]>(
        'SELECT subject_type, subject_id, entitlement_id, entitlement_uid FROM identity_entitlement WHERE connector_id = ?',
        [input.connectorId],
      );
      const report = await asConnectorActivity(() =>
        deps.connectors.withConnector(input.connectorId, async (c) => {
          const search = requireCapability(c, 'searchAccounts', connector.name);
          const entitlementNames = new Map<string, string>();
          if (c.capabilities.has('searchEntitlements')) for await (const e of requireCapability(c, 'searchEntitlements', connector.name).searchEntitlements()) entitlementNames.set(e.uid, e.name);
          const byName = new Map<string, (typeof accounts)[number]>();
          const desired: DesiredAccount[] = [];
          for (const a of accounts) {
            if (!a.account_name) continue;
            const mine = ents.filter((e) => e.subject_type === a.subject_type && e.subject_id === a.subject_id);
            byName.set(a.account_name, a);
            desired.push({ name: a.account_name, enabled: a.enabled, entitlements: mine.map((e) => e.entitlement_uid ?? e.entitlement_id) });
          }
          const plan = await reconcileAccounts(search, desired);
          const items: DriftItem[] = [];
          const subjectOf = (a: (typeof accounts)[number]) => ({ type: a.subject_type, id: a.subject_id });
          for (const m of plan.missing) items.push({ kind: 'account-missing', subject: subjectOf(byName.get(m.name)!), accountName: m.name });
          for (const d of plan.drifted) {
            const a = byName.get(d.name)!;
            if (d.enable !== undefined) items.push({ kind: 'account-enabled-state', subject: subjectOf(a), accountName: d.name, expected: d.enable, actual: !d.enable });
            for (const uid of d.grant) {
              const e = ents.find((x) => x.subject_type === a.subject_type && x.subject_id === a.subject_id && (x.entitlement_uid ?? x.entitlement_id) === uid);
              items.push({ kind: 'entitlement-missing', subject: subjectOf(a), accountName: d.name, entitlementId: e?.entitlement_id ?? entitlementNames.get(uid) ?? uid });
            }
            for (const uid of d.revoke) items.push({ kind: 'entitlement-unexpected', subject: subjectOf(a), accountName: d.name, entitlementId: entitlementNames.get(uid) ?? uid, entitlementUid: uid });
          }
          return { connectorId: input.connectorId, connectorName: connector.name, mode, managedAccounts: desired.length, scannedAccounts: plan.scanned, unmanagedAccounts: plan.unexpected.length, items } satisfies DriftReport;
        }),
      );
      await orm.em.fork().transactional(async (em) => {
        await em.getConnection().execute('UPDATE jml_run SET drift = ?, updated_at = ? WHERE id = ?', [JSON.stringify(report), new Date(), input.runId], 'run', em.getTransactionContext());
        await ledger.append(
          runEntry(input.runId, undefined, {
            action: JML_LEDGER_ACTIONS.driftDetected,
            target: { type: 'connector', id: input.connectorId, display: connector.name },
            details: {
              mode,
              managedAccounts: report.managedAccounts,
              scannedAccounts: report.scannedAccounts,
              unmanagedAccounts: report.unmanagedAccounts,
              drift: report.items.length,
              items: report.items.slice(0, DRIFT_ITEMS_ON_RECORD),
              ...(report.items.length > DRIFT_ITEMS_ON_RECORD ? { itemsOmitted: report.items.length - DRIFT_ITEMS_ON_RECORD } : {}),
            },
            ...(policy ? { policy: { id: policy.document.name, versionHash: policy.versionHash } } : {}),
          }),
          { em },
        );
      });
      return report;
    },
  };
}

export type JmlActivities = ReturnType<typeof createJmlActivities>;
