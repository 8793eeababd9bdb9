// Sync flows as people use them: validating and publishing versions (each publication stored and
// recorded in the ledger, `flow.published`, in one transaction), starting runs and reading them,
// previews, and dead letters (listed, replayed, discarded). What touches connectors runs on a worker,
// through Temporal. Every method checks the caller's ability first.
import { createHash, randomUUID } from 'node:crypto';
import { ForbiddenError } from '@casl/ability';
import type { MikroORM } from '@mikro-orm/postgresql';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Actor, LedgerAppender } from '../../audit/index.js';
import { actorOfPrincipal } from '../../audit/ledger-routes.js';
import type { AdminAbility, Principal } from '../../shared/auth/permissions.js';
import { conflict, dependencyUnavailable, GatehouseError, invalid, notFound } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import { isoTime } from '../../shared/timestamps.js';
import { flowVersionHash, parseFlowDocument, planRulesOf, type FlowDocument } from './flow-document.js';
import { flowPlanDecided, flowPreviewWorkflow, flowReplayWorkflow, flowRunWorkflow } from './workflow.js';
import type { DeadLetterReplay, FlowPlan, FlowPreview, FlowRunCounts } from './activities.js';
import { flowWorkflowId, openFlowRun, type FlowTrigger } from './flow-run-record.js';
import { newWebhookSecret, verifyWebhook, webhookPath, webhookSecretPath, type WebhookAuth } from './flow-webhooks.js';

export interface FlowCaller {
  principal: Principal;
  ability: AdminAbility;
}

export interface FlowPublication {
  seq: number;
  name: string;
  versionHash: string;
  publishedAt: string;
  publishedBy: { kind: string; id: string; name?: string };
  note?: string;
}

export interface FlowVersion {
  name: string;
  versionHash: string;
  document: FlowDocument;
  source: string;
  createdAt: string;
}

export interface FlowInForce extends FlowPublication {
  version: FlowVersion;
}

interface PublicationRow {
  seq: string;
  flow_name: string;
  version_hash: string;
  published_at: Date | string;
  published_by_kind: string;
  published_by_id: string;
  published_by_name: string | null;
  note: string | null;
}
type InForceRow = PublicationRow & { document: FlowDocument; source: string; created_at: Date | string };

const PUBLICATION_COLUMNS = 'p.seq, p.flow_name, p.version_hash, p.published_at, p.published_by_kind, p.published_by_id, p.published_by_name, p.note';

const toPublication = (r: PublicationRow): FlowPublication => ({
  seq: Number(r.seq),
  name: r.flow_name,
  versionHash: r.version_hash,
  publishedAt: isoTime(r.published_at),
  publishedBy: { kind: r.published_by_kind, id: r.published_by_id, ...(r.published_by_name ? { name: r.published_by_name } : {}) },
  ...(r.note ? { note: r.note } : {}),
});
const toInForce = (r: InForceRow): FlowInForce => ({
  ...toPublication(r),
  version: { name: r.flow_name, versionHash: r.version_hash, document: r.document, source: r.source, createdAt: isoTime(r.created_at) },
});

/** The latest publication of each flow (or of one), with its version. */
const IN_FORCE_SQL = `SELECT DISTINCT ON (p.flow_name) ${PUBLICATION_COLUMNS}, v.document, v.source, v.created_at
  FROM flow_publication p JOIN flow_version v ON v.version_hash = p.version_hash`;

export interface FlowRun extends FlowRunCounts {
  id: string;
  flow: string;
  versionHash: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  endedAt?: string;
  startedBy: { kind: string; id: string; name?: string };
  pages: number;
  /** Access changes the run handed to the gate (memberships records), by where each stands now. */
  accessChanges: FlowRunChanges;
  /** A planned run's plan: what it would write, and whether a person approved it. */
  plan?: FlowPlan;
  error?: string;
}

export interface FlowRunChanges {
  total: number;
  applied: number;
  awaitingApproval: number;
  /** Being decided or applied. */
  inProgress: number;
  /** Denied by policy, or rejected, expired or cancelled at the gate. */
  refused: number;
  /** Failed, or applied and then undone. */
  failed: number;
}

