// Simulation compares a draft with the policy in force (held access) and with the recorded decision
// (pending requests), reporting only what would be decided differently.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { accessChangeSchema } from './access-change.js';
import { compilePolicy } from './compile-policy.js';
import { parsePolicyDocument, policyVersionHash } from './policy-document.js';
import { simulatePolicy, type SimulationCase } from './policy-simulation.js';

const compiled = (yaml: string) => {
  const doc = parsePolicyDocument(`apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: sim\n${yaml}`);
  return compilePolicy(doc, policyVersionHash(doc));
};
const grant = (entitlement: string, department = 'Engineering') =>
  accessChangeSchema.parse({
    id: randomUUID(),
    kind: 'grant',
    subject: { type: 'human', id: `u-${entitlement}`, attributes: { department } },
    target: { connectorId: 'c-1', connectorName: 'ldap', entitlement: { id: entitlement } },
    source: 'jml',
    requester: { kind: 'workflow', id: 'jml' },
  });

const inForce = compiled(`rules:\n  - { id: all-ldap, match: { kinds: [grant], connectors: [ldap] }, effect: allow }\n`);
const draft = compiled(`rules:
  - { id: eng-only, match: { kinds: [grant], connectors: [ldap], subject: { departments: [Engineering] } }, effect: allow }
  - id: admins-reviewed
    match: { kinds: [grant], entitlements: ["ldap:admins"] }
    effect: require-approval
    approval: { stages: [{ name: Security, approvers: [{ role: security-approver }], quorum: 2 }] }
`);

const cases: SimulationCase[] = [
  { kind: 'assignment', ref: { subject: 'a' }, change: grant('readers'), context: { heldEntitlements: [] } },
  { kind: 'assignment', ref: { subject: 'b' }, change: grant('readers', 'Sales'), context: { heldEntitlements: [] } },
  { kind: 'assignment', ref: { subject: 'c' }, change: grant('admins'), context: { heldEntitlements: [] } },
  { kind: 'pending-request', ref: { requestId: 'r1' }, change: grant('admins'), context: { heldEntitlements: [] }, recorded: { effect: 'require-approval', stages: ['Security (2)'], policy: { name: 'old', versionHash: 'x'.repeat(64) } } },
  { kind: 'pending-request', ref: { requestId: 'r2' }, change: grant('admins'), context: { heldEntitlements: [] }, recorded: { effect: 'require-approval', stages: ['Security (1)'], policy: { name: 'old', versionHash: 'x'.repeat(64) } } },
];

describe('policy simulation', () => {
  it('reports held access and pending requests the draft decides differently, and nothing else', async () => {
    const report = await simulatePolicy({ draft, inForce, source: { cases: async () => ({ cases, truncated: false }) }, limit: 100 });
    expect(report.draft).toEqual({ name: 'sim', versionHash: draft.versionHash });
    expect(report.inForce).toEqual({ name: 'sim', versionHash: inForce.versionHash });
    expect(report.assignments.evaluated).toBe(3);
    expect(report.assignments.differences.map((d) => [d.ref.subject, d.before?.effect, d.after.effect])).toEqual([
      ['b', 'allow', 'deny'],
      ['c', 'allow', 'require-approval'],
    ]);
    // r1 waits under the same stages the draft would ask for; r2 under one approval instead of two.
    expect(report.pendingRequests.differences.map((d) => d.ref.requestId)).toEqual(['r2']);
    expect(report.pendingRequests.differences[0]!.after.reasons[0]).toMatch(/admins-reviewed/);
  });

  it('compares with nothing when no policy is in force', async () => {
    const report = await simulatePolicy({ draft, inForce: undefined, source: { cases: async () => ({ cases: cases.slice(0, 1), truncated: true }) }, limit: 1 });
    expect(report.inForce).toBeNull();
    expect(report.truncated).toBe(true);
    expect(report.assignments.differences[0]).toMatchObject({ before: null, after: { effect: 'allow' } });
  });
});
