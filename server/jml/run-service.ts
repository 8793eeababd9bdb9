// The runs API's service: joiner-mover-leaver runs and reconciliation passes, listed from PostgreSQL
// (filter by identity, status, kind, time; cursor pagination), one run with its timeline from the
// ledger and its workflow's status from Temporal, and an admin's retry and cancel. Every method
// checks the caller's ability first; retry and cancel are ledger entries.
import { randomUUID } from 'node:crypto';
import { ForbiddenError, subject } from '@casl/ability';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { Ledger, LedgerAppender, LedgerEntry } from '../../audit/index.js';
import type { Caller } from '../../connectors/caller.js';
import { conflict, invalid, notFound } from '../../shared/errors.js';
import { isoTime } from '../../shared/timestamps.js';
import { RUN_STATUSES, type RunStatus, type StepResult } from '../../workflows/jml/jml-types.js';
import { cancelRunSignal, identityEventSignal, identityWorkflow, identityWorkflowId } from '../../workflows/jml/workflow.js';
import { reconcileScheduleId } from '../../workflows/reconcile/workflow.js';

const RUN_KINDS = ['pending', 'joiner', 'mover', 'leaver', 'rejoiner', 'no-change', 'reconcile'] as const;
const when = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z' });

export const runQuerySchema = z
  .object({
    identity: z.string().min(1, 'must not be empty').max(512).optional().describe('an identity id, or its key identity:<directory>:<id>'),
    status: z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
    kind: z.enum(RUN_KINDS, { error: `must be one of ${RUN_KINDS.join(', ')}` }).optional(),
    connector: z.uuid({ message: 'must be a connector id (a UUID)' }).optional().describe('reconciliation runs of this connector'),
    from: when.optional().describe('runs started at or after this time'),
    to: when.optional().describe('runs started before this time'),
    limit: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(200, 'must be at most 200').default(50),
    cursor: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be a cursor returned by a previous page').optional(),
  })
  .strict();
export type RunQuery = z.input<typeof runQuerySchema>;

export interface RunView {
  id: string;
  kind: (typeof RUN_KINDS)[number];
  status: RunStatus;
  identityKey?: string;
  directoryId?: string;
  identityId?: string;
  connectorId?: string;
  eventId?: string;
  eventKind?: string;
  retryOf?: string;
  workflowId: string;
  temporalRunId: string;
  policyVersionHash?: string;
  steps: StepResult[];
  drift?: unknown;
  /** A leaver's non-human identities: handed over (or orphaned) and rotated. */
  nhi?: unknown;
  problems: { connector: string; message: string }[];
  error?: { type: string; message: string };
  startedAt: string;
  finishedAt?: string;
}

interface RunRow {
  id: string;
  kind: RunView['kind'];
  status: RunStatus;
  identity_key: string | null;
  directory_id: string | null;
  identity_id: string | null;
  connector_id: string | null;
  event_id: string | null;
  event_kind: string | null;
  retry_of: string | null;
  workflow_id: string;
  temporal_run_id: string;
  policy_version_hash: string | null;
  steps: StepResult[];
  drift: unknown;
  nhi: unknown;
  problems: RunView['problems'];
  error: RunView['error'] | null;
  started_at: Date | string;
  finished_at: Date | string | null;
}

const toView = (r: RunRow): RunView => ({
  id: r.id,
  kind: r.kind,
  status: r.status,
  ...(r.identity_key ? { identityKey: r.identity_key } : {}),
  ...(r.directory_id ? { directoryId: r.directory_id } : {}),
  ...(r.identity_id ? { identityId: r.identity_id } : {}),
  ...(r.connector_id ? { connectorId: r.connector_id } : {}),
  ...(r.event_id ? { eventId: r.event_id } : {}),
  ...(r.event_kind ? { eventKind: r.event_kind } : {}),
  ...(r.retry_of ? { retryOf: r.retry_of } : {}),
  workflowId: r.workflow_id,
  temporalRunId: r.temporal_run_id,
  ...(r.policy_version_hash ? { policyVersionHash: r.policy_version_hash } : {}),
  steps: r.steps,
  ...(r.drift ? { drift: r.drift } : {}),
  ...(r.nhi ? { nhi: r.nhi } : {}),
  problems: r.problems,
  ...(r.error ? { error: r.error } : {}),
  startedAt: isoTime(r.started_at),
  ...(r.finished_at ? { finishedAt: isoTime(r.finished_at) } : {}),
});

