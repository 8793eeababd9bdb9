// The decision table: every rule type, every matchable field, precedence, defaults and separation
// of duties, each as a row with the decision it must give.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { accessChangeSchema, type AccessChangeInput } from './access-change.js';
import { compilePolicy } from './compile-policy.js';
import { decide, type DecisionContext } from './decide.js';
import { parsePolicyDocument, policyVersionHash } from './policy-document.js';

const POLICY = `
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: acme
rules:
  - id: prod-db-admins-denied-for-contractors
    description: contractors never get production admin
    match:
      kinds: [grant]
      entitlements: ["pg-prod:admin*"]
      subject: { employmentTypes: [contractor] }
    effect: deny
  - id: critical-needs-two
    match:
      kinds: [grant, create-account]
      riskLevels: [critical]
    effect: require-approval
    approval:
      stages:
        - name: Manager
          approvers: [{ manager: true }]
          deadline: 48h
          escalateTo: [{ group: security-leads }]
          escalationDeadline: 24h
        - name: Security
          approvers: [{ role: security-approver }, { entitlementOwner: true }]
          quorum: 2
          deadline: 3d
  - id: engineering-birthright
    match:
      kinds: [grant, create-account]
      connectors: [ldap]
      subject: { type: human, departments: [Engineering] }
    effect: allow
  - id: privileged-anywhere
    match: { kinds: [grant], privileged: true }
    effect: require-approval
    approval:
      stages: [{ name: Owner, approvers: [{ entitlementOwner: true }] }]
  - id: nhi-via-request
    match:
      kinds: [issue-credential, rotate-credential]
      subject: { type: nhi }
      sources: [manual-request, rotation]
    effect: allow
  - id: sales-groups
    match:
      kinds: [grant]
      connectors: [crm]
      subject: { groups: [sales-emea, sales-us] }
    effect: allow
  - id: idp-may-update
    match: { kinds: [update-account], requesterKinds: [idp] }
    effect: allow
  - id: lisbon-contractors
    match: { subject: { locations: [Lisbon], titles: [Auditor] } }
    effect: deny
  - id: bot-requester
    match: { kinds: [grant], requesters: [reconciler-bot], connectors: [crm] }
    effect: deny
separationOfDuties:
  - id: payments
    description: create vendors and approve payments
    entitlements: ["erp:vendor-create", "erp:payment-approve"]
    effect: deny
  - id: deploy-and-approve
    entitlements: ["ci:deploy-prod", "ci:approve-release"]
    effect: require-approval
    stage: { name: SoD review, approvers: [{ group: risk-office }], deadline: 24h }
`;

const doc = parsePolicyDocument(POLICY);
const policy = compilePolicy(doc, policyVersionHash(doc));

function change(over: Partial<AccessChangeInput> & { subjectAttrs?: Record<string, unknown>; entitlement?: { id: string; privileged?: boolean } }) {
  const { subjectAttrs, entitlement, ...rest } = over;
  return accessChangeSchema.parse({
    id: randomUUID(),
    kind: 'grant',
    subject: { type: 'human', id: 'u-1', attributes: { department: 'Engineering', employmentType: 'employee', ...subjectAttrs } },
    target: { connectorId: 'ldap', riskLevel: 'medium', ...(entitlement ? { entitlement } : {}) },
    source: 'jml',
    requester: { kind: 'workflow', id: 'jml' },
    ...rest,
  });
}
const none: DecisionContext = { heldEntitlements: [] };

