// Decision signatures made by a real Vault's transit engine (through the secret store Gatehouse
// uses) and verified by the pure code the approval gate runs in its sandbox.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, type TestVault } from '../test/helpers/services.js';
import type { ApproverClaims } from './approval-eligibility.js';
import { claimsDigest, decisionStatement, verifyDecision, verifyWithdrawal, type DecisionKey } from './decision-signature.js';
import { createDecisionSigner, type DecisionSigner } from './decision-signer.js';

const sam: ApproverClaims = { userId: 'u-sam', displayName: 'Sam', identityKeys: ['sam@acme.test', 'scim-sam'], roles: ['security-approver'], groups: ['security'] };
const base = { changeId: 'c-1', stageIndex: 0, stage: 'Security', verdict: 'approve' as const, reason: 'looks right', approver: sam };

describe('decision signatures (Vault transit, verified in the sandbox code)', () => {
  let vault: TestVault;
  let signer: DecisionSigner;
  let keys: DecisionKey[];

  beforeAll(async () => {
    vault = await createTestVault();
    signer = createDecisionSigner(vault.store);
    await signer.ensureKey();
    keys = await signer.keys();
  });

  it('verifies a decision Gatehouse signed, and nothing that differs from it in any part', async () => {
    const statement = decisionStatement(base);
    const signature = await signer.sign(statement);
    expect(signature).toEqual({ keyVersion: 1, signatureHex: expect.stringMatching(/^[0-9a-f]{128}$/) });
    expect(verifyDecision(statement, signature, keys)).toEqual({ valid: true });

    const variants = [
      { ...base, changeId: 'c-2' },
      { ...base, stageIndex: 1 },
      { ...base, stage: 'Manager' },
      { ...base, verdict: 'deny' as const },
      { ...base, reason: 'looks right!' },
      { ...base, approver: { ...sam, userId: 'u-eve' } },
      { ...base, approver: { ...sam, roles: [...sam.roles, 'admin' as const] } },
      { ...base, approver: { ...sam, groups: ['security', 'cfo-office'] } },
      { ...base, approver: { ...sam, identityKeys: ['sam@acme.test'] } },
    ];
    for (const v of variants) {
      expect(verifyDecision(decisionStatement(v), signature, keys)).toEqual({ valid: false, reason: expect.stringMatching(/does not match/) });
    }
  });

  it('covers the full claims by their digest, independent of key order', () => {
    const reordered: ApproverClaims = { groups: sam.groups, roles: sam.roles, identityKeys: sam.identityKeys, displayName: 'Sam', userId: 'u-sam' };
    expect(claimsDigest(reordered)).toBe(claimsDigest(sam));
    expect(claimsDigest({ ...sam, groups: [] })).not.toBe(claimsDigest(sam));
  });

  it('explains a missing, malformed, foreign or unknown-version signature', async () => {
    const statement = decisionStatement(base);
    expect(verifyDecision(statement, undefined, keys)).toMatchObject({ valid: false, reason: expect.stringMatching(/carries no Gatehouse signature/) });
    expect(verifyDecision(statement, { keyVersion: 1, signatureHex: 'zz' }, keys)).toMatchObject({ valid: false, reason: expect.stringMatching(/malformed/) });
    expect(verifyDecision(statement, { keyVersion: 1, signatureHex: '00'.repeat(64) }, keys)).toMatchObject({ valid: false, reason: expect.stringMatching(/does not match/) });
    expect(verifyDecision(statement, { keyVersion: 7, signatureHex: '00'.repeat(64) }, keys)).toMatchObject({ valid: false, reason: expect.stringMatching(/key version 7/) });

    // A signature by another key of the same Vault (the ledger's, say) is not a decision signature.
    await vault.store.ensureSigningKey('gatehouse-other');
    const foreign = await vault.store.sign('gatehouse-other', new TextEncoder().encode('x'));
    expect(verifyDecision(statement, { keyVersion: foreign.keyVersion, signatureHex: Buffer.from(foreign.signature, 'base64').toString('hex') }, keys)).toMatchObject({ valid: false });
  });

  it('signs withdrawals under their own domain: a decision signature never stands in for one', async () => {
    const withdrawal = { changeId: 'c-1', by: 'u-rob', reason: 'no longer needed' };
    const signature = await signer.signWithdrawal(withdrawal);
    expect(verifyWithdrawal(withdrawal, signature, keys)).toEqual({ valid: true });
    expect(verifyWithdrawal({ ...withdrawal, by: 'u-zed' }, signature, keys)).toMatchObject({ valid: false, reason: expect.stringMatching(/withdrawal signature does not match/) });
    expect(verifyWithdrawal(withdrawal, undefined, keys)).toMatchObject({ valid: false, reason: expect.stringMatching(/withdrawal carries no Gatehouse signature/) });
    const decision = await signer.sign(decisionStatement(base));
    expect(verifyWithdrawal(withdrawal, decision, keys)).toMatchObject({ valid: false });
  });

  it('after a key rotation, signs with the version a gate knows when asked to', async () => {
    const v = await createTestVault();
    const s = createDecisionSigner(v.store);
    await s.ensureKey();
    const before = await s.keys();
    await v.store.rotateSigningKey('gatehouse-decisions');
    const statement = decisionStatement(base);
    expect(verifyDecision(statement, await s.sign(statement), before)).toMatchObject({ valid: false, reason: expect.stringMatching(/key version 2/) });
    expect(verifyDecision(statement, await s.sign(statement, 1), before)).toEqual({ valid: true });
    expect(verifyDecision(statement, await s.sign(statement), await s.keys())).toEqual({ valid: true });
  });
});
