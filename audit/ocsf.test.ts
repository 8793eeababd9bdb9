// The OCSF mapping: identity events land in the IAM classes with the right activity, everything
// carries the hashed entry, and unknown actions stay Base Events rather than being guessed at.
import { describe, expect, it } from 'vitest';
import { canonicalEntryJson } from './ledger-entry-codec.js';
import type { LedgerEntry, NewLedgerEntry } from './ledger-types.js';
import { OCSF_VERSION, toOcsf } from './ocsf.js';

const entry = (e: Partial<NewLedgerEntry> & { action: string }): LedgerEntry => ({
  actor: { kind: 'workflow', id: 'identity:okta:00u1' },
  subject: { type: 'identity', id: 'okta:00u1', display: 'Ada Lovelace' },
  seq: 41,
  timestamp: '2026-11-29T10:00:00.000Z',
  prevHash: 'aa'.repeat(32),
  hash: 'bb'.repeat(32),
  ...e,
});

const ocsf = (e: LedgerEntry) => {
  const { prevHash: _p, hash: _h, ...rest } = e;
  return toOcsf(e, canonicalEntryJson(rest));
};

describe('OCSF mapping', () => {
  const cases: [string, Partial<NewLedgerEntry> & { action: string }, number, number, string][] = [
    ['a SCIM user created', { action: 'scim.user.created', actor: { kind: 'idp', id: 'okta' } }, 3001, 1, 'Create'],
    ['a SCIM user deactivated', { action: 'scim.user.deactivated' }, 3001, 5, 'Disable'],
    ['a SCIM user deleted', { action: 'scim.user.deleted' }, 3001, 6, 'Delete'],
    ['a SCIM user updated', { action: 'scim.user.updated' }, 3001, 99, 'Other'],
    ['a SCIM group created', { action: 'scim.group.created', subject: { type: 'group', id: 'eng' } }, 3006, 6, 'Create'],
    ['a member added to a group', { action: 'scim.group.member.added', subject: { type: 'group', id: 'eng' }, target: { type: 'identity', id: 'okta:00u1' } }, 3006, 3, 'Add User'],
    ['a member removed from a group', { action: 'scim.group.member.removed', subject: { type: 'group', id: 'eng' } }, 3006, 4, 'Remove User'],
    ['access granted', { action: 'access.change.applied', details: { operation: 'grant', entitlement: 'github:org/admins' } }, 3005, 1, 'Assign Privileges'],
    ['access revoked', { action: 'access.change.applied', details: { operation: 'revoke', entitlement: 'github:org/admins' } }, 3005, 2, 'Revoke Privileges'],
    ['a grant compensated (undone)', { action: 'access.change.compensated', details: { operation: 'grant' } }, 3005, 2, 'Revoke Privileges'],
    ['an approval', { action: 'access.change.approved', actor: { kind: 'human', id: 'approver@example.com' }, subject: { type: 'accessChange', id: 'chg-1' } }, 3004, 3, 'Update'],
    ['a denial', { action: 'access.change.denied', actor: { kind: 'human', id: 'approver@example.com' } }, 3004, 3, 'Update'],
    ['a planned change', { action: 'access.change.planned' }, 3004, 1, 'Create'],
    ['a policy published', { action: 'policy.published', subject: { type: 'policy', id: 'birthright' } }, 3004, 1, 'Create'],
    ['a secret rotated', { action: 'secret.rotated', subject: { type: 'credential', id: 'github-app' } }, 3004, 3, 'Update'],
  ];
  for (const [what, e, classUid, activityId, activityName] of cases) {
    it(`maps ${what} to class ${classUid}, activity ${activityId} (${activityName})`, () => {
      const event = ocsf(entry(e));
      expect(event).toMatchObject({ class_uid: classUid, category_uid: 3, activity_id: activityId, activity_name: activityName, type_uid: classUid * 100 + activityId });
    });
  }

  it('fills what the IAM classes require: the user, the group, the privileges, the entity', () => {
    expect(ocsf(entry({ action: 'scim.user.created' }))).toMatchObject({ user: { uid: 'okta:00u1', name: 'Ada Lovelace', type: 'identity' } });
    expect(ocsf(entry({ action: 'scim.group.member.added', subject: { type: 'group', id: 'eng' }, target: { type: 'identity', id: 'okta:00u2' } }))).toMatchObject({
      group: { uid: 'eng', type: 'group' },
      user: { uid: 'okta:00u2' },
    });
    expect(ocsf(entry({ action: 'access.change.applied', target: { type: 'connector', id: 'github' }, details: { operation: 'grant', entitlement: 'org/admins' } }))).toMatchObject({
      privileges: ['org/admins'],
      resources: [{ uid: 'github', type: 'connector' }],
    });
    expect(ocsf(entry({ action: 'access.change.failed', details: { operation: 'grant' } }))).toMatchObject({ status_id: 2, status: 'Failure' });
  });

  it('carries the OCSF version, the time, the actor, the correlation and the exact hashed entry', () => {
    const e = entry({ action: 'scim.user.created', correlation: { workflowId: 'identity:okta:00u1', requestId: 'r1' } });
    const event = ocsf(e);
    const { prevHash: _p, hash: _h, ...rest } = e;
    expect(event).toMatchObject({
      time: Date.parse('2026-11-29T10:00:00.000Z'),
      severity_id: 1,
      metadata: { version: OCSF_VERSION, product: { name: 'Gatehouse' }, uid: '41', correlation_uid: 'identity:okta:00u1', original_time: '2026-11-29T10:00:00.000Z' },
      actor: { user: { uid: 'identity:okta:00u1', type_id: 99, type: 'Workflow' } },
      raw_data: canonicalEntryJson(rest),
      unmapped: { gatehouse: { seq: 41, prev_hash: 'aa'.repeat(32), hash: 'bb'.repeat(32) } },
    });
  });

  it('leaves an action it does not know as a Base Event', () => {
    expect(ocsf(entry({ action: 'system.probe.ran', actor: { kind: 'system', id: 'gatehouse' } }))).toMatchObject({ class_uid: 0, category_uid: 0, activity_id: 99, type_uid: 99, status_id: 0 });
  });
});