describe('decide: the decision table', () => {
  const rows: { name: string; change: ReturnType<typeof change>; context?: DecisionContext; effect: string; rules: string[] }[] = [
    { name: 'allow by department and connector', change: change({ entitlement: { id: 'cn=eng' } }), effect: 'allow', rules: ['engineering-birthright'] },
    { name: 'another department matches nothing: denied by default', change: change({ subjectAttrs: { department: 'Finance' }, entitlement: { id: 'cn=eng' } }), effect: 'deny', rules: [] },
    { name: 'subject type must match (nhi is not human)', change: change({ subject: { type: 'nhi', id: 'svc-1', attributes: { department: 'Engineering' } }, entitlement: { id: 'cn=eng' } }), effect: 'deny', rules: [] },
    { name: 'risk level critical requires two stages', change: change({ kind: 'create-account', target: { connectorId: 'pg-prod', riskLevel: 'critical' } }), effect: 'require-approval', rules: ['critical-needs-two'] },
    { name: 'deny beats require-approval and allow', change: change({ target: { connectorId: 'pg-prod', riskLevel: 'critical', entitlement: { id: 'admin_rw' } }, subjectAttrs: { employmentType: 'contractor' } }), effect: 'deny', rules: ['prod-db-admins-denied-for-contractors', 'critical-needs-two'] },
    { name: 'entitlement wildcard does not match other names', change: change({ target: { connectorId: 'pg-prod', riskLevel: 'low', entitlement: { id: 'readonly' } }, subjectAttrs: { employmentType: 'contractor' } }), effect: 'deny', rules: [] },
    { name: 'privileged entitlement requires its owner', change: change({ entitlement: { id: 'cn=root', privileged: true } }), effect: 'require-approval', rules: ['engineering-birthright', 'privileged-anywhere'] },
    { name: 'nhi credential via request is allowed', change: change({ kind: 'issue-credential', source: 'manual-request', subject: { type: 'nhi', id: 'svc', attributes: {} } }), effect: 'allow', rules: ['nhi-via-request'] },
    { name: 'nhi credential via sync source is not', change: change({ kind: 'issue-credential', source: 'sync', subject: { type: 'nhi', id: 'svc', attributes: {} } }), effect: 'deny', rules: [] },
    { name: 'groups match when any group is listed', change: change({ target: { connectorId: 'crm', riskLevel: 'low', entitlement: { id: 'seat' } }, subjectAttrs: { department: 'Sales', groups: ['everyone', 'sales-us'] } }), effect: 'allow', rules: ['sales-groups'] },
    { name: 'groups do not match when none is listed', change: change({ target: { connectorId: 'crm', riskLevel: 'low', entitlement: { id: 'seat' } }, subjectAttrs: { department: 'Sales', groups: ['everyone'] } }), effect: 'deny', rules: [] },
    { name: 'requester kind matches', change: change({ kind: 'update-account', requester: { kind: 'idp', id: 'okta' } }), effect: 'allow', rules: ['idp-may-update'] },
    { name: 'requester id matches', change: change({ requester: { kind: 'workflow', id: 'reconciler-bot' }, target: { connectorId: 'crm', riskLevel: 'low', entitlement: { id: 'seat' } }, subjectAttrs: { groups: ['sales-us'] } }), effect: 'deny', rules: ['sales-groups', 'bot-requester'] },
    { name: 'a rule without kinds matches every kind (title and location)', change: change({ kind: 'disable', subjectAttrs: { location: 'Lisbon', title: 'Auditor' } }), effect: 'deny', rules: ['lisbon-contractors'] },
    { name: 'revoke with no rule is allowed by default', change: change({ kind: 'revoke', target: { connectorId: 'erp', riskLevel: 'high', entitlement: { id: 'x' } } }), effect: 'allow', rules: [] },
    { name: 'disable with no rule is allowed by default', change: change({ kind: 'disable', target: { connectorId: 'erp', riskLevel: 'critical' } }), effect: 'allow', rules: [] },
    { name: 'delete-account with no rule is allowed by default', change: change({ kind: 'delete-account', target: { connectorId: 'erp', riskLevel: 'low' } }), effect: 'allow', rules: [] },
  ];

  for (const row of rows) {
    it(row.name, () => {
      const d = decide(row.change, row.context ?? none, policy);
      expect(d.effect).toBe(row.effect);
      expect(d.matchedRules.map((r) => r.id)).toEqual(row.rules);
      expect(d.policy).toEqual({ name: 'acme', versionHash: policy.versionHash });
      expect(d.reasons.length).toBeGreaterThan(0);
    });
  }

  it('stages come in rule order with deadlines, escalation and quorum', () => {
    const d = decide(change({ kind: 'create-account', target: { connectorId: 'pg-prod', riskLevel: 'critical' } }), none, policy);
    expect(d.stages).toEqual([
      { name: 'Manager', fromRule: 'critical-needs-two', approvers: [{ manager: true }], quorum: 1, deadlineMs: 48 * 3600_000, escalateTo: [{ group: 'security-leads' }], escalationDeadlineMs: 24 * 3600_000, onExpiry: 'deny' },
      { name: 'Security', fromRule: 'critical-needs-two', approvers: [{ role: 'security-approver' }, { entitlementOwner: true }], quorum: 2, deadlineMs: 3 * 24 * 3600_000, onExpiry: 'deny' },
    ]);
  });

  it('a removal policy can deny removals by default', () => {
    const strict = parsePolicyDocument('apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: strict\ndefaults: { removals: deny }\n');
    const d = decide(change({ kind: 'revoke', entitlement: { id: 'x' } }), none, compilePolicy(strict, policyVersionHash(strict)));
    expect(d.effect).toBe('deny');
    expect(d.reasons).toEqual(['no rule matched; this policy denies removals by default']);
  });
});

