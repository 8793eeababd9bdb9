// The Node side of decision signatures: signs a statement with the decision key in the secret store
// (Vault transit in production) and reads its public keys, in the hex form the gate verifies.
import type { SecretStore } from '../shared/secrets/secret-store.js';
import { DECISION_KEY_NAME, decisionMessage, withdrawalMessage, type DecisionKey, type DecisionSignature, type DecisionStatement, type WithdrawalStatement } from './decision-signature.js';

const hexOfBase64 = (b64: string) => Buffer.from(b64, 'base64').toString('hex');

export function createDecisionSigner(store: Pick<SecretStore, 'sign' | 'publicKeys' | 'ensureSigningKey'>) {
  return {
    /** Creates the key on first use (ed25519, not exportable). */
    async ensureKey(): Promise<void> {
      await store.ensureSigningKey(DECISION_KEY_NAME);
    },

    /** Every version of the decision key's public key. */
    async keys(): Promise<DecisionKey[]> {
      return (await store.publicKeys(DECISION_KEY_NAME)).map((k) => ({ version: k.version, publicKeyHex: hexOfBase64(k.publicKey) }));
    },

    /** Signs a statement, with `keyVersion` when the gate that will verify it knows only older versions. */
    async sign(statement: DecisionStatement, keyVersion?: number): Promise<DecisionSignature> {
      const sig = await store.sign(DECISION_KEY_NAME, decisionMessage(statement), keyVersion !== undefined ? { keyVersion } : {});
      return { keyVersion: sig.keyVersion, signatureHex: hexOfBase64(sig.signature) };
    },

    /** Signs a withdrawal the server accepted, for the gate that will check it. */
    async signWithdrawal(statement: WithdrawalStatement, keyVersion?: number): Promise<DecisionSignature> {
      const sig = await store.sign(DECISION_KEY_NAME, withdrawalMessage(statement), keyVersion !== undefined ? { keyVersion } : {});
      return { keyVersion: sig.keyVersion, signatureHex: hexOfBase64(sig.signature) };
    },

  };
}

export type DecisionSigner = ReturnType<typeof createDecisionSigner>;
