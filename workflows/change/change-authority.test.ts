// Promise 1 as a pure check over ledger entries: what counts as authority to apply a change, and
// every way of lacking it, each refusal saying why. Approvals are signed with an ed25519 key made
// here (node:crypto), as Vault transit signs them in production: the check only sees public keys.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../audit/index.js';
import { decisionMessage, type DecisionKey, type DecisionStatement } from '../../policies/decision-signature.js';
import { LEDGER_ACTIONS, checkAuthority as check } from './change-authority.js';

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
const decided = (effect: string, more: Record<string, unknown> = {}) =>
  entry(LEDGER_ACTIONS.decided, { details: { changeHash: CHANGE.hash, effect, stages: effect === 'require-approval' ? stages : [], ...(effect === 'require-approval' ? { exclusions: EXCLUSIONS } : {}), ...more } });
const pair = generateKeyPairSync('ed25519');
const KEYS: DecisionKey[] = [{ version: 1, publicKeyHex: pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex') }];
const signed = (statement: DecisionStatement) => ({ keyVersion: 1, signatureHex: sign(null, decisionMessage(statement), pair.privateKey).toString('hex') });
const checkAuthority = (entries: readonly LedgerEntry[], change: typeof CHANGE) => check(entries, change, KEYS);
const EXCLUSIONS = { subjectKeys: ['dana', 'dana@acme.test'], requesterKeys: ['rob', 'rob@acme.test'] };

/** A person's approval as the gate records it: what Gatehouse signed, and the signature. */
const approved = (stageIndex: number, by: string, more: Record<string, unknown> = {}) => {
  const statement: DecisionStatement = { changeId: CHANGE.id, stageIndex, stage: stages[stageIndex]!.name, verdict: 'approve', reason: 'ok', approverId: by, approverKeys: [by, `${by}@acme.test`], claimsDigest: 'e'.repeat(64) };
  const { changeId: _c, verdict: _v, approverId: _a, ...recorded } = statement;
  return entry(LEDGER_ACTIONS.approved, { actor: { kind: 'human', id: by }, details: { ...recorded, signature: signed(statement), ...more } });
};
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

  it('refuses an approval Gatehouse did not sign, or one changed since, naming it (issue 12, item 6)', () => {
    const dec = decided('require-approval');
    const good = approved(0, 'mia');
    const rest = [approved(1, 'sam'), approved(1, 'sue'), closed('approved')];
    const d = good.details as Record<string, unknown>;
    expect(check([dec, good, ...rest], CHANGE, KEYS)).toMatchObject({ allowed: true });
    const variants: [string, LedgerEntry, RegExp][] = [
      ['unsigned', { ...good, details: { ...d, signature: undefined } }, /approval by mia at stage "Manager" \(ledger entry \d+\) is not one Gatehouse accepted: the decision carries no Gatehouse signature/],
      ['another reason', { ...good, details: { ...d, reason: 'changed later' } }, /does not match/],
      ['another stage', { ...good, details: { ...d, stage: 'Security' } }, /does not match/],
      ['another person', { ...good, actor: { kind: 'human', id: 'zed' } }, /approval by zed .* does not match/],
      ['more keys', { ...good, details: { ...d, approverKeys: ['mia', 'cfo@acme.test'] } }, /does not match/],
      ['recorded before signatures', { ...good, details: { stageIndex: 0 } }, /does not record what Gatehouse signed/],
    ];
    for (const [, e, reason] of variants) expect(check([dec, e, ...rest], CHANGE, KEYS)).toEqual({ allowed: false, reason: expect.stringMatching(reason) });
    // Signed by a key Gatehouse does not hold.
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
    expect(check([dec, good, ...rest], CHANGE, [{ version: 1, publicKeyHex: other }])).toMatchObject({ allowed: false, reason: expect.stringMatching(/does not match/) });
  });

  it('refuses an approval by the subject or the requester, as the decision recorded them (promise 6)', () => {
    const dec = decided('require-approval');
    const unrecorded = decided('require-approval', { exclusions: undefined });
    const [dana, mia, rob] = [approved(0, 'dana'), approved(0, 'mia'), approved(1, 'rob')];
    const rest = [approved(1, 'sam'), approved(1, 'sue'), closed('approved')];
    expect(checkAuthority([dec, dana, ...rest], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/made by the subject/) });
    expect(checkAuthority([dec, mia, rob, ...rest], CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/made by the person who requested/) });
    // A decision recorded without who is excluded cannot vouch for its approvals.
    expect(checkAuthority([unrecorded, mia, ...rest].filter((e) => e !== dec), CHANGE)).toMatchObject({ allowed: false, reason: expect.stringMatching(/names nobody the approvers must not be/) });
  });
});
