// DEVELOPMENT ONLY. A file-backed stand-in for Vault, used by `npm start` only when no Vault binary
// can be found or built. It keeps secrets in a 0600 file in the data folder, which is exactly what
// Vault exists to avoid: it is refused when NODE_ENV=production, flagged in the logs and /readyz,
// and never used by the tests in place of Vault.
import { generateKeyPairSync, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import {
  SecretConflictError,
  assertKeyName,
  assertSecretPath,
  type KvMetadata,
  type KvSecret,
  type SecretStore,
  type SecretStoreHealth,
  type Signature,
  type SigningKeyVersion,
} from './secret-store.js';

interface StoredVersion {
  data: Record<string, string> | null;
  createdTime: string;
}
interface StoredKey {
  versions: { privateKeyPem: string; publicKey: string; createdTime: string }[];
}
interface FileShape {
  kv: Record<string, StoredVersion[]>;
  keys: Record<string, StoredKey>;
}

export class LocalDevSecretStore implements SecretStore {
  readonly kind = 'local-dev' as const;
  private state: FileShape;

  constructor(private readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.state = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as FileShape) : { kv: {}, keys: {} };
  }

  private persist(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  async readKv(p: string, options: { version?: number } = {}): Promise<KvSecret | undefined> {
    assertSecretPath(p);
    const versions = this.state.kv[p];
    if (!versions?.length) return undefined;
    const version = options.version ?? versions.length;
    const v = versions[version - 1];
    if (!v?.data) return undefined;
    return { data: { ...v.data }, version, createdTime: v.createdTime };
  }

  async writeKv(p: string, data: Record<string, string>, options: { cas?: number } = {}): Promise<{ version: number }> {
    assertSecretPath(p);
    const versions = (this.state.kv[p] ??= []);
    if (options.cas !== undefined && options.cas !== versions.length) throw new SecretConflictError(p, options.cas);
    versions.push({ data: { ...data }, createdTime: new Date().toISOString() });
    this.persist();
    return { version: versions.length };
  }

  async readKvMetadata(p: string): Promise<KvMetadata | undefined> {
    assertSecretPath(p);
    const versions = this.state.kv[p];
    if (!versions?.length) return undefined;
    return {
      currentVersion: versions.length,
      oldestVersion: 1,
      createdTime: versions[0]!.createdTime,
      updatedTime: versions[versions.length - 1]!.createdTime,
      versions: versions.map((v, i) => ({ version: i + 1, createdTime: v.createdTime, deleted: v.data === null, destroyed: v.data === null })),
    };
  }

  async rollbackKv(p: string, version: number, options: { cas?: number } = {}): Promise<{ version: number }> {
    const old = await this.readKv(p, { version });
    if (!old) throw new Error(`secret ${p} has no readable version ${version} to roll back to`);
    return this.writeKv(p, old.data, options);
  }

  async destroyKv(p: string): Promise<void> {
    assertSecretPath(p);
    delete this.state.kv[p];
    this.persist();
  }

  async listKv(p: string): Promise<string[]> {
    assertSecretPath(p);
    const prefix = `${p}/`;
    const names = new Set<string>();
    for (const [key, versions] of Object.entries(this.state.kv)) {
      if (!key.startsWith(prefix) || !versions.length) continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf('/');
      names.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return [...names].sort();
  }

  private addKeyVersion(name: string): void {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    (this.state.keys[name] ??= { versions: [] }).versions.push({
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      publicKey: Buffer.from(raw).toString('base64'),
      createdTime: new Date().toISOString(),
    });
    this.persist();
  }

  async ensureSigningKey(name: string): Promise<void> {
    assertKeyName(name);
    if (!this.state.keys[name]) this.addKeyVersion(name);
  }

  async sign(name: string, input: Uint8Array, options: { keyVersion?: number } = {}): Promise<Signature> {
    assertKeyName(name);
    const key = this.state.keys[name];
    if (!key) throw new Error(`signing key ${name} does not exist`);
    const keyVersion = options.keyVersion ?? key.versions.length;
    if (!key.versions[keyVersion - 1]) throw new Error(`signing key ${name} has no version ${keyVersion}`);
    const signature = edSign(null, input, createPrivateKey(key.versions[keyVersion - 1]!.privateKeyPem));
    return { keyVersion, signature: signature.toString('base64') };
  }

  async verify(name: string, input: Uint8Array, signature: Signature): Promise<boolean> {
    const v = this.state.keys[name]?.versions[signature.keyVersion - 1];
    if (!v) return false;
    const publicKey = createPublicKey(createPrivateKey(v.privateKeyPem));
    return edVerify(null, input, publicKey, Buffer.from(signature.signature, 'base64'));
  }

  async publicKeys(name: string): Promise<SigningKeyVersion[]> {
    const key = this.state.keys[name];
    if (!key) throw new Error(`signing key ${name} does not exist`);
    return key.versions.map((v, i) => ({ version: i + 1, publicKey: v.publicKey, createdTime: v.createdTime }));
  }

  async rotateSigningKey(name: string): Promise<void> {
    assertKeyName(name);
    this.addKeyVersion(name);
  }

  async health(): Promise<SecretStoreHealth> {
    return { up: true, kind: 'local-dev', message: 'development-only local secret store: install Vault (npm run setup) or set VAULT_ADDR' };
  }

  async close(): Promise<void> {}
}