interface RunRow {
  id: string;
  flow_name: string;
  version_hash: string;
  status: FlowRun['status'];
  started_at: Date | string;
  ended_at: Date | string | null;
  started_by_kind: string;
  started_by_id: string;
  started_by_name: string | null;
  batches: number;
  dead_lettered: number;
  read: number;
  skipped: number;
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  access_changes: number;
  change_status: Record<string, number> | null;
  plan: FlowPlan | null;
  error: string | null;
}

/** Where a run's access changes stand, from each change's own record. */
const RUN_SQL = `SELECT r.*, (SELECT jsonb_object_agg(s.status, s.n) FROM (
    SELECT coalesce(a.status, 'starting') AS status, count(*) AS n FROM flow_change f LEFT JOIN access_change a ON a.id = f.change_id WHERE f.run_id = r.id GROUP BY 1) s) AS change_status
  FROM flow_run r`;

function toChanges(r: RunRow): FlowRunChanges {
  const n = (...statuses: string[]) => statuses.reduce((sum, st) => sum + Number(r.change_status?.[st] ?? 0), 0);
  return {
    total: r.access_changes,
    applied: n('applied'),
    awaitingApproval: n('awaiting-approval'),
    inProgress: n('starting', 'allowed', 'approved'),
    refused: n('denied', 'rejected', 'expired', 'cancelled'),
    failed: n('failed', 'compensated'),
  };
}

const toRun = (r: RunRow): FlowRun => ({
  id: r.id,
  flow: r.flow_name,
  versionHash: r.version_hash,
  status: r.status,
  startedAt: isoTime(r.started_at),
  ...(r.ended_at ? { endedAt: isoTime(r.ended_at) } : {}),
  startedBy: { kind: r.started_by_kind, id: r.started_by_id, ...(r.started_by_name ? { name: r.started_by_name } : {}) },
  pages: r.batches,
  deadLettered: r.dead_lettered,
  read: r.read,
  skipped: r.skipped,
  created: r.created,
  updated: r.updated,
  unchanged: r.unchanged,
  deleted: r.deleted,
  accessChanges: toChanges(r),
  ...(r.plan ? { plan: r.plan } : {}),
  ...(r.error ? { error: r.error } : {}),
});

export interface DeadLetter {
  id: string;
  flow: string;
  runId: string;
  versionHash: string;
  /** Where it failed: mapping it, or writing it to the target. */
  stage: 'map' | 'write';
  error: string;
  /** The source record with the flow's field rules applied; the record itself is sealed. */
  record: Record<string, unknown>;
  status: 'open' | 'replayed' | 'discarded' | 'superseded';
  attempts: number;
  createdAt: string;
  resolvedAt?: string;
  resolvedBy?: { kind: string; id: string; name?: string };
  reason?: string;
}

interface DeadLetterRow {
  id: string;
  flow_name: string;
  run_id: string;
  version_hash: string;
  stage: DeadLetter['stage'];
  error: string;
  redacted: Record<string, unknown>;
  status: DeadLetter['status'];
  attempts: number;
  created_at: Date | string;
  resolved_at: Date | string | null;
  resolved_by_kind: string | null;
  resolved_by_id: string | null;
  resolved_by_name: string | null;
  reason: string | null;
}

const DEAD_LETTER_COLUMNS = 'id, flow_name, run_id, version_hash, stage, error, redacted, status, attempts, created_at, resolved_at, resolved_by_kind, resolved_by_id, resolved_by_name, reason';

const toDeadLetter = (r: DeadLetterRow): DeadLetter => ({
  id: r.id,
  flow: r.flow_name,
  runId: r.run_id,
  versionHash: r.version_hash,
  stage: r.stage,
  error: r.error,
  record: r.redacted,
  status: r.status,
  attempts: r.attempts,
  createdAt: isoTime(r.created_at),
  ...(r.resolved_at ? { resolvedAt: isoTime(r.resolved_at) } : {}),
  ...(r.resolved_by_kind && r.resolved_by_id ? { resolvedBy: { kind: r.resolved_by_kind, id: r.resolved_by_id, ...(r.resolved_by_name ? { name: r.resolved_by_name } : {}) } } : {}),
  ...(r.reason ? { reason: r.reason } : {}),
});

export interface PublishFlowInput {
  document: string;
  note?: string | undefined;
  /** The version hash the caller believes is in force for this flow (null: a new flow); refused when another was published since. */
  replaces?: string | null | undefined;
}

