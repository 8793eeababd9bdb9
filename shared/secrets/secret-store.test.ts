// The SecretStore contract, run against a real Vault dev server and against the development-only
// local store (which must behave the same where it stands in), plus Vault-only guarantees.
import { createPublicKey, verify as edVerify } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, suffix, type TestVault } from '../../test/helpers/services.js';
import { LocalDevSecretStore } from './local-store.js';
import { SecretConflictError, SecretStoreUnavailableError, type SecretStore } from './secret-store.js';
import { VaultSecretStore } from './vault-store.js';
import { freePort } from '../../server/embedded/process.js';

/** Verifies an ed25519 signature with nothing but node:crypto and the raw public key. */
function verifyOffline(publicKeyB64: string, input: Uint8Array, signatureB64: string): boolean {
  const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
  const key = createPublicKey({ key: Buffer.concat([spkiPrefix, Buffer.from(publicKeyB64, 'base64')]), format: 'der', type: 'spki' });
  return edVerify(null, input, key, Buffer.from(signatureB64, 'base64'));
}

function contract(name: string, makeStore: () => Promise<SecretStore>) {
  describe(`SecretStore contract: ${name}`, () => {
    let store: SecretStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    it('versions KV secrets and reads any version back', async () => {
      const p = `gatehouse/test/${suffix()}`;
      expect(await store.readKv(p)).toBeUndefined();
      expect(await store.writeKv(p, { password: 'one' })).toEqual({ version: 1 });
      expect(await store.writeKv(p, { password: 'two' })).toEqual({ version: 2 });
      expect(await store.readKv(p)).toMatchObject({ data: { password: 'two' }, version: 2 });
      expect(await store.readKv(p, { version: 1 })).toMatchObject({ data: { password: 'one' }, version: 1 });
      const meta = await store.readKvMetadata(p);
      expect(meta).toMatchObject({ currentVersion: 2, oldestVersion: expect.any(Number) });
      expect(meta!.versions.map((v) => v.version)).toEqual([1, 2]);
    });

    it('enforces check-and-set', async () => {
      const p = `gatehouse/test/${suffix()}`;
      expect(await store.writeKv(p, { v: 'a' }, { cas: 0 })).toEqual({ version: 1 });
      await expect(store.writeKv(p, { v: 'b' }, { cas: 0 })).rejects.toBeInstanceOf(SecretConflictError);
      await expect(store.writeKv(p, { v: 'b' }, { cas: 3 })).rejects.toBeInstanceOf(SecretConflictError);
      expect(await store.writeKv(p, { v: 'b' }, { cas: 1 })).toEqual({ version: 2 });
      expect((await store.readKv(p))!.data).toEqual({ v: 'b' });
    });

    it('rolls back by writing an old version as the newest, with check-and-set', async () => {
      const p = `gatehouse/test/${suffix()}`;
      await store.writeKv(p, { password: 'old' });
      await store.writeKv(p, { password: 'new' });
      await expect(store.rollbackKv(p, 1, { cas: 1 })).rejects.toBeInstanceOf(SecretConflictError);
      expect(await store.rollbackKv(p, 1, { cas: 2 })).toEqual({ version: 3 });
      expect(await store.readKv(p)).toMatchObject({ data: { password: 'old' }, version: 3 });
    });

    it('destroys every version', async () => {
      const p = `gatehouse/test/${suffix()}`;
      await store.writeKv(p, { x: '1' });
      await store.destroyKv(p);
      expect(await store.readKv(p)).toBeUndefined();
      expect(await store.readKvMetadata(p)).toBeUndefined();
    });

    it('lists the names under a folder, sub-folders marked, and nothing for an empty one', async () => {
      const folder = `gatehouse/list-${suffix()}`;
      await store.writeKv(`${folder}/b`, { x: '1' });
      await store.writeKv(`${folder}/a`, { x: '1' });
      await store.writeKv(`${folder}/sub/c`, { x: '1' });
      expect(await store.listKv(folder)).toEqual(['a', 'b', 'sub/']);
      expect(await store.listKv(`${folder}/sub`)).toEqual(['c']);
      expect(await store.listKv(`gatehouse/none-${suffix()}`)).toEqual([]);
      await store.destroyKv(`${folder}/a`);
      expect(await store.listKv(folder)).toEqual(['b', 'sub/']);
    });

    it('refuses paths that could leave its namespace', async () => {
      for (const bad of ['../etc', 'gatehouse/../x', '/abs', 'a//b', 'a b']) {
        await expect(store.readKv(bad)).rejects.toThrow(/invalid secret path/);
      }
    });

    it('signs with ed25519, verifies, publishes public keys, and rotates', async () => {
      const key = `gatehouse-test-${suffix()}`;
      await store.ensureSigningKey(key);
      await store.ensureSigningKey(key); // idempotent
      const input = Buffer.from('tree head 42');
      const sig = await store.sign(key, input);
      expect(sig.keyVersion).toBe(1);
      expect(await store.verify(key, input, sig)).toBe(true);
      expect(await store.verify(key, Buffer.from('tree head 43'), sig)).toBe(false);
      const keys = await store.publicKeys(key);
      expect(keys).toHaveLength(1);
      expect(verifyOffline(keys[0]!.publicKey, input, sig.signature)).toBe(true);
      expect(verifyOffline(keys[0]!.publicKey, Buffer.from('tree head 43'), sig.signature)).toBe(false);

      await store.rotateSigningKey(key);
      const sig2 = await store.sign(key, input);
      expect(sig2.keyVersion).toBe(2);
      const keys2 = await store.publicKeys(key);
      expect(keys2.map((k) => k.version)).toEqual([1, 2]);
      expect(verifyOffline(keys2[1]!.publicKey, input, sig2.signature)).toBe(true);
      // Old signatures stay verifiable after rotation.
      expect(await store.verify(key, input, sig)).toBe(true);
    });

    it('reports health', async () => {
      expect(await store.health()).toMatchObject({ up: true, kind: store.kind });
    });
  });
}

