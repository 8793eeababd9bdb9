// Opening a flow run, shared by the API (a person or token starts it) and the schedule (the run's
// first activity): the run row and its ledger entry in one transaction, against the version in force.
// A flow has one run at a time (a unique index); a second is refused with the first one's id.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender } from '../../audit/index.js';
import { conflict, notFound } from '../../shared/errors.js';
import type { FlowDocument } from './flow-document.js';

export const flowWorkflowId = (flowName: string) => `flow:${flowName}`;

export interface OpenedRun {
  id: string;
  versionHash: string;
  document: FlowDocument;
}

/** A run still marked running this long after it started, whose workflow is not running, was abandoned (terminated in Temporal). */
const ABANDONED_AFTER_SECONDS = 60;

/** What started a run. */
export type FlowTrigger = 'manual' | 'schedule' | 'webhook' | 'refresh';

export interface OpenRunDeps {
  orm: MikroORM;
  ledger: LedgerAppender;
  /** Whether the latest execution of a workflow id is running; lets a run abandoned in Temporal be closed. */
  isRunning?: (workflowId: string) => Promise<boolean>;
}

export async function openFlowRun(
  deps: OpenRunDeps,
  input: { id: string; flowName: string; actor: Actor; trigger: FlowTrigger; workflowId?: string },
  retried = false,
): Promise<OpenedRun> {
  const sql = deps.orm.em.fork().getConnection();
  const [flow] = await sql.execute<{ version_hash: string; document: FlowDocument }[]>(
    'SELECT p.version_hash, v.document FROM flow_publication p JOIN flow_version v USING (version_hash) WHERE p.flow_name = ? ORDER BY p.seq DESC LIMIT 1',
    [input.flowName],
  );
  if (!flow) throw notFound('flow', input.flowName);
  try {
    await deps.orm.em.fork().transactional(async (em) => {
      // The same id again is the same run opened again (a retried activity): nothing more to record.
      const inserted = await em.getConnection().execute<{ id: string }[]>(
        `INSERT INTO flow_run (id, flow_name, version_hash, workflow_id, status, started_by_kind, started_by_id, started_by_name) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [input.id, input.flowName, flow.version_hash, input.workflowId ?? flowWorkflowId(input.flowName), input.actor.kind, input.actor.id, input.actor.display ?? null],
        'all',
        em.getTransactionContext(),
      );
      if (!inserted.length) return;
      await deps.ledger.append(
        {
          action: 'flow.run.started',
          actor: input.actor,
          subject: { type: 'flow', id: input.flowName },
          details: { runId: input.id, versionHash: flow.version_hash, trigger: input.trigger },
          correlation: { workflowId: flowWorkflowId(input.flowName) },
        },
        { em },
      );
    });
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      const [running] = await sql.execute<{ id: string; workflow_id: string; version_hash: string; age: number }[]>(
        "SELECT id, workflow_id, version_hash, extract(epoch FROM now() - started_at)::float8 AS age FROM flow_run WHERE flow_name = ? AND status = 'running'",
        [input.flowName],
      );
      if (running && !retried && deps.isRunning && running.age > ABANDONED_AFTER_SECONDS && !(await deps.isRunning(running.workflow_id))) {
        await closeAbandonedRun(deps, input.flowName, running);
        return openFlowRun(deps, input, true);
      }
      throw conflict(`flow ${input.flowName} has a run in progress${running ? ` (${running.id})` : ''}; one run of a flow at a time`);
    }
    throw err;
  }
  return { id: input.id, versionHash: flow.version_hash, document: flow.document };
}

/** Closes a run whose workflow ended without closing it (terminated or timed out in Temporal), on record. */
async function closeAbandonedRun(deps: OpenRunDeps, flowName: string, run: { id: string; workflow_id: string; version_hash: string }): Promise<void> {
  const error = `its workflow ${run.workflow_id} ended without closing the run (terminated or timed out in Temporal)`;
  await deps.orm.em.fork().transactional(async (em) => {
    const closed = await em.getConnection().execute<{ id: string }[]>(
      "UPDATE flow_run SET status = 'failed', ended_at = now(), error = ? WHERE id = ? AND status = 'running' RETURNING id",
      [error, run.id],
      'all',
      em.getTransactionContext(),
    );
    if (!closed.length) return;
    await deps.ledger.append(
      { action: 'flow.run.failed', actor: { kind: 'system', id: 'gatehouse' }, subject: { type: 'flow', id: flowName }, details: { runId: run.id, versionHash: run.version_hash, error } },
      { em },
    );
  });
}