export function createFlowService(deps: {
  orm: MikroORM;
  ledger: LedgerAppender;
  temporal?: { client: Client; taskQueue: string };
  /** Where webhook secrets are kept (Vault). */
  secrets?: SecretStore;
  /** Whether the latest execution of a workflow id is running (a run abandoned in Temporal is then closed). */
  isRunning?: (workflowId: string) => Promise<boolean>;
  /** Told after each publication (the server makes the flows' schedules match). */
  onPublished?: () => void;
}) {
  const sql = () => deps.orm.em.getConnection();
  const check = (caller: FlowCaller, action: 'read' | 'publish' | 'run' | 'decide') => ForbiddenError.from(caller.ability).throwUnlessCan(action, 'Flow');

  async function findInForce(name: string): Promise<InForceRow | undefined> {
    const [row] = await sql().execute<InForceRow[]>(`${IN_FORCE_SQL} WHERE p.flow_name = ? ORDER BY p.flow_name, p.seq DESC`, [name]);
    return row;
  }

  async function inForce(name: string): Promise<InForceRow> {
    const row = await findInForce(name);
    if (!row) throw notFound('flow', name);
    return row;
  }

  async function run(id: string): Promise<FlowRun> {
    const [row] = await sql().execute<RunRow[]>(`${RUN_SQL} WHERE r.id = ?`, [id]);
    if (!row) throw notFound('flow run', id);
    return toRun(row);
  }

  async function forgetCursor(name: string, runId: string, actor: Actor): Promise<void> {
    await deps.orm.em.transactional(async (em) => {
      const [was] = await em.getConnection().execute<{ cursor: string | null }[]>(
        `WITH old AS (SELECT flow_name, cursor FROM flow_state WHERE flow_name = ? FOR UPDATE)
         UPDATE flow_state s SET cursor = NULL, updated_at = now() FROM old WHERE s.flow_name = old.flow_name RETURNING old.cursor`,
        [name],
        'all',
        em.getTransactionContext(),
      );
      await deps.ledger.append(
        { action: 'flow.refreshed', actor, subject: { type: 'flow', id: name }, details: { runId, cursorForgotten: was?.cursor ? createHash('sha256').update(was.cursor).digest('hex') : null } },
        { em },
      );
    });
  }

  /** Opens a run (on the ledger, `flow.run.started`) and starts its workflow; a start that fails closes the run as failed, with why. */
  async function launch(name: string, actor: Actor, trigger: FlowTrigger): Promise<FlowRun> {
    if (!deps.temporal) throw dependencyUnavailable('temporal', 'this server cannot start flow runs (it has no Temporal client)');
    const opened = await openFlowRun(deps, { id: randomUUID(), flowName: name, actor, trigger });
    const { id } = opened;
    let starting = false;
    try {
      // A refresh reads the source from its start: the cursor goes, once this run holds the flow (on the ledger).
      if (trigger === 'refresh') await forgetCursor(name, id, actor);
      starting = true;
      const temporal = deps.temporal;
      const start = () =>
        temporal.client.workflow.start(flowRunWorkflow, {
          workflowId: flowWorkflowId(name),
          taskQueue: temporal.taskQueue,
          args: [{ runId: id, flowName: name, versionHash: opened.versionHash, attempts: opened.document.errors.retries + 1, planned: !!planRulesOf(opened.document) }],
        });
      // This run holds the flow (its record is the only one running), so a workflow still under the
      // flow's id is the last run's, which has closed its record and is ending: wait for it, briefly.
      for (let wait = 100; ; wait *= 2) {
        try {
          await start();
          break;
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError) || wait > 3200) throw err;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    } catch (err) {
      // Nothing ran: the run is closed as failed, with why, so the flow is free to run again.
      const message = `the run could not be started: ${(err as Error).message}`;
      await deps.orm.em.transactional(async (em) => {
        await em.getConnection().execute("UPDATE flow_run SET status = 'failed', ended_at = now(), error = ? WHERE id = ? AND status = 'running'", [message.slice(0, 2000), id], 'all', em.getTransactionContext());
        await deps.ledger.append({ action: 'flow.run.failed', actor, subject: { type: 'flow', id: name }, details: { runId: id, versionHash: opened.versionHash, pages: 0, error: message.slice(0, 500) } }, { em });
      });
      throw starting ? dependencyUnavailable('temporal', message, err) : err;
    }
    return run(id);
  }

  /** Runs a preview on a worker (where connectors and keys are) and waits for it. */
  async function runPreview(input: Parameters<typeof flowPreviewWorkflow>[0]): Promise<FlowPreview> {
    if (!deps.temporal) throw dependencyUnavailable('temporal', 'this server cannot preview flows (it has no Temporal client)');
    try {
      return await deps.temporal.client.workflow.execute(flowPreviewWorkflow, {
        workflowId: `flow-preview:${input.flowName}:${randomUUID()}`,
        taskQueue: deps.temporal.taskQueue,
        args: [input],
        workflowExecutionTimeout: '10 minutes',
      });
    } catch (err) {
      const cause = (err as { cause?: { cause?: Error; message?: string } }).cause;
      throw dependencyUnavailable('preview', `the preview did not finish: ${cause?.cause?.message ?? cause?.message ?? (err as Error).message}`, err);
    }
  }

  /** Names the connector instances a flow uses that do not exist, by the field that names them. */
  async function checkConnectors(doc: FlowDocument): Promise<void> {
    const names = [...new Set([doc.source.connector, doc.target.connector])];
    const rows = await sql().execute<{ name: string }[]>(`SELECT name FROM connector_instance WHERE name IN (${names.map(() => '?').join(', ')})`, names);
    const known = new Set(rows.map((r) => r.name));
    for (const field of ['source', 'target'] as const) {
      if (!known.has(doc[field].connector)) throw invalid(`${field}.connector`, `no connector is named ${doc[field].connector} (gatehouse connector list)`);
    }
  }

  return {
    /** Parses and checks a flow without storing it: the name and version it would publish as. */
    async validate(caller: FlowCaller, text: string): Promise<{ name: string; versionHash: string; document: FlowDocument }> {
      check(caller, 'read');
      const document = parseFlowDocument(text);
      await checkConnectors(document);
      return { name: document.name, versionHash: flowVersionHash(document), document };
    },

    async publish(caller: FlowCaller, input: PublishFlowInput): Promise<{ published: boolean; publication: FlowPublication }> {
      check(caller, 'publish');
      const document = parseFlowDocument(input.document);
      await checkConnectors(document);
      const versionHash = flowVersionHash(document);
      const actor = actorOfPrincipal(caller.principal);
      const result = await deps.orm.em.transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        // One publication of a flow at a time, across every server process.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('gatehouse.flow.publish:' || ?::text, 0))", [document.name], 'all', ctx);
        const [current] = await conn.execute<PublicationRow[]>(`SELECT ${PUBLICATION_COLUMNS} FROM flow_publication p WHERE p.flow_name = ? ORDER BY p.seq DESC LIMIT 1`, [document.name], 'all', ctx);
        if (input.replaces !== undefined && (current?.version_hash ?? null) !== input.replaces) {
          throw conflict(`the flow ${document.name} in force is ${current?.version_hash ?? 'none'}, not ${input.replaces ?? 'none'}: someone published it since you read it`, 'replaces');
        }
        if (current?.version_hash === versionHash) return { published: false, publication: toPublication(current) };
        const inserted = await conn.execute<{ version_hash: string }[]>(
          'INSERT INTO flow_version (version_hash, name, document, source) VALUES (?, ?, ?, ?) ON CONFLICT (version_hash) DO NOTHING RETURNING version_hash',
          [versionHash, document.name, JSON.stringify(document), input.document],
          'all',
          ctx,
        );
        const [row] = await conn.execute<PublicationRow[]>(
          `INSERT INTO flow_publication AS p (flow_name, version_hash, published_by_kind, published_by_id, published_by_name, note) VALUES (?, ?, ?, ?, ?, ?)
           RETURNING ${PUBLICATION_COLUMNS}`,
          [document.name, versionHash, actor.kind, actor.id, actor.display ?? null, input.note ?? null],
          'all',
          ctx,
        );
        await deps.ledger.append(
          {
            action: 'flow.published',
            actor,
            subject: { type: 'flow', id: document.name },
            details: {
              versionHash,
              previous: current?.version_hash ?? null,
              // A version seen before is published again (a rollback); its text is the stored one.
              newVersion: inserted.length > 0,
              source: { connector: document.source.connector, objectClass: document.source.objectClass },
              target: { connector: document.target.connector, objectClass: document.target.objectClass, operation: document.target.operation },
              ...(input.note ? { note: input.note } : {}),
            },
          },
          { em },
        );
        return { published: true, publication: toPublication(row!) };
      });
      if (result.published) deps.onPublished?.();
      return result;
    },

    async list(caller: FlowCaller): Promise<FlowInForce[]> {
      check(caller, 'read');
      const rows = await sql().execute<InForceRow[]>(`${IN_FORCE_SQL} ORDER BY p.flow_name, p.seq DESC`);
      return rows.map(toInForce);
    },

    /** A flow's version in force and its publications, newest first. */
    async get(caller: FlowCaller, name: string): Promise<{ inForce: FlowInForce; publications: FlowPublication[] }> {
      check(caller, 'read');
      const row = await inForce(name);
      const publications = await sql().execute<PublicationRow[]>(`SELECT ${PUBLICATION_COLUMNS} FROM flow_publication p WHERE p.flow_name = ? ORDER BY p.seq DESC LIMIT 50`, [name]);
      return { inForce: toInForce(row), publications: publications.map(toPublication) };
    },

    /**
     * Starts a run of the version in force, recorded on the ledger (`flow.run.started`) before the
     * workflow starts; one run of a flow at a time. A refresh (a full resync) reads the source from
     * its start: upserts by key make records already written unchanged.
     */
    async startRun(caller: FlowCaller, name: string, options: { refresh?: boolean | undefined } = {}): Promise<FlowRun> {
      check(caller, 'run');
      return launch(name, actorOfPrincipal(caller.principal), options.refresh ? 'refresh' : 'manual');
    },

    /**
     * A new webhook secret for a flow started by webhooks, stored in Vault and shown this once; the
     * old one stops working. On the ledger (`flow.webhook.secret.set`), without the secret.
     */
    async setWebhookSecret(caller: FlowCaller, name: string): Promise<{ flow: string; auth: WebhookAuth; path: string; secret: string }> {
      check(caller, 'publish');
      const row = await inForce(name);
      const trigger = row.document.trigger;
      if (trigger.type !== 'webhook') throw invalid('trigger', `flow ${name} is not started by webhooks: publish a version with trigger { type: webhook } first`);
      if (!deps.secrets) throw dependencyUnavailable('vault', 'this server cannot store webhook secrets (it has no secret store)');
      const secret = newWebhookSecret();
      await deps.secrets.writeKv(webhookSecretPath(name), { secret });
      await deps.ledger.append({ action: 'flow.webhook.secret.set', actor: actorOfPrincipal(caller.principal), subject: { type: 'flow', id: name }, details: { auth: trigger.auth, vaultPath: webhookSecretPath(name) } });
      return { flow: name, auth: trigger.auth, path: webhookPath(name), secret };
    },

    /**
     * A webhook call: authenticated by the flow's secret (a refusal is on the ledger,
     * `flow.webhook.refused`, with why and from where), then a run starts as `webhook`.
     */
    async receiveWebhook(input: { name: string; headers: Record<string, string | string[] | undefined>; rawBody: Buffer; from: string }): Promise<FlowRun> {
      const trigger = (await findInForce(input.name))?.document.trigger;
      if (trigger?.type !== 'webhook') throw new GatehouseError('not_found', `no flow named ${input.name} is started by webhooks`);
      const caller: Actor = { kind: 'system', id: 'webhook', display: `webhook call from ${input.from}` };
      try {
        if (!deps.secrets) throw dependencyUnavailable('vault', 'this server cannot read webhook secrets (it has no secret store)');
        const stored = await deps.secrets.readKv(webhookSecretPath(input.name));
        const secret = stored?.data.secret;
        if (!secret) throw new GatehouseError('unauthenticated', `flow ${input.name} has no webhook secret yet: an admin sets one (gatehouse flow webhook-secret ${input.name})`);
        verifyWebhook({ auth: trigger.auth, secret, headers: input.headers, rawBody: input.rawBody, nowSeconds: Math.floor(Date.now() / 1000) });
      } catch (err) {
        if (err instanceof GatehouseError && err.code === 'unauthenticated') {
          await deps.ledger.append({ action: 'flow.webhook.refused', actor: caller, subject: { type: 'flow', id: input.name }, details: { reason: err.message, from: input.from, auth: trigger.auth } });
        }
        throw err;
      }
      return launch(input.name, caller, 'webhook');
    },

    /**
     * Approves or rejects a run's plan, as the approver saw it (its digest): a plan that changed since
     * is refused (409), and whoever started the run does not decide its plan. On the ledger
     * (`flow.plan.approved` or `flow.plan.rejected`); the run is told and goes on (re-checking the
     * live diff against the plan first) or fails.
     */
    async decidePlan(caller: FlowCaller, name: string, runId: string, decision: { verdict: 'approve' | 'reject'; digest: string; reason?: string | undefined }): Promise<FlowRun> {
      check(caller, 'decide');
      const current = await run(runId);
      if (current.flow !== name) throw notFound('flow run', runId);
      const plan = current.plan;
      if (current.status !== 'running' || plan?.state !== 'awaiting-approval') throw conflict(`run ${runId} has no plan waiting for a decision (${current.status !== 'running' ? `the run is ${current.status}` : `its plan is ${plan?.state ?? 'not worked out yet'}`})`);
      if (plan.digest !== decision.digest) throw conflict(`the plan changed since it was shown: its digest is now ${plan.digest}; look at it again before deciding`);
      const actor = actorOfPrincipal(caller.principal);
      if (current.startedBy.kind === actor.kind && current.startedBy.id === actor.id) {
        throw new GatehouseError('forbidden', 'you started this run, so someone else decides its plan', { details: { reason: 'separation of duties' } });
      }
      const state = decision.verdict === 'approve' ? 'approved' : 'rejected';
      await deps.orm.em.transactional(async (em) => {
        const decided = await em.getConnection().execute<{ id: string }[]>(
          `UPDATE flow_run SET plan = plan || jsonb_build_object('state', ?::text, 'decidedBy', ?::jsonb, 'decidedAt', now(), 'reason', ?::text)
            WHERE id = ? AND status = 'running' AND plan ->> 'state' = 'awaiting-approval' AND plan ->> 'digest' = ? RETURNING id`,
          [state, JSON.stringify({ kind: actor.kind, id: actor.id, ...(actor.display ? { name: actor.display } : {}) }), decision.reason ?? null, runId, decision.digest],
          'all',
          em.getTransactionContext(),
        );
        if (!decided.length) throw conflict(`run ${runId}'s plan was decided or changed meanwhile; look at it again`);
        await deps.ledger.append({ action: `flow.plan.${state}`, actor, subject: { type: 'flow', id: name }, details: { runId, digest: decision.digest, ...(decision.reason ? { reason: decision.reason } : {}) } }, { em });
      });
      if (!deps.temporal) throw dependencyUnavailable('temporal', 'the decision is recorded, but this server cannot tell the run (it has no Temporal client)');
      await deps.temporal.client.workflow.getHandle(flowWorkflowId(name)).signal(flowPlanDecided);
      return run(runId);
    },

    async runs(caller: FlowCaller, name: string, limit = 20): Promise<FlowRun[]> {
      check(caller, 'read');
      await inForce(name);
      const rows = await sql().execute<RunRow[]>(`${RUN_SQL} WHERE r.flow_name = ? ORDER BY r.started_at DESC LIMIT ?`, [name, limit]);
      return rows.map(toRun);
    },

    async deadLetters(caller: FlowCaller, name: string, options: { status?: DeadLetter['status']; limit?: number } = {}): Promise<DeadLetter[]> {
      check(caller, 'read');
      await inForce(name);
      const rows = await sql().execute<DeadLetterRow[]>(
        `SELECT ${DEAD_LETTER_COLUMNS} FROM flow_dead_letter WHERE flow_name = ? AND status = ? ORDER BY created_at DESC LIMIT ?`,
        [name, options.status ?? 'open', options.limit ?? 50],
      );
      return rows.map(toDeadLetter);
    },

    /** Sets an open dead letter aside for good, with a reason, on the ledger. */
    async discardDeadLetter(caller: FlowCaller, name: string, id: string, reason: string): Promise<DeadLetter> {
      check(caller, 'run');
      const actor = actorOfPrincipal(caller.principal);
      return deps.orm.em.transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const [row] = await conn.execute<DeadLetterRow[]>(
          `UPDATE flow_dead_letter SET status = 'discarded', resolved_at = now(), resolved_by_kind = ?, resolved_by_id = ?, resolved_by_name = ?, reason = ?
           WHERE id = ? AND flow_name = ? AND status = 'open' RETURNING ${DEAD_LETTER_COLUMNS}`,
          [actor.kind, actor.id, actor.display ?? null, reason, id, name],
          'all',
          ctx,
        );
        if (!row) {
          const [existing] = await conn.execute<{ status: string }[]>('SELECT status FROM flow_dead_letter WHERE id = ? AND flow_name = ?', [id, name], 'all', ctx);
          if (!existing) throw notFound('dead letter', id);
          throw conflict(`dead letter ${id} is ${existing.status} already`);
        }
        await deps.ledger.append({ action: 'flow.deadletter.discarded', actor, subject: { type: 'flow', id: name }, details: { deadLetterId: id, reason } }, { em });
        return toDeadLetter(row);
      });
    },

    /** What the next run would do with the next `limit` records; nothing is written, the cursor stays. */
    async preview(caller: FlowCaller, name: string, limit = 500): Promise<FlowPreview> {
      check(caller, 'run');
      if (!deps.temporal) throw dependencyUnavailable('temporal', 'this server cannot preview flows (it has no Temporal client)');
      await inForce(name);
      return runPreview({ flowName: name, limit, actor: actorOfPrincipal(caller.principal) });
    },

    /**
     * A draft's preview (nothing stored, nothing written, the cursor where it is): what the draft would
     * do with the first records of its source, each beside its result, both with the draft's field
     * rules applied, against the target as it is. What the mapping editor shows.
     */
    async previewDraft(caller: FlowCaller, text: string, limit = 20): Promise<FlowPreview> {
      check(caller, 'run');
      if (!deps.temporal) throw dependencyUnavailable('temporal', 'this server cannot preview flows (it has no Temporal client)');
      const document = parseFlowDocument(text);
      await checkConnectors(document);
      return runPreview({ flowName: document.name, limit, actor: actorOfPrincipal(caller.principal), draft: { document, versionHash: flowVersionHash(document) } });
    },

    /** Replays an open dead letter through the flow's version in force, on a worker, and waits for the outcome. */
    async replayDeadLetter(caller: FlowCaller, name: string, id: string): Promise<DeadLetterReplay & { deadLetter: DeadLetter }> {
      check(caller, 'run');
      if (!deps.temporal) throw dependencyUnavailable('temporal', 'this server cannot replay dead letters (it has no Temporal client)');
      const [row] = await sql().execute<DeadLetterRow[]>(`SELECT ${DEAD_LETTER_COLUMNS} FROM flow_dead_letter WHERE id = ? AND flow_name = ?`, [id, name]);
      if (!row) throw notFound('dead letter', id);
      if (row.status !== 'open') throw conflict(`dead letter ${id} is ${row.status} already`);
      let result: DeadLetterReplay;
      try {
        result = await deps.temporal.client.workflow.execute(flowReplayWorkflow, {
          workflowId: `flow-replay:${id}`,
          taskQueue: deps.temporal.taskQueue,
          args: [{ deadLetterId: id, flowName: name, actor: actorOfPrincipal(caller.principal) }],
          workflowExecutionTimeout: '5 minutes',
        });
      } catch (err) {
        // Not the record's fault (the target or Vault unreachable): it stays open, and can be replayed again.
        const cause = (err as { cause?: { cause?: Error; message?: string } }).cause;
        throw dependencyUnavailable('replay', `the replay did not finish: ${cause?.cause?.message ?? cause?.message ?? (err as Error).message}; the dead letter stays open`, err);
      }
      const [after] = await sql().execute<DeadLetterRow[]>(`SELECT ${DEAD_LETTER_COLUMNS} FROM flow_dead_letter WHERE id = ?`, [id]);
      return { ...result, deadLetter: toDeadLetter(after!) };
    },

    async run(caller: FlowCaller, name: string, id: string): Promise<FlowRun> {
      check(caller, 'read');
      const found = await run(id);
      if (found.flow !== name) throw notFound('flow run', id);
      return found;
    },
  };
}

export type FlowService = ReturnType<typeof createFlowService>;
