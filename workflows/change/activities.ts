// The per-change path's activities: decide (policy in force, held entitlements, recorded before the
// decision is returned), apply (only with the ledger's allow decision and approvals for exactly this
// change, through the connector journal keyed by the change id), compensate (the inverse, once), and
// record a failure. Each keeps the change's record, the assignments and the ledger in one transaction.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Ledger, LedgerAppender, LedgerEntry, NewLedgerEntry } from '../../audit/index.js';
import { accessChangeSchema, type AccessChange, type AccessChangeInput } from '../../policies/access-change.js';
import { accessChangeHash } from '../../policies/change-hash.js';
import { decide } from '../../policies/decide.js';
import type { PolicyStore } from '../../policies/policy-store.js';
import type { ConnectorFactory } from '../../connectors/instances/connector-factory.js';
import type { ConnectorOperation, ConnectorOperations } from '../../connectors/operations/connector-operations.js';
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import { requireCapability } from '../../connectors/spi/connector.js';
import type { AccountAssignment, AssignmentEffect, AssignmentStore, EntitlementAssignment, SubjectRef } from './assignment-store.js';
import { recordAssignmentEffect } from './assignment-store.js';
import { LEDGER_ACTIONS, checkAuthority, holdsApprovals, type RecordedStage } from './change-authority.js';
import { insertAccessChange, ledgerEntriesOfChange, readAccessChange, type AccessChangeRow } from './access-change-record.js';
import { inverseOf, toConnectorOperation, type AppliedEffect } from './change-operation.js';
import type { AppliedChange, ChangeFailure, CompensationResult, DecidedChange, RunRef } from './change-types.js';
import type { SubjectResolver } from './subject-resolver.js';
import type { DecisionSigner } from '../../policies/decision-signer.js';

export interface ChangeActivityDeps {
  orm: MikroORM;
  /** Appends entries, and reads a change's entries back for the promise-1 check. */
  ledger: LedgerAppender & Pick<Ledger, 'query'>;
  policies: Pick<PolicyStore, 'compiledInForce'>;
  subjects: SubjectResolver;
  assignments: Pick<AssignmentStore, 'heldEntitlementKeys' | 'account' | 'assignmentsOf'>;
  operations: Pick<ConnectorOperations, 'apply'>;
  connectors: Pick<ConnectorFactory, 'withConnector'>;
  /** The decision key's public versions: every approval is verified again before apply. */
  decisions: Pick<DecisionSigner, 'keys'>;
}

/** A refusal the workflow must act on, not retry. */
const refusal = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Serialises work on one change across processes (a decide racing its own retry). */
const CHANGE_LOCK = "pg_advisory_xact_lock(hashtextextended('gatehouse.change:' || ?, 0))";

const runRef = (): RunRef => {
  const { workflowExecution } = Context.current().info;
  if (!workflowExecution) throw new Error('change activities run for a workflow');
  return { workflowId: workflowExecution.workflowId, runId: workflowExecution.runId };
};

/** Subject, target and correlation of every entry about one change. */
function about(change: AccessChange, run: RunRef): Pick<NewLedgerEntry, 'subject' | 'target' | 'correlation'> {
  return {
    subject: { type: change.subject.type === 'nhi' ? 'nhi' : 'identity', id: change.subject.id, ...(change.subject.displayName ? { display: change.subject.displayName.slice(0, 256) } : {}) },
    target: { type: 'connector', id: change.target.connectorId, ...(change.target.connectorName ? { display: change.target.connectorName } : {}) },
    correlation: { workflowId: run.workflowId, runId: run.runId, changeId: change.id, ...(change.subject.directoryId ? { directoryId: change.subject.directoryId } : {}) },
  };
}

const describeTarget = (change: AccessChange) => ({
  kind: change.kind,
  ...(change.target.accountName ? { accountName: change.target.accountName } : {}),
  ...(change.target.account ? { account: change.target.account } : {}),
  ...(change.target.entitlement ? { entitlement: change.target.entitlement.id } : {}),
});


function effectOfApply(op: ConnectorOperation, applied: AppliedChange): AssignmentEffect {
  const accountUid = applied.accountUid ?? '';
  switch (op.kind) {
    case 'createAccount':
      return { kind: 'account-created', accountUid };
    case 'disableAccount':
    case 'enableAccount':
      return { kind: 'account-enabled', enabled: op.kind === 'enableAccount', accountUid };
    case 'deleteAccount':
      return { kind: 'account-deleted', accountUid };
    case 'grant':
      return { kind: 'entitlement-granted', accountUid, entitlementUid: applied.entitlementUid };
    case 'revoke':
      return { kind: 'entitlement-revoked' };
    // Entitlements made or removed on the target (never an access change) hold no one's access.
    case 'updateAccount':
    case 'createEntitlement':
    case 'deleteEntitlement':
      return { kind: 'none' };
  }
}