describe('decide: separation of duties', () => {
  const erpGrant = (id: string) => change({ target: { connectorId: 'erp', riskLevel: 'low', entitlement: { id } } });

  it('denies a grant that completes a forbidden set, naming it', () => {
    const d = decide(erpGrant('payment-approve'), { heldEntitlements: ['erp:vendor-create', 'crm:seat'] }, policy);
    expect(d.effect).toBe('deny');
    expect(d.sodConflicts).toEqual([{ id: 'payments', description: 'create vendors and approve payments', entitlements: ['erp:vendor-create', 'erp:payment-approve'], effect: 'deny' }]);
    expect(d.reasons[0]).toContain('erp:vendor-create and erp:payment-approve');
  });

  it('does not fire when the other half is not held', () => {
    const d = decide(erpGrant('payment-approve'), { heldEntitlements: ['crm:seat'] }, policy);
    expect(d.sodConflicts).toEqual([]);
  });

  it('adds an extra stage after the rules’ stages for require-approval sets', () => {
    const c = change({ target: { connectorId: 'ci', riskLevel: 'critical', entitlement: { id: 'approve-release' } } });
    const d = decide(c, { heldEntitlements: ['ci:deploy-prod'] }, policy);
    expect(d.effect).toBe('require-approval');
    expect(d.stages.map((s) => `${s.fromRule}/${s.name}`)).toEqual(['critical-needs-two/Manager', 'critical-needs-two/Security', 'deploy-and-approve/SoD review']);
  });

  it('requires approval for a SoD conflict even when a rule alone would allow the grant', () => {
    const c = change({ target: { connectorId: 'ci', riskLevel: 'low', entitlement: { id: 'approve-release' } } });
    const d = decide(c, { heldEntitlements: ['ci:deploy-prod'] }, policy);
    expect(d.effect).toBe('require-approval');
    expect(d.stages.map((s) => s.name)).toEqual(['SoD review']);
  });

  it('ignores revocations (removing access cannot create a conflict)', () => {
    const d = decide(change({ kind: 'revoke', target: { connectorId: 'erp', riskLevel: 'low', entitlement: { id: 'payment-approve' } } }), { heldEntitlements: ['erp:vendor-create', 'erp:payment-approve'] }, policy);
    expect(d.effect).toBe('allow');
    expect(d.sodConflicts).toEqual([]);
  });
});

describe('decide is pure', () => {
  it('gives the same decision for the same inputs', () => {
    const c = change({ kind: 'create-account', target: { connectorId: 'pg-prod', riskLevel: 'critical' } });
    expect(decide(c, none, policy)).toEqual(decide(c, none, policy));
  });
});

describe("decide: the policy's targets win over the change's own description", () => {
  const doc = parsePolicyDocument(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: targets
targets:
  - connector: pg-prod
    riskLevel: critical
    entitlements:
      - { id: admin, owner: dba-lead@acme.test, privileged: true }
      - { id: reports, riskLevel: low }
rules:
  - id: critical-needs-owner
    match: { kinds: [grant], riskLevels: [critical] }
    effect: require-approval
    approval: { stages: [{ name: Owner, approvers: [{ entitlementOwner: true }] }] }
  - id: privileged-needs-owner
    match: { kinds: [grant], privileged: true }
    effect: require-approval
    approval: { stages: [{ name: Owner, approvers: [{ entitlementOwner: true }] }] }
  - id: low-is-fine
    match: { kinds: [grant], riskLevels: [low] }
    effect: allow
`);
  const p = compilePolicy(doc, policyVersionHash(doc));
  const grant = (entitlement: string, riskLevel: 'low' | 'critical' = 'low', connectorName = 'pg-prod') =>
    change({ target: { connectorId: '5d0c1c1e-0000-4000-8000-000000000001', connectorName, riskLevel, entitlement: { id: entitlement, privileged: false } } });

  it('takes the risk level from the policy, so a change cannot lower its own', () => {
    const d = decide(grant('orders', 'low'), none, p);
    expect(d.effect).toBe('require-approval');
    expect(d.target).toEqual({ connector: 'pg-prod', riskLevel: 'critical', entitlementKey: 'pg-prod:orders', privileged: false });
  });

  it('takes privilege and the owner from the entitlement entry, and its own risk level over the connector’s', () => {
    const admin = decide(grant('admin'), none, p);
    expect(admin.matchedRules.map((r) => r.id)).toEqual(['critical-needs-owner', 'privileged-needs-owner']);
    expect(admin.target).toMatchObject({ privileged: true, entitlementOwner: 'dba-lead@acme.test' });
    expect(decide(grant('reports', 'critical'), none, p)).toMatchObject({ effect: 'allow', target: { riskLevel: 'low' } });
  });

  it('matches connectors by their name once the decide step has resolved it, and keeps the change’s figures for unknown targets', () => {
    expect(decide(grant('orders', 'low', 'crm'), none, p)).toMatchObject({ effect: 'allow', target: { connector: 'crm', riskLevel: 'low' } });
  });
});
