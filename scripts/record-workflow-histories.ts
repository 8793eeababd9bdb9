// Records the histories the replay test (test/e2e/jml-replay.test.ts) replays: a person's identity
// workflow through joiner, mover and leaver, and a reconciliation pass, run for real against the
// same services the tests use, written to test/fixtures/workflow-histories/<name>-<label>.json.
// Run it when a workflow changes on purpose (guarded by patched()), with a new label, and keep the
// old files: they are what still-running workflows look like.
//
//   npx tsx scripts/record-workflow-histories.ts v2
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { startBenchServices } from '../bench/lib.js';
import { birthrightPolicy, startJmlWorld } from '../test/helpers/jml-world.js';
import { reconcileConnectorWorkflow, reconcileScheduleId } from '../workflows/reconcile/workflow.js';

const label = process.argv[2];
if (!label || !/^[a-z0-9-]+$/.test(label)) {
  console.error('usage: npx tsx scripts/record-workflow-histories.ts <label>   (e.g. v2)');
  process.exit(2);
}
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/workflow-histories');
mkdirSync(dir, { recursive: true });

/**
 * The history in protobufjs's object form (64-bit numbers and bytes as strings), read back with
 * History.fromObject. Not proto3 JSON: @temporalio/common 1.24 brings protobufjs 8 for
 * historyToJSON/historyFromJSON while @temporalio/proto is built on protobufjs 7, and the two refuse
 * each other's types ("type must be a Type").
 */
const historyJson = async (client: Awaited<ReturnType<typeof startJmlWorld>>['temporal']['client'], workflowId: string) => {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return `${JSON.stringify(proto.temporal.api.history.v1.History.toObject(history as proto.temporal.api.history.v1.History, { longs: String, enums: String, bytes: String }))}\n`;
};

const services = await startBenchServices();
const w = await startJmlWorld();
try {
  await w.publish(birthrightPolicy(w));
  const id = await w.join({ key: 'rita', name: 'Rita Recorded', department: 'Engineering' });
  await w.waitForRun(id, 1);
  await w.patch(id, [{ op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', value: 'Finance' }]);
  await w.waitForRun(id, 2);
  await w.patch(id, [{ op: 'replace', path: 'active', value: false }]);
  const last = await w.waitForRun(id, 3);
  if (last.status !== 'completed') throw new Error(`the leaver run ended ${last.status}`);
  const identity = await historyJson(w.temporal.client, `identity:${w.directoryId}:${id}`);
  writeFileSync(path.join(dir, `identity-joiner-mover-leaver-${label}.json`), identity);

  const reconcile = await w.temporal.client.workflow.execute(reconcileConnectorWorkflow, {
    taskQueue: w.temporal.taskQueue,
    workflowId: `${reconcileScheduleId(w.connectors.pg.id)}:recorded`,
    args: [{ connectorId: w.connectors.pg.id }],
  });
  if (reconcile.drift !== 0) throw new Error(`expected no drift, found ${reconcile.drift}`);
  const pass = await historyJson(w.temporal.client, `${reconcileScheduleId(w.connectors.pg.id)}:recorded`);
  writeFileSync(path.join(dir, `reconcile-${label}.json`), pass);
  console.log(`recorded ${(JSON.parse(identity) as { events: unknown[] }).events.length} and ${(JSON.parse(pass) as { events: unknown[] }).events.length} events into ${dir}`);
} finally {
  await w.close();
  await services.stop();
}
