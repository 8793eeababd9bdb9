// Promise 1 and promise 5 on the per-change path, against real PostgreSQL, Vault, Temporal and a
// PostgreSQL target: an apply without the ledger's allow decision (or without the approvals it
// required, or for different content) is refused before the target is touched; the same change
// run twice has one effect; compensation undoes exactly what was applied, once; decisions refuse
// a reused change id; a change with no policy in force is recorded as failed, not applied.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { accessChangeSchema, type AccessChange } from '../../policies/access-change.js';
import { buildActivities } from '../../server/activities.js';
import type { ChangeActivities } from '../../workflows/change/activities.js';
import { LEDGER_ACTIONS } from '../../workflows/change/change-authority.js';
import { approvalWorkflowId } from '../../workflows/approval/workflow.js';
import { createAccessWorld, outcomeOf, type AccessWorld, type Person } from '../helpers/access-world.js';
import { withPg } from '../helpers/services.js';

describe('the per-change path: decide, apply, compensate', () => {
  let w: AccessWorld;
  let dana: Person;
  let carl: Person; // a contractor
  let activities: ChangeActivities;
  const account = () => `dana_${w.target.tag}`;
  /** Runs an activity directly, as some workflow that skipped the decision and the gate would. */
  const direct = new MockActivityEnvironment({ workflowExecution: { workflowId: 'bypass-attempt', runId: randomUUID() } });

  beforeAll(async () => {
    w = await createAccessWorld();
    await w.targetGroup(`gated_${w.target.tag}`);
    dana = await w.person('dana', { name: 'Dana Developer', department: 'Engineering' });
    carl = await w.person('carl', { name: 'Carl Contractor', department: 'Engineering', userType: 'Contractor' });
    activities = buildActivities({ orm: w.orm, secrets: w.vault.store, ledger: w.ledger, temporal: { client: w.temporal.client, taskQueue: w.temporal.taskQueue } }) as ChangeActivities;
    await w.startWorker();
  });

  afterAll(async () => {
    await w?.close();
  });

  const publishPolicy = () =>
    w.publish(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: path-test
rules:
  - id: contractors-never
    match: { kinds: [grant, create-account], subject: { employmentTypes: [Contractor] } }
    effect: deny
  - id: engineering
    match: { kinds: [grant, create-account], subject: { departments: [Engineering] } }
    effect: allow
  - id: gated
    match: { kinds: [grant], entitlements: ["${w.connector.name}:gated_${w.target.tag}"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], deadline: 1h }] }
`);

  const decided = async (id: string): Promise<AccessChange> =>
    withPg(w.db.superuserUrl, async (c) => (await c.query<{ change: AccessChange }>('SELECT change FROM access_change WHERE id = $1', [id])).rows[0]!.change);

  const refusedWith = async (attempt: Promise<unknown>): Promise<ApplicationFailure> => {
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  };

  it('records a change decided with no policy in force as failed, and applies nothing', async () => {
    const change = w.change('create-account', dana, { accountName: account() });
    const outcome = await outcomeOf(await w.request(change));
    expect(outcome).toMatchObject({ status: 'failed', phase: 'decide', error: { type: 'NoPolicy' } });
    expect((await w.entries(change.id)).map((e) => e.action)).toEqual([LEDGER_ACTIONS.failed]);
    expect(await w.membershipsOf(account())).toEqual([]);
    await publishPolicy();
    expect(await outcomeOf(await w.request(w.change('create-account', dana, { accountName: account() })))).toMatchObject({ status: 'applied' });
  });

  it('refuses to apply a change the ledger holds no decision for, touching nothing', async () => {
    const change = accessChangeSchema.parse({ ...w.change('grant', dana, { entitlement: w.target.groups.analysts }), target: { connectorId: w.connector.id, connectorName: w.connector.name, entitlement: { id: w.target.groups.analysts } } });
    const failure = await refusedWith(direct.run(activities.applyChange, { change }));
    expect(failure).toMatchObject({ type: 'NotAuthorized', nonRetryable: true });
    expect(failure.message).toMatch(/the ledger holds no decision/);
    expect(await w.membershipsOf(account())).not.toContain(w.target.groups.analysts);
    expect(await w.journal(change.id)).toEqual([]);
    const entries = await w.entries(change.id);
    expect(entries.map((e) => e.action)).toEqual([LEDGER_ACTIONS.refused]);
    expect(entries[0]!.correlation?.workflowId).toBe('bypass-attempt');
  });

  it('refuses to apply a policy-denied change, and the workflow never tries', async () => {
    const change = w.change('create-account', carl, { accountName: `carl_${w.target.tag}` });
    const outcome = await outcomeOf(await w.request(change));
    expect(outcome).toMatchObject({ status: 'denied', decided: { decision: { effect: 'deny' } } });
    expect(outcome.status === 'denied' && outcome.decided.decision.matchedRules.map((r) => r.id)).toEqual(['contractors-never', 'engineering']);
    expect(await w.journal(change.id)).toEqual([]);
    const failure = await refusedWith(direct.run(activities.applyChange, { change: await decided(change.id) }));
    expect(failure.message).toMatch(/decided deny/);
    const roles = await withPg(w.target.superuserUrl, async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [`carl_${w.target.tag}`])).rowCount);
    expect(roles).toBe(0);
  });

  it('refuses to apply while the approval it needs is pending, and closes the gate on record when the request is cancelled', async () => {
    const change = w.change('grant', dana, { entitlement: `gated_${w.target.tag}` });
    const handle = await w.request(change);
    await w.waitForEntry(change.id, LEDGER_ACTIONS.requestOpened);
    const failure = await refusedWith(direct.run(activities.applyChange, { change: await decided(change.id) }));
    expect(failure.message).toMatch(/no approved outcome of the approval gate/);
    expect(await w.journal(change.id)).toEqual([]);

    await handle.cancel();
    const closed = await w.waitForEntry(change.id, LEDGER_ACTIONS.requestClosed);
    expect(closed.details).toMatchObject({ status: 'cancelled' });
    expect((await w.entries(change.id)).map((e) => e.action)).toContain(LEDGER_ACTIONS.requestCancelled);
    const gate = await w.temporal.client.workflow.getHandle(approvalWorkflowId(change.id)).result();
    expect(gate).toMatchObject({ status: 'cancelled' });
    expect(await w.membershipsOf(account())).not.toContain(`gated_${w.target.tag}`);
  });

  it('refuses to apply different content under a decided change id', async () => {
    const change = w.change('grant', dana, { entitlement: w.target.groups.auditors });
    expect(await outcomeOf(await w.request(change))).toMatchObject({ status: 'applied' });
    const swapped = await decided(change.id);
    swapped.target.entitlement = { id: w.target.groups.analysts, privileged: false };
    const failure = await refusedWith(direct.run(activities.applyChange, { change: swapped }));
    expect(failure.message).toMatch(/different content/);
    expect(await w.membershipsOf(account())).not.toContain(w.target.groups.analysts);
    // Deciding other content under the same id is refused too.
    const reused = await refusedWith(direct.run(activities.decideChange, { change: { ...change, target: { ...change.target, entitlement: { id: w.target.groups.analysts } } } }));
    expect(reused.type).toBe('ChangeIdReused');
  });

  it('has one effect when the same change runs twice: the second answers from the record and the journal', async () => {
    const change = w.change('grant', dana, { entitlement: w.target.groups.analysts });
    const first = await outcomeOf(await w.request(change));
    expect(first).toMatchObject({ status: 'applied', applied: { changed: true, replayed: false } });
    // Behind Gatehouse's back the grant goes; running the same change again must not bring it back.
    await withPg(w.target.superuserUrl, (c) => c.query(`REVOKE ${c.escapeIdentifier(w.target.groups.analysts)} FROM ${c.escapeIdentifier(account())} GRANTED BY ${c.escapeIdentifier(w.target.admin.user)}`));
    const second = await outcomeOf(await w.request(change, `duplicate-delivery:${change.id}`));
    expect(second).toMatchObject({ status: 'applied', decided: { alreadyRecorded: true }, applied: { replayed: true } });
    expect(await w.membershipsOf(account())).not.toContain(w.target.groups.analysts);
    const actions = (await w.entries(change.id)).map((e) => e.action);
    expect(actions.filter((a) => a === LEDGER_ACTIONS.decided)).toHaveLength(1);
    expect(actions.filter((a) => a === LEDGER_ACTIONS.applied)).toHaveLength(1);
    expect(await w.journal(change.id)).toEqual([{ status: 'succeeded', attempts: 1 }]);
    // Gatehouse's record says what it applied (the JML workflows diff desired access against it).
    const held: Awaited<ReturnType<typeof activities.readAssignments>> = await direct.run(activities.readAssignments, { subject: { type: 'human' as const, id: dana.id } });
    expect(held.accounts).toEqual([expect.objectContaining({ connectorId: w.connector.id, connectorName: w.connector.name, accountName: account(), enabled: true })]);
    expect(held.entitlements.map((e) => e.entitlementId).sort()).toEqual([w.target.groups.analysts, w.target.groups.auditors].sort());
    expect(held.entitlements.find((e) => e.entitlementId === w.target.groups.analysts)).toMatchObject({ changeId: change.id, entitlementUid: expect.stringMatching(/^role:\d+$/) });
  });

  it("refuses a grant aimed at someone else's account by name: only the subject's own account on record is acted on", async () => {
    const groupName = `aimed_${w.target.tag}`;
    await w.targetGroup(groupName);
    const eve = await w.person('eve', { name: 'Eve Engineer', department: 'Engineering' });
    // Eve holds no account on the target; Dana's account is named instead.
    const change = w.change('grant', eve, { entitlement: groupName, accountName: account() });
    const outcome = await outcomeOf(await w.request(change));
    expect(outcome).toMatchObject({ status: 'failed', phase: 'apply' });
    expect(outcome.status === 'failed' && outcome.error.message).toMatch(/holds no account on this connector on record/);
    expect(await w.membershipsOf(account())).not.toContain(groupName);
    expect(await w.journal(change.id)).toEqual([]);
  });

  it('compensates exactly what a change did, once, and keeps the record of assignments', async () => {
    const groupName = `undo_${w.target.tag}`;
    await w.targetGroup(groupName);
    const change = w.change('grant', dana, { entitlement: groupName });
    expect(await outcomeOf(await w.request(change))).toMatchObject({ status: 'applied', applied: { changed: true } });
    expect(await w.membershipsOf(account())).toContain(groupName);
    const held = async () => withPg(w.db.superuserUrl, async (c) => (await c.query('SELECT entitlement_id FROM identity_entitlement WHERE subject_id = $1 ORDER BY 1', [dana.id])).rows.map((r) => r.entitlement_id as string));
    expect(await held()).toContain(groupName);

    const undo = new MockActivityEnvironment({ workflowExecution: { workflowId: 'saga', runId: randomUUID() } });
    const first = await undo.run(activities.compensateChange, { changeId: change.id, reason: 'a later step failed' });
    expect(first).toEqual({ status: 'compensated', changeId: change.id, operation: 'revoke', changed: true });
    expect(await w.membershipsOf(account())).not.toContain(groupName);
    expect(await held()).not.toContain(groupName);
    const again = await undo.run(activities.compensateChange, { changeId: change.id, reason: 'a retry of the saga' });
    expect(again).toEqual(first);
    expect((await w.entries(change.id)).filter((e) => e.action === LEDGER_ACTIONS.compensated)).toHaveLength(1);
    expect(await w.journal(`${change.id}:undo`)).toEqual([{ status: 'succeeded', attempts: 1 }]);
  });

  it('leaves access that existed before alone: undoing a grant that changed nothing revokes nothing', async () => {
    // Dana already holds auditors (an earlier test); granting it again changes nothing.
    const change = w.change('grant', dana, { entitlement: w.target.groups.auditors });
    expect(await outcomeOf(await w.request(change))).toMatchObject({ status: 'applied', applied: { changed: false } });
    const result = await new MockActivityEnvironment({ workflowExecution: { workflowId: 'saga', runId: randomUUID() } }).run(activities.compensateChange, { changeId: change.id, reason: 'test' });
    expect(result).toMatchObject({ status: 'nothing-to-undo' });
    expect(await w.membershipsOf(account())).toContain(w.target.groups.auditors);
    const entry = await w.waitForEntry(change.id, LEDGER_ACTIONS.compensated);
    expect(entry.details).toMatchObject({ undone: false });
  });

  it('records what cannot be undone instead of pretending', async () => {
    const name = `tina_${w.target.tag}`;
    const tina = await w.person('tina', { name: 'Tina Temp', department: 'Engineering' });
    const created = w.change('create-account', tina, { accountName: name });
    expect(await outcomeOf(await w.request(created))).toMatchObject({ status: 'applied' });
    const undone = await new MockActivityEnvironment({ workflowExecution: { workflowId: 'saga', runId: randomUUID() } }).run(activities.compensateChange, { changeId: created.id, reason: 'test' });
    expect(undone).toMatchObject({ status: 'compensated', operation: 'deleteAccount' });
    const exists = await withPg(w.target.superuserUrl, async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount);
    expect(exists).toBe(0);

    const removal = w.change('delete-account', dana, { target: { connectorId: w.connector.id, accountName: account() } });
    expect(await outcomeOf(await w.request(removal))).toMatchObject({ status: 'applied', applied: { operation: 'deleteAccount' } });
    const impossible = await new MockActivityEnvironment({ workflowExecution: { workflowId: 'saga', runId: randomUUID() } }).run(activities.compensateChange, { changeId: removal.id, reason: 'test' });
    expect(impossible).toMatchObject({ status: 'impossible' });
    expect((await w.entries(removal.id)).map((e) => e.action)).toContain(LEDGER_ACTIONS.compensationFailed);
  });
});
