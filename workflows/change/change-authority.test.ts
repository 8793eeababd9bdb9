// Promise 1 as a pure check over ledger entries: what counts as authority to apply a change, and
// every way of lacking it, each refusal saying why.
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../audit/index.js';
import { LEDGER_ACTIONS, checkAuthority } from './change-authority.js';

const CHANGE = { id: 'c-1', hash: 'a'.repeat(64) };
const POLICY = { id: 'acme', versionHash: 'b'.repeat(64) };
let seq = 0;
const entry = (action: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  seq: seq++,
  timestamp: '2026-12-01T00:00:00.000Z',
  prevHash: '0'.repeat(64),
  hash: '1'.repeat(64),
  action,
  actor: { kind: 'workflow', id: 'access-request:c-1' },
  correlation: { changeId: CHANGE.id },
  policy: POLICY,
  ...over,
});
const stages = [
  { index: 0, name: 'Manager', quorum: 1, onExpiry: 'deny' as const },
  { index: 1, name: 'Security', quorum: 2, onExpiry: 'deny' as const },
];
const decided = (effect: string, more: Record<string, unknown> = {}) => entry(LEDGER_ACTIONS.decided, { details: { changeHash: CHANGE.hash, effect, stages: effect === 'require-approval' ? stages : [], ...more } });
const approved = (stageIndex: number, by: string, more: Record<string, unknown> = {}) => entry(LEDGER_ACTIONS.approved, { actor: { kind: 'human', id: by }, details: { stageIndex, ...more } });
const closed = (status: string) => entry(LEDGER_ACTIONS.requestClosed, { details: { status } });

describe('checkAuthority (promise 1)', () => {
  it('allows a change the policy allowed', () => {
    expect(checkAuthority([decided('allow')], CHANGE)).toMatchObject({ allowed: true, effect: 'allow', policy: POLICY });
  });

  it('refuses without a decision, with two decisions, or for other content', () => {
    expect(checkAuthority([], CHANGE)).toEqual({ allowed: false, reason: 'the ledger holds no decision for change c-1' });
    expect(checkAuthority([decided('allow'), decided('allow')], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/2 decisions/) });
    expect(checkAuthority([decided('allow', { changeHash: 'c'.repeat(64) })], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/different content/) });
    expect(checkAuthority([decided('allow')].map((e) => ({ ...e, correlation: { changeId: 'other' } })), CHANGE)).toMatchObject({ allowed: false });
  });

  it('refuses a decision that names no policy, and a deny', () => {
    const { policy: _policy, ...withoutPolicy } = decided('allow');
    expect(checkAuthority([withoutPolicy as LedgerEntry], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/names no policy/) });
    expect(checkAuthority([decided('deny')], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/decided deny/) });
  });

  it('allows an approved change only with every stage’s quorum from distinct people and the gate’s approved outcome', () => {
    const base = [decided('require-approval'), approved(0, 'mia'), approved(1, 'sam'), approved(1, 'sue')];
    expect(checkAuthority([...base, closed('approved')], CHANGE)).toMatchObject({ allowed: true, effect: 'require-approval' });
    expect(checkAuthority(base, CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/no approved outcome/) });
    expect(checkAuthority([...base, closed('cancelled')], CHANGE)).toMatchObject({ allowed: false });
    // The same person twice does not make a quorum of two.
    const twice = [decided('require-approval'), approved(0, 'mia'), approved(1, 'sam'), approved(1, 'sam'), closed('approved')];
    expect(checkAuthority(twice, CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/stage "Security".*needs 2.*holds 1/) });
    // A stage with no approval at all.
    expect(checkAuthority([decided('require-approval'), approved(1, 'sam'), approved(1, 'sue'), closed('approved')], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/stage "Manager"/) });
  });

  it('counts only approvals after the decision, under the same policy version, from people', () => {
    const early = approved(0, 'mia');
    const rest = [decided('require-approval'), approved(1, 'sam'), approved(1, 'sue'), closed('approved')];
    expect(checkAuthority([early, ...rest], CHANGE)).toMatchObject({ allowed: false });
    const otherVersion = [decided('require-approval'), approved(0, 'mia', {}), approved(1, 'sam'), approved(1, 'sue'), closed('approved')].map((e, i) => (i === 1 ? { ...e, policy: { id: 'acme', versionHash: 'd'.repeat(64) } } : e));
    expect(checkAuthority(otherVersion, CHANGE)).toMatchObject({ allowed: false });
    const byWorkflow = [decided('require-approval'), { ...approved(0, 'mia'), actor: { kind: 'workflow' as const, id: 'x' } }, approved(1, 'sam'), approved(1, 'sue'), closed('approved')];
    expect(checkAuthority(byWorkflow, CHANGE)).toMatchObject({ allowed: false });
  });

  it('refuses after a denial or an expiry, whatever else is on record', () => {
    const base = [decided('require-approval'), approved(0, 'mia'), approved(1, 'sam'), approved(1, 'sue')];
    expect(checkAuthority([...base, entry(LEDGER_ACTIONS.denied, { actor: { kind: 'human', id: 'zoe' } }), closed('approved')], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/denied/) });
    expect(checkAuthority([...base, entry(LEDGER_ACTIONS.expired), closed('approved')], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/expire/) });
  });

  it('accepts a stage passed by expiry only where its policy allows that', () => {
    const byExpiry = () => entry(LEDGER_ACTIONS.approved, { details: { stageIndex: 0, byExpiry: true } });
    const lenient = [{ index: 0, name: 'FYI', quorum: 1, onExpiry: 'allow' as const }];
    expect(checkAuthority([decided('require-approval', { stages: lenient }), byExpiry(), closed('approved')], CHANGE)).toMatchObject({ allowed: true });
    const strict = [{ ...lenient[0]!, onExpiry: 'deny' as const }];
    expect(checkAuthority([decided('require-approval', { stages: strict }), byExpiry(), closed('approved')], CHANGE)).toMatchObject({ allowed: false });
  });
});
