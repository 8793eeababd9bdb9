// Replays every recorded workflow history in test/fixtures/workflow-histories/ (written by
// scripts/record-workflow-histories.ts) with today's workflow code, so a change that would break
// workflows already running fails here instead of in production. Older recordings stay: the
// identity workflow's leaver step for non-human identities came later, behind patched(), and the
// v1 history (from before it) must still replay.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/workflow-histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
type RecordedHistory = { events: { eventType: string; activityTaskScheduledEventAttributes?: { activityType: { name: string } } }[] };
const read = (file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as RecordedHistory;
/** The recordings are protobufjs's object form (see the script for why not proto3 JSON). */
const historyOf = (recorded: RecordedHistory) => proto.temporal.api.history.v1.History.fromObject(recorded);

describe('recorded workflow histories replay with the current code', () => {
  it('has recordings of the identity workflow from before and after the leaver patch, and of reconciliation', () => {
    expect(files).toEqual(expect.arrayContaining(['identity-joiner-mover-leaver-v1.json', 'identity-joiner-mover-leaver-v2.json', 'reconcile-v1.json']));
    // v2 was recorded with the leaver's NHI step (a patch marker and a child workflow); v1 without.
    const types = (file: string) => read(file).events.map((e) => e.eventType);
    expect(types('identity-joiner-mover-leaver-v1.json')).not.toContain('EVENT_TYPE_MARKER_RECORDED');
    expect(types('identity-joiner-mover-leaver-v2.json')).toEqual(expect.arrayContaining(['EVENT_TYPE_MARKER_RECORDED', 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED']));
  });

  for (const file of files) {
    it(`replays ${file}`, async () => {
      await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, historyOf(read(file)), `replay-${file}`);
    });
  }

  it('fails a history the code would not produce (so a break cannot pass unseen)', async () => {
    const raw = read('identity-joiner-mover-leaver-v1.json');
    const planned = raw.events.find((e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'planIdentityAccess')!;
    planned.activityTaskScheduledEventAttributes!.activityType.name = 'somethingElseEntirely';
    const results: { error?: unknown }[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: inject('workflowBundlePath') } }, [{ workflowId: 'tampered', history: historyOf(raw) }])) results.push(r);
    expect(results).toHaveLength(1);
    expect(String(results[0]!.error)).toMatch(/[Nn]ondetermin|DeterminismViolation/);
  });
});
