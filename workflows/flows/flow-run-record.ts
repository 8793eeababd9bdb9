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

export async function openFlowRun(deps: { orm: MikroORM; ledger: LedgerAppender }, input: { id: string; flowName: string; actor: Actor; trigger: 'manual' | 'schedule' }): Promise<OpenedRun> {
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
        [input.id, input.flowName, flow.version_hash, flowWorkflowId(input.flowName), input.actor.kind, input.actor.id, input.actor.display ?? null],
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
      const [running] = await sql.execute<{ id: string }[]>("SELECT id FROM flow_run WHERE flow_name = ? AND status = 'running'", [input.flowName]);
      throw conflict(`flow ${input.flowName} has a run in progress${running ? ` (${running.id})` : ''}; one run of a flow at a time`);
    }
    throw err;
  }
  return { id: input.id, versionHash: flow.version_hash, document: flow.document };
}