/** The cursor is the last row's id, opaque to callers; the next page starts after that row's (started_at, id). */
const encodeCursor = (r: RunRow) => Buffer.from(r.id).toString('base64url');
function decodeCursorOr400(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw invalid('cursor', 'must be a cursor returned by a previous page');
  return id;
}

export interface RunServiceDeps {
  orm: MikroORM;
  ledger: LedgerAppender & Pick<Ledger, 'query'>;
  temporal: Client;
  taskQueue: string;
}

export type WorkflowStatus = { status: string; historyLength?: number } | { status: 'NOT_FOUND' };

export function createRunService(deps: RunServiceDeps) {
  const sql = () => deps.orm.em.fork().getConnection();

  async function row(id: string): Promise<RunRow> {
    const [r] = await sql().execute<RunRow[]>('SELECT * FROM jml_run WHERE id = ?::uuid', [id]);
    if (!r) throw notFound('run', id);
    return r;
  }

  async function entriesWhere(filter: Parameters<Ledger['query']>[0], max = 2000): Promise<LedgerEntry[]> {
    const out: LedgerEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await deps.ledger.query({ ...filter, order: 'oldest', limit: 500, ...(cursor ? { cursor } : {}) });
      out.push(...page.entries);
      cursor = page.nextCursor;
    } while (cursor && out.length < max);
    return out;
  }

  /**
   * A run's timeline: its own entries (correlation.requestId is the run id), every entry of its
   * workflow between its start and its end (one person's runs never overlap), and the entries of
   * each change it made (the approval gate records those under its own workflow).
   */
  async function timeline(run: RunRow): Promise<LedgerEntry[]> {
    const own = await entriesWhere({ requestId: run.id });
    const first = own[0]?.seq;
    const last = run.finished_at ? own[own.length - 1]?.seq : undefined;
    const byWorkflow = first !== undefined ? await entriesWhere({ workflowId: run.workflow_id, from: new Date(new Date(run.started_at).getTime() - 1000).toISOString() }) : [];
    const inRun = byWorkflow.filter((e) => e.seq >= first! && (last === undefined || e.seq <= last));
    const changeIds = new Set<string>(run.steps.map((s) => s.changeId));
    for (const e of inRun) if (e.correlation?.changeId) changeIds.add(e.correlation.changeId);
    const all = new Map<number, LedgerEntry>();
    for (const e of [...own, ...inRun]) all.set(e.seq, e);
    for (const changeId of changeIds) for (const e of await entriesWhere({ changeId })) all.set(e.seq, e);
    return [...all.values()].sort((a, b) => a.seq - b.seq);
  }

  async function workflowStatus(run: RunRow): Promise<WorkflowStatus> {
    try {
      const d = await deps.temporal.workflow.getHandle(run.workflow_id, run.temporal_run_id).describe();
      return { status: d.status.name, historyLength: d.historyLength };
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return { status: 'NOT_FOUND' };
      throw err;
    }
  }

  const check = (caller: Caller, action: 'read' | 'retry' | 'cancel', r?: RunRow) =>
    ForbiddenError.from(caller.ability).throwUnlessCan(action, r ? subject('Run', { id: r.id, kind: r.kind, identityId: r.identity_id }) : 'Run');

  const record = (caller: Caller, r: RunRow, action: string, details: Record<string, unknown>) =>
    deps.ledger.append({
      action,
      actor: caller.actor,
      subject: r.identity_id ? { type: 'identity', id: r.identity_id } : { type: 'connector', id: r.connector_id ?? 'unknown' },
      details: { runId: r.id, kind: r.kind, status: r.status, ...details },
      correlation: { workflowId: r.workflow_id, requestId: r.id, ...(r.directory_id ? { directoryId: r.directory_id } : {}) },
    });

  return {
    async list(caller: Caller, query: z.output<typeof runQuerySchema>): Promise<{ runs: RunView[]; nextCursor?: string }> {
      check(caller, 'read');
      const where: string[] = [];
      const params: unknown[] = [];
      if (query.identity) {
        where.push('(identity_id = ? OR identity_key = ?)');
        params.push(query.identity, query.identity);
      }
      const add = (clause: string, value: unknown) => {
        where.push(clause);
        params.push(value);
      };
      if (query.status) add('status = ?', query.status);
      if (query.kind) add('kind = ?', query.kind);
      if (query.connector) add('connector_id = ?', query.connector);
      if (query.from) add('started_at >= ?', new Date(query.from));
      if (query.to) add('started_at < ?', new Date(query.to));
      if (query.cursor) add('(started_at, id) < (SELECT started_at, id FROM jml_run WHERE id = ?::uuid)', decodeCursorOr400(query.cursor));
      const rows = await sql().execute<RunRow[]>(
        `SELECT * FROM jml_run ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC LIMIT ?`,
        [...params, query.limit + 1],
      );
      const page = rows.slice(0, query.limit);
      return { runs: page.map(toView), ...(rows.length > query.limit ? { nextCursor: encodeCursor(page[page.length - 1]!) } : {}) };
    },

    async get(caller: Caller, id: string): Promise<RunView & { timeline: LedgerEntry[]; workflow: WorkflowStatus }> {
      check(caller, 'read');
      const r = await row(id);
      check(caller, 'read', r);
      const [entries, workflow] = await Promise.all([timeline(r), workflowStatus(r)]);
      return { ...toView(r), timeline: entries, workflow };
    },

    /** Runs the person's plan again from where things stand now (a new run); for a reconciliation, a new pass now. */
    async retry(caller: Caller, id: string): Promise<{ retried: true; eventId?: string; workflowId: string }> {
      check(caller, 'retry');
      const r = await row(id);
      check(caller, 'retry', r);
      if (r.status === 'running') throw conflict(`run ${id} is still running; cancel it first, or wait for it to end`);
      if (r.kind === 'reconcile') {
        await deps.temporal.schedule.getHandle(reconcileScheduleId(r.connector_id!)).trigger();
        await record(caller, r, 'jml.run.retry_requested', {});
        return { retried: true, workflowId: reconcileScheduleId(r.connector_id!) };
      }
      const eventId = `retry:${r.id}:${randomUUID()}`;
      const workflowId = identityWorkflowId(r.directory_id!, r.identity_id!);
      await deps.temporal.workflow.signalWithStart(identityWorkflow, {
        workflowId,
        taskQueue: deps.taskQueue,
        args: [{ directoryId: r.directory_id!, identityId: r.identity_id! }],
        signal: identityEventSignal,
        signalArgs: [{ id: eventId, kind: 'retry', retryOf: r.id, requestedBy: caller.actor.id }],
        searchAttributes: { GatehouseKind: ['jml'], GatehouseSubject: [workflowId] },
      });
      await record(caller, r, 'jml.run.retry_requested', { eventId });
      return { retried: true, eventId, workflowId };
    },

    /** Stops a running run: its pending approvals close as cancelled, and what it applied is undone (a leaver's removals are kept). */
    async cancel(caller: Caller, id: string, reason: string): Promise<{ cancelling: true }> {
      check(caller, 'cancel');
      const r = await row(id);
      check(caller, 'cancel', r);
      if (r.status !== 'running') throw conflict(`run ${id} is not running (it is ${r.status})`);
      if (r.kind === 'reconcile') await deps.temporal.workflow.getHandle(r.workflow_id, r.temporal_run_id).cancel();
      else await deps.temporal.workflow.getHandle(r.workflow_id).signal(cancelRunSignal, { runId: r.id, by: caller.actor.id, reason });
      await record(caller, r, 'jml.run.cancel_requested', { reason });
      return { cancelling: true };
    },
  };
}

export type RunService = ReturnType<typeof createRunService>;