export function createChangeActivities(deps: ChangeActivityDeps) {
  const { orm, ledger } = deps;

  const readChange = (id: string, em?: EntityManager): Promise<AccessChangeRow | undefined> => readAccessChange(em ?? orm.em.fork(), id);

  const entriesOf = (changeId: string): Promise<LedgerEntry[]> => ledgerEntriesOfChange(ledger, changeId);

  const lookupEntitlementUid = (connectorId: string, name: string) =>
    deps.connectors.withConnector(connectorId, async (connector, instance) => {
      for await (const e of requireCapability(connector, 'searchEntitlements', instance.name).searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: name } })) {
        if (e.name === name) return e.uid;
      }
      throw refusal('UnknownEntitlement', `connector ${instance.name} has no entitlement named ${name}`);
    });

  return {
    /**
     * Decides one change under the policy in force and records the decision in the ledger before
     * returning it. A change id is decided once: deciding it again returns the recorded decision, and
     * different content under a decided id is refused.
     */
    async decideChange(input: { change: AccessChangeInput }): Promise<DecidedChange> {
      const run = runRef();
      const parsed = accessChangeSchema.safeParse(input.change);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw refusal('InvalidChange', `change.${issue.path.join('.')}: ${issue.message}`);
      }
      const inputHash = accessChangeHash(parsed.data);
      const recorded = await readChange(parsed.data.id);
      if (recorded) {
        if (recorded.input_hash !== inputHash) throw refusal('ChangeIdReused', `change ${parsed.data.id} was already decided for different content; a change id names one change`);
        return { change: recorded.change, changeHash: recorded.change_hash, decision: recorded.decision, ...(recorded.participants ? { participants: recorded.participants } : {}), alreadyRecorded: true };
      }

      let change = parsed.data;
      if (!UUID.test(change.target.connectorId)) throw refusal('UnknownConnector', `change.target.connectorId: ${change.target.connectorId} is not a connector id`);
      const [connector] = await orm.em.fork().getConnection().execute<{ name: string; type: string }[]>('SELECT name, type FROM connector_instance WHERE id = ?', [change.target.connectorId]);
      if (!connector) throw refusal('UnknownConnector', `change.target.connectorId: no connector ${change.target.connectorId}`);
      // Policies match on what Gatehouse knows, not on what the change's author wrote.
      change = { ...change, target: { ...change.target, connectorName: connector.name, connectorType: connector.type } };
      const fresh = await deps.subjects.resolveSubject(change.subject);
      if (fresh) change = { ...change, subject: fresh };

      const policy = await deps.policies.compiledInForce();
      if (!policy) throw refusal('NoPolicy', 'no access policy is published, so nothing can be decided: publish one (POST /api/policies, or gatehouse policy publish)');
      const held = await deps.assignments.heldEntitlementKeys(change.subject);
      const decision = decide(change, { heldEntitlements: held }, policy);
      const participants = decision.effect === 'require-approval' ? await deps.subjects.participants(change, decision.target.entitlementOwner) : undefined;
      const changeHash = accessChangeHash(change);
      const stages: RecordedStage[] = decision.stages.map((s, index) => ({ index, name: s.name, quorum: s.quorum, onExpiry: s.onExpiry }));
      const status = decision.effect === 'allow' ? 'allowed' : decision.effect === 'deny' ? 'denied' : 'awaiting-approval';

      return orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        await conn.execute(`SELECT ${CHANGE_LOCK}`, [change.id], 'all', ctx);
        const raced = await readChange(change.id, em);
        if (raced) {
          if (raced.input_hash !== inputHash) throw refusal('ChangeIdReused', `change ${change.id} was already decided for different content; a change id names one change`);
          return { change: raced.change, changeHash: raced.change_hash, decision: raced.decision, ...(raced.participants ? { participants: raced.participants } : {}), alreadyRecorded: true };
        }
        const now = new Date();
        await insertAccessChange(em, { change, changeHash, inputHash, status, decision, heldEntitlements: held, participants, workflowId: run.workflowId, at: now });
        await ledger.append(
          {
            action: LEDGER_ACTIONS.decided,
            actor: { kind: 'workflow', id: run.workflowId },
            ...about(change, run),
            details: {
              changeHash,
              effect: decision.effect,
              ...describeTarget(change),
              source: change.source,
              requester: change.requester,
              ...(change.justification ? { justification: change.justification.slice(0, 1000) } : {}),
              riskLevel: decision.target.riskLevel,
              privileged: decision.target.privileged,
              matchedRules: decision.matchedRules.map((r) => r.id),
              sodConflicts: decision.sodConflicts.map((c) => c.id),
              heldEntitlements: held,
              stages,
              ...(participants ? { exclusions: { subjectKeys: participants.subjectKeys, requesterKeys: participants.requesterKeys } } : {}),
              reasons: decision.reasons,
            },
            policy: { id: decision.policy.name, versionHash: decision.policy.versionHash },
          },
          { em },
        );
        return { change, changeHash, decision, ...(participants ? { participants } : {}), alreadyRecorded: false };
      });
    },

    /**
     * Applies a decided change through its connector. Before the target is touched, the ledger must
     * hold the allow decision for exactly this change and every approval it required (promise 1);
     * the connector journal, keyed by the change id, makes a retry answer instead of applying twice.
     */
    async applyChange(input: { change: AccessChange }): Promise<AppliedChange> {
      const run = runRef();
      const change = input.change;
      const hash = accessChangeHash(change);
      const row = await readChange(change.id);
      if (row?.status === 'applied' && row.change_hash === hash && row.result) return { ...row.result, replayed: true };

      const entries = await entriesOf(change.id);
      const authority = checkAuthority(entries, { id: change.id, hash }, holdsApprovals(entries) ? await deps.decisions.keys() : []);
      if (!authority.allowed) {
        // Someone tried to apply without authority: that is on record too, and nothing is touched.
        await ledger.append({
          action: LEDGER_ACTIONS.refused,
          actor: { kind: 'workflow', id: run.workflowId },
          ...about(change, run),
          details: { changeHash: hash, ...describeTarget(change), reason: authority.reason },
        });
        throw refusal('NotAuthorized', `not applied: ${authority.reason}`);
      }

      return asConnectorActivity(async () => {
        const connectorId = change.target.connectorId;
        let accountUid = change.target.account;
        // Only the subject's own account on record: looking one up by the change's accountName would
        // act on whichever account carries that name, someone else's included.
        if (!accountUid && change.kind !== 'create-account') accountUid = (await deps.assignments.account(connectorId, change.subject))?.accountUid;
        const ent = change.target.entitlement;
        const entitlementUid = ent && (change.kind === 'grant' || change.kind === 'revoke') ? (ent.uid ?? (await lookupEntitlementUid(connectorId, ent.id))) : undefined;
        const operation = toConnectorOperation(change, { accountUid, entitlementUid });
        // The connector journals the operation on the ledger too, under the change id as its idempotency
        // key; it is correlated with the run only, so a change's own entries stay the gate's.
        const result = await deps.operations.apply({ instanceId: connectorId, idempotencyKey: change.id, operation, actor: { kind: 'workflow', id: run.workflowId }, correlation: { workflowId: run.workflowId, runId: run.runId } });
        const applied: AppliedChange = {
          changeId: change.id,
          connectorId,
          operation: operation.kind,
          changed: result.changed,
          ...((result.accountUid ?? accountUid) ? { accountUid: (result.accountUid ?? accountUid)! } : {}),
          ...(entitlementUid ? { entitlementUid } : {}),
          replayed: result.replayed,
        };
        await orm.em.fork().transactional(async (em) => {
          const conn = em.getConnection();
          const ctx = em.getTransactionContext();
          const updated = await conn.execute<{ id: string }[]>(
            "UPDATE access_change SET status = 'applied', result = ?, error = NULL, updated_at = ? WHERE id = ? AND status NOT IN ('applied', 'compensated') RETURNING id",
            [JSON.stringify(applied), new Date(), change.id],
            'all',
            ctx,
          );
          if (!updated.length) return; // an earlier attempt recorded it
          await recordAssignmentEffect(em, change, effectOfApply(operation, applied));
          await ledger.append(
            {
              action: LEDGER_ACTIONS.applied,
              actor: { kind: 'workflow', id: run.workflowId },
              ...about(change, run),
              details: { changeHash: hash, ...describeTarget(change), operation: operation.kind, changed: applied.changed, ...(applied.accountUid ? { accountUid: applied.accountUid } : {}), ...(entitlementUid ? { entitlementUid } : {}), decidedSeq: authority.decidedSeq },
              policy: authority.policy,
            },
            { em },
          );
        });
        return applied;
      });
    },

    /**
     * Undoes an applied change with its inverse (revoke for a grant, delete for a created account,
     * enable for a disable), once: a second call answers from the record. What cannot be undone is
     * recorded as such. The undo restores what existed before Gatehouse acted, under the original
     * change's decision, so it needs no decision of its own.
     */
    async compensateChange(input: { changeId: string; reason: string }): Promise<CompensationResult> {
      const run = runRef();
      const row = await readChange(input.changeId);
      if (row?.status === 'compensated' && row.result?.compensation) return row.result.compensation;
      if (!row || row.status !== 'applied' || !row.result) {
        return { status: 'nothing-to-undo', changeId: input.changeId, reason: `change ${input.changeId} was not applied${row ? ` (it is ${row.status})` : ''}` };
      }
      const change = row.change;
      const applied = row.result;
      const policy = { id: row.policy_name, versionHash: row.policy_version_hash };
      const effect: AppliedEffect = applied;
      const inverse = inverseOf(change, effect);

      if (inverse.kind === 'impossible') {
        const already = (await entriesOf(change.id)).some((e) => e.action === LEDGER_ACTIONS.compensationFailed);
        if (!already) {
          await ledger.append({
            action: LEDGER_ACTIONS.compensationFailed,
            actor: { kind: 'workflow', id: run.workflowId },
            ...about(change, run),
            details: { ...describeTarget(change), reason: inverse.reason, because: input.reason },
            policy,
          });
        }
        return { status: 'impossible', changeId: change.id, reason: inverse.reason };
      }

      return asConnectorActivity(async () => {
        let result: CompensationResult;
        let assignment: AssignmentEffect = { kind: 'none' };
        if (inverse.kind === 'nothing') {
          result = { status: 'nothing-to-undo', changeId: change.id, reason: inverse.reason };
        } else {
          const undone = await deps.operations.apply({ instanceId: change.target.connectorId, idempotencyKey: `${change.id}:undo`, operation: inverse.operation, actor: { kind: 'workflow', id: run.workflowId }, correlation: { workflowId: run.workflowId, runId: run.runId } });
          result = { status: 'compensated', changeId: change.id, operation: inverse.operation.kind, changed: undone.changed };
          assignment = effectOfApply(inverse.operation, { ...applied, changed: undone.changed });
        }
        await orm.em.fork().transactional(async (em) => {
          const conn = em.getConnection();
          const ctx = em.getTransactionContext();
          const updated = await conn.execute<{ id: string }[]>(
            "UPDATE access_change SET status = 'compensated', result = result || ?::jsonb, updated_at = ? WHERE id = ? AND status = 'applied' RETURNING id",
            [JSON.stringify({ compensation: result }), new Date(), change.id],
            'all',
            ctx,
          );
          if (!updated.length) return;
          await recordAssignmentEffect(em, change, assignment);
          await ledger.append(
            {
              action: LEDGER_ACTIONS.compensated,
              actor: { kind: 'workflow', id: run.workflowId },
              ...about(change, run),
              details: {
                ...describeTarget(change),
                undone: result.status === 'compensated',
                ...(result.status === 'compensated' ? { operation: result.operation, changed: result.changed } : { reason: result.reason }),
                because: input.reason,
              },
              policy,
            },
            { em },
          );
        });
        return result;
      });
    },

    /** What an identity holds on every connector, as Gatehouse applied it (for workflows that plan changes). */
    async readAssignments(input: { subject: SubjectRef }): Promise<{ accounts: AccountAssignment[]; entitlements: EntitlementAssignment[] }> {
      return deps.assignments.assignmentsOf(input.subject);
    },

    /** Records that a change could not be decided, applied or undone. Once per change and phase. */
    async recordChangeFailed(input: { changeId: string; phase: 'decide' | 'approval' | 'apply' | 'compensate'; error: ChangeFailure; change?: AccessChangeInput }): Promise<void> {
      const run = runRef();
      const error = { type: input.error.type.slice(0, 100), message: input.error.message.slice(0, 1000) };
      const action = input.phase === 'compensate' ? LEDGER_ACTIONS.compensationFailed : LEDGER_ACTIONS.failed;
      await orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        await conn.execute(`SELECT ${CHANGE_LOCK}`, [input.changeId], 'all', ctx);
        const row = await readChange(input.changeId, em);
        const already = (await entriesOf(input.changeId)).some((e) => e.action === action && (e.details as { phase?: string } | undefined)?.phase === input.phase);
        if (already) return;
        if (row && input.phase === 'apply') {
          await conn.execute("UPDATE access_change SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND status NOT IN ('applied', 'compensated')", [JSON.stringify(error), new Date(), input.changeId], 'run', ctx);
        }
        const change = row?.change;
        const parsed = change ? undefined : accessChangeSchema.safeParse(input.change);
        const described = change ?? (parsed?.success ? parsed.data : undefined);
        await ledger.append(
          {
            action,
            actor: { kind: 'workflow', id: run.workflowId },
            ...(described ? about(described, run) : { correlation: { workflowId: run.workflowId, runId: run.runId, changeId: input.changeId } }),
            details: { phase: input.phase, error, ...(described ? describeTarget(described) : {}) },
            ...(row ? { policy: { id: row.policy_name, versionHash: row.policy_version_hash } } : {}),
          },
          { em },
        );
      });
    },
  };
}

export type ChangeActivities = ReturnType<typeof createChangeActivities>;
