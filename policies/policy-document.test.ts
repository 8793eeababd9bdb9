import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../shared/errors.js';
import { parsePolicyDocument, policyVersionHash } from './policy-document.js';

function problem(text: string): { field?: string; message: string } {
  try {
    parsePolicyDocument(text);
  } catch (err) {
    if (err instanceof GatehouseError) return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error('expected the document to be refused');
}

const head = 'apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: p\n';

describe('policy documents', () => {
  it('parses a minimal document with defaults', () => {
    expect(parsePolicyDocument(head)).toEqual({
      apiVersion: 'gatehouse.dev/v1',
      kind: 'AccessPolicy',
      name: 'p',
      defaults: { removals: 'allow', otherwise: 'deny' },
      rules: [],
      separationOfDuties: [],
      targets: [],
    });
  });

  it('hashes meaning, not formatting', () => {
    const a = parsePolicyDocument(`${head}rules:\n  - id: r\n    effect: allow\n    match: { kinds: [grant], connectors: [x] }\n`);
    const b = parsePolicyDocument(`{"name":"p","kind":"AccessPolicy","apiVersion":"gatehouse.dev/v1","rules":[{"match":{"connectors":["x"],"kinds":["grant"]},"effect":"allow","id":"r"}]}`);
    const c = parsePolicyDocument(`${head}rules:\n  - id: r\n    effect: allow\n    match: { kinds: [grant], connectors: [y] }\n`);
    expect(policyVersionHash(a)).toBe(policyVersionHash(b));
    expect(policyVersionHash(a)).not.toBe(policyVersionHash(c));
    expect(policyVersionHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names the path of each problem', () => {
    expect(problem('apiVersion: v2\nkind: AccessPolicy\nname: p\n')).toEqual({ field: 'apiVersion', message: 'apiVersion: must be gatehouse.dev/v1' });
    expect(problem(`${head}rules:\n  - id: r\n    effect: maybe\n`).field).toBe('rules[0].effect');
    expect(problem(`${head}rules:\n  - id: r\n    effect: require-approval\n`)).toEqual({ field: 'rules[0].approval', message: 'rules[0].approval: is required when effect is require-approval' });
    expect(problem(`${head}rules:\n  - id: r\n    effect: allow\n    approval: { stages: [{ name: s, approvers: [{ manager: true }] }] }\n`).message).toBe("rules[0].approval: is only allowed when effect is require-approval (this rule's effect is allow)");
    expect(problem(`${head}rules:\n  - { id: r, effect: require-approval, approval: { stages: [{ name: s, approvers: [{ manager: true }], quorum: 0 }] } }\n`).field).toBe('rules[0].approval.stages[0].quorum');
    expect(problem(`${head}rules:\n  - { id: r, effect: require-approval, approval: { stages: [{ name: s, approvers: [{ manager: true }], deadline: soon }] } }\n`)).toEqual({
      field: 'rules[0].approval.stages[0].deadline',
      message: 'rules[0].approval.stages[0].deadline: must be a duration such as 30m, 48h or 7d (between 1 second and a year)',
    });
    expect(problem(`${head}rules:\n  - { id: r, effect: require-approval, approval: { stages: [{ name: s, approvers: [{ boss: true }] }] } }\n`).field).toBe('rules[0].approval.stages[0].approvers[0]');
    expect(problem(`${head}rules:\n  - { id: r, effect: allow }\n  - { id: r, effect: deny }\n`)).toEqual({ field: 'rules[1].id', message: 'rules[1].id: duplicates rules[0].id r' });
    expect(problem(`${head}rules:\n  - { id: r, effect: allow, match: { colour: red } }\n`).field).toBe('rules[0].match');
    expect(problem(`${head}separationOfDuties:\n  - { id: s, entitlements: [a], effect: deny }\n`)).toEqual({ field: 'separationOfDuties[0].entitlements', message: 'separationOfDuties[0].entitlements: needs at least two entitlements' });
    expect(problem(`${head}separationOfDuties:\n  - { id: s, entitlements: [a, b], effect: require-approval }\n`).field).toBe('separationOfDuties[0].stage');
  });

  it('checks targets: one entry per connector and per entitlement, known risk levels', () => {
    expect(problem(`${head}targets:\n  - { connector: pg }\n  - { connector: pg }\n`)).toEqual({ field: 'targets[1].connector', message: 'targets[1].connector: duplicates targets[0].connector pg' });
    expect(problem(`${head}targets:\n  - { connector: pg, entitlements: [{ id: a }, { id: a }] }\n`).field).toBe('targets[0].entitlements[1].id');
    expect(problem(`${head}targets:\n  - { connector: pg, riskLevel: extreme }\n`).field).toBe('targets[0].riskLevel');
    expect(problem(`${head}targets:\n  - { connector: pg, entitlements: [{ id: a, owners: [x] }] }\n`).field).toBe('targets[0].entitlements[0]');
  });

  it('refuses YAML that does not parse, with its position', () => {
    expect(problem(`${head}rules: [\n`).message).toMatch(/^document: is not valid YAML at line \d+, column \d+/);
  });

  it('refuses alias bombs', () => {
    const bomb = `${head}x: &a [1,1,1,1,1,1,1,1,1]\n` + Array.from({ length: 8 }, (_, i) => `y${i}: &a${i} [*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''},*a${i ? i - 1 : ''}]`).join('\n');
    expect(problem(bomb).field).toBe('document');
  });
});
