// Reconciliation of one connector, run by a Temporal Schedule (`reconcile:<connector id>`): compare
// what Gatehouse applied there with what the target holds, report the drift (on the ledger and as a
// run), and, where the policy's target says `reconcile: correct`, open a change for each item
// through the per-change path, so a correction is decided, gated and recorded like any change.
// An account deleted outside Gatehouse is reported, never recreated by reconciliation.
import { proxyActivities, uuid4, workflowInfo } from '@temporalio/workflow';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { runChange } from '../change/run-change.js';
import type { JmlActivities } from '../jml/activities.js';
import type { DriftItem, DriftReport, RunStatus, StepResult } from '../jml/jml-types.js';

export const reconcileScheduleId = (connectorId: string) => `reconcile:${connectorId}`;

const record = proxyActivities<Pick<JmlActivities, 'finishRun'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});
/** Reading a whole target takes a while; a transient failure is retried a few times, then the pass fails (the next one comes). */
const scan = proxyActivities<Pick<JmlActivities, 'detectDrift'>>({
  startToCloseTimeout: '30 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '2 minutes', backoffCoefficient: 2, maximumAttempts: 5 },
});

function correctionOf(item: DriftItem, connectorId: string): Pick<AccessChangeInput, 'kind' | 'target'> | undefined {
  switch (item.kind) {
    case 'account-missing':
      return undefined;
    case 'account-enabled-state':
      return { kind: item.expected ? 'enable' : 'disable', target: { connectorId, accountName: item.accountName } };
    case 'entitlement-missing':
      return { kind: 'grant', target: { connectorId, accountName: item.accountName, entitlement: { id: item.entitlementId } } };
    case 'entitlement-unexpected':
      return { kind: 'revoke', target: { connectorId, accountName: item.accountName, entitlement: { id: item.entitlementId, uid: item.entitlementUid } } };
  }
}

export interface ReconcileResult {
  runId: string;
  drift: number;
  corrections: StepResult[];
}

export async function reconcileConnectorWorkflow(input: { connectorId: string }): Promise<ReconcileResult> {
  const runId = uuid4();
  const { workflowId } = workflowInfo();
  let report: DriftReport;
  try {
    report = await scan.detectDrift({ runId, connectorId: input.connectorId });
  } catch (err) {
    const error = { type: 'ReconcileFailed', message: (err as Error).message ?? String(err) };
    await record.finishRun({ runId, kind: 'reconcile', status: 'failed', steps: [], error });
    throw err;
  }
  const steps: StepResult[] = [];
  if (report.mode === 'correct') {
    for (const item of report.items) {
      const correction = correctionOf(item, input.connectorId);
      if (!correction) continue;
      const change: AccessChangeInput = {
        id: uuid4(),
        ...correction,
        subject: { type: item.subject.type, id: item.subject.id },
        source: 'reconcile',
        requester: { kind: 'workflow', id: workflowId },
        justification: `reconciliation: ${item.kind} on ${report.connectorName} (changed outside Gatehouse)`,
      };
      const outcome = await runChange(change);
      steps.push({
        changeId: outcome.changeId,
        kind: change.kind as StepResult['kind'],
        connectorId: input.connectorId,
        connectorName: report.connectorName,
        accountName: item.accountName,
        ...('entitlementId' in item ? { entitlementId: item.entitlementId } : {}),
        status: outcome.status,
        ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
      });
    }
  }
  const status: RunStatus = steps.some((s) => s.status === 'failed') ? 'failed' : steps.every((s) => s.status === 'applied') ? 'completed' : 'partial';
  await record.finishRun({ runId, kind: 'reconcile', status, steps, extra: { connectorId: input.connectorId, mode: report.mode, drift: report.items.length } });
  return { runId, drift: report.items.length, corrections: steps };
}