let vault: TestVault;
contract('Vault', async () => {
  vault = await createTestVault();
  return vault.store;
});
contract('local development store (stand-in used only when no Vault binary exists)', async () => {
  return new LocalDevSecretStore(path.join(mkdtempSync(path.join(os.tmpdir(), 'gh-local-secrets-')), 'store.json'));
});

describe('Vault: least privilege and failures', () => {
  it("the server's token cannot read outside gatehouse/ or export signing keys", async () => {
    const v = vault ?? (await createTestVault());
    const res = await fetch(`${v.address}/v1/${v.kvMount}/data/other/thing`, { headers: { 'X-Vault-Token': v.token } });
    expect(res.status).toBe(403);
    await v.store.ensureSigningKey('gatehouse-ledger');
    const exp = await fetch(`${v.address}/v1/${v.transitMount}/export/signing-key/gatehouse-ledger`, { headers: { 'X-Vault-Token': v.token } });
    expect(exp.status).toBe(403);
    const del = await fetch(`${v.address}/v1/${v.transitMount}/keys/gatehouse-ledger`, { method: 'DELETE', headers: { 'X-Vault-Token': v.token } });
    expect(del.status).toBe(403);
    // A key outside the gatehouse-* names is refused too, with an explanation.
    await expect(v.store.ensureSigningKey('other-key')).rejects.toThrow(/permission denied/);
  });

  it('an unreachable Vault is named as unavailable, and the error carries no token', async () => {
    const port = await freePort();
    const store = await VaultSecretStore.connect({ address: `http://127.0.0.1:${port}`, token: 'hvs.secret-token-value', kvMount: 'secret', transitMount: 'transit' }).catch((e: unknown) => e);
    // Connecting looks the token up, so the failure surfaces there already.
    expect(store).toBeInstanceOf(SecretStoreUnavailableError);
    const err = store as Error;
    expect(err.message).toMatch(/Vault unreachable during token lookup \(ECONNREFUSED\)/);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('secret-token-value');
    expect((err as Error & { cause?: unknown }).cause).toBeUndefined();
  });
});
