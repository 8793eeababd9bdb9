// The SecretStore over HashiCorp Vault (or any Vault-API server) through node-vault: KV v2 and
// transit. node-vault has no sign or verify command, so those use its generic read and write on
// the transit paths.
import nodeVault from 'node-vault';
import {
  SecretConflictError,
  SecretStoreUnavailableError,
  assertKeyName,
  assertSecretPath,
  type KvMetadata,
  type KvSecret,
  type SecretStore,
  type SecretStoreHealth,
  type Signature,
  type SigningKeyVersion,
} from './secret-store.js';

export interface VaultStoreOptions {
  address: string;
  token?: string;
  appRole?: { roleId: string; secretId: string; mount?: string };
  namespace?: string;
  kvMount: string;
  transitMount: string;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
}

interface VaultApiError {
  response?: { statusCode?: number; body?: { errors?: string[] } };
  code?: string;
  message?: string;
}

/**
 * Turns a node-vault failure into one of ours. The original error is deliberately not kept as
 * `cause`: axios errors carry the request config, which holds the token and the request body
 * (a secret value on writes), and would reach any log that prints the error.
 */
function translate(err: unknown, operation: string): Error {
  const e = err as VaultApiError;
  const status = e.response?.statusCode;
  const detail = e.response?.body?.errors?.join('; ');
  if (status === undefined) {
    return new SecretStoreUnavailableError(`Vault unreachable during ${operation} (${e.code ?? 'network error'})`);
  }
  if (status === 503) return new SecretStoreUnavailableError(`Vault is sealed or unavailable during ${operation}`);
  if (status >= 500) return new SecretStoreUnavailableError(`Vault failed ${operation} (HTTP ${status}${detail ? `: ${detail}` : ''})`);
  if (status === 403) return new Error(`Vault refused ${operation}: permission denied (check the token's policy)`);
  return new Error(`Vault rejected ${operation} (HTTP ${status}${detail ? `: ${detail}` : ''})`);
}

const isNotFound = (err: unknown) => (err as VaultApiError).response?.statusCode === 404;

export class VaultSecretStore implements SecretStore {
  readonly kind = 'vault' as const;
  private readonly client: nodeVault.client;
  private renewTimer?: NodeJS.Timeout;

  private constructor(private readonly options: VaultStoreOptions) {
    this.client = nodeVault({
      endpoint: options.address,
      ...(options.token ? { token: options.token } : {}),
      ...(options.namespace ? { namespace: options.namespace } : {}),
      // node-vault's debug hook prints request bodies; keep it silent whatever DEBUG says.
      debug: () => undefined,
      requestOptions: { timeout: options.timeoutMs ?? 10_000 },
    });
  }

  /** Connects and authenticates (AppRole logs in and keeps its token fresh). */
  static async connect(options: VaultStoreOptions): Promise<VaultSecretStore> {
    const store = new VaultSecretStore(options);
    if (options.appRole) await store.loginAppRole();
    else await store.keepTokenFresh();
    return store;
  }

  /** A renewable (e.g. periodic) token is renewed at half its remaining life while we run. */
  private async keepTokenFresh(): Promise<void> {
    let info: { data: { renewable: boolean; ttl: number } };
    try {
      info = await this.client.read('auth/token/lookup-self');
    } catch (err) {
      throw translate(err, 'token lookup');
    }
    if (!info.data.renewable || info.data.ttl <= 0) return;
    const schedule = (seconds: number) => {
      this.renewTimer = setTimeout(() => {
        this.client
          .write('auth/token/renew-self', {})
          .then((res: { auth: { lease_duration: number } }) => schedule(Math.max(30, Math.floor(res.auth.lease_duration / 2))))
          .catch(() => schedule(60));
      }, seconds * 1000);
      this.renewTimer.unref();
    };
    schedule(Math.max(30, Math.floor(info.data.ttl / 2)));
  }

  private async loginAppRole(): Promise<void> {
    const role = this.options.appRole!;
    let res: { auth: { client_token: string; lease_duration: number } };
    try {
      res = await this.client.write(`auth/${role.mount ?? 'approle'}/login`, { role_id: role.roleId, secret_id: role.secretId });
    } catch (err) {
      throw translate(err, 'AppRole login');
    }
    this.client.token = res.auth.client_token;
    const ttl = res.auth.lease_duration;
    if (ttl > 0) {
      // Log in again at two thirds of the token's life; a failure retries in a minute.
      this.renewTimer = setTimeout(() => {
        this.loginAppRole().catch(() => {
          this.renewTimer = setTimeout(() => void this.loginAppRole().catch(() => undefined), 60_000);
          this.renewTimer.unref();
        });
      }, Math.max(5, Math.floor((ttl * 2) / 3)) * 1000);
      this.renewTimer.unref();
    }
  }

  private kvPath(kind: 'data' | 'metadata', path: string): string {
    assertSecretPath(path);
    return `${this.options.kvMount}/${kind}/${path}`;
  }

  async readKv(path: string, options: { version?: number } = {}): Promise<KvSecret | undefined> {
    const url = this.kvPath('data', path) + (options.version ? `?version=${options.version}` : '');
    try {
      const res = await this.client.read(url);
      const meta = res.data.metadata as { version: number; created_time: string; deletion_time: string; destroyed: boolean };
      if (res.data.data === null || meta.destroyed || meta.deletion_time) return undefined;
      return { data: res.data.data as Record<string, string>, version: meta.version, createdTime: meta.created_time };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw translate(err, `read of ${path}`);
    }
  }

  async writeKv(path: string, data: Record<string, string>, options: { cas?: number } = {}): Promise<{ version: number }> {
    const body: { data: Record<string, string>; options?: { cas: number } } = { data };
    if (options.cas !== undefined) body.options = { cas: options.cas };
    try {
      const res = await this.client.write(this.kvPath('data', path), body);
      return { version: res.data.version as number };
    } catch (err) {
      const e = err as VaultApiError;
      if (options.cas !== undefined && e.response?.statusCode === 400 && /check-and-set/i.test(e.response.body?.errors?.join(' ') ?? '')) {
        throw new SecretConflictError(path, options.cas);
      }
      throw translate(err, `write of ${path}`);
    }
  }

  async readKvMetadata(path: string): Promise<KvMetadata | undefined> {
    try {
      const res = await this.client.read(this.kvPath('metadata', path));
      const d = res.data as {
        current_version: number;
        oldest_version: number;
        created_time: string;
        updated_time: string;
        versions: Record<string, { created_time: string; deletion_time: string; destroyed: boolean }>;
      };
      return {
        currentVersion: d.current_version,
        oldestVersion: d.oldest_version,
        createdTime: d.created_time,
        updatedTime: d.updated_time,
        versions: Object.entries(d.versions)
          .map(([v, m]) => ({ version: Number(v), createdTime: m.created_time, deleted: Boolean(m.deletion_time), destroyed: m.destroyed }))
          .sort((a, b) => a.version - b.version),
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw translate(err, `metadata read of ${path}`);
    }
  }

  async rollbackKv(path: string, version: number, options: { cas?: number } = {}): Promise<{ version: number }> {
    const old = await this.readKv(path, { version });
    if (!old) throw new Error(`secret ${path} has no readable version ${version} to roll back to`);
    return this.writeKv(path, old.data, options);
  }

  async destroyKv(path: string): Promise<void> {
    try {
      await this.client.delete(this.kvPath('metadata', path));
    } catch (err) {
      if (!isNotFound(err)) throw translate(err, `destroy of ${path}`);
    }
  }

  async listKv(path: string): Promise<string[]> {
    try {
      const res = await this.client.list(this.kvPath('metadata', path));
      return ((res.data?.keys ?? []) as string[]).slice().sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw translate(err, `listing of ${path}`);
    }
  }

  private transitPath(kind: string, name: string): string {
    assertKeyName(name);
    return `${this.options.transitMount}/${kind}/${name}`;
  }

  async ensureSigningKey(name: string): Promise<void> {
    try {
      await this.client.read(this.transitPath('keys', name));
      return;
    } catch (err) {
      if (!isNotFound(err)) throw translate(err, `read of signing key ${name}`);
    }
    try {
      await this.client.write(this.transitPath('keys', name), { type: 'ed25519', exportable: false, allow_plaintext_backup: false });
    } catch (err) {
      throw translate(err, `creation of signing key ${name}`);
    }
  }

  async sign(name: string, input: Uint8Array, options: { keyVersion?: number } = {}): Promise<Signature> {
    try {
      const res = await this.client.write(this.transitPath('sign', name), {
        input: Buffer.from(input).toString('base64'),
        ...(options.keyVersion !== undefined ? { key_version: options.keyVersion } : {}),
      });
      return parseVaultSignature(res.data.signature as string);
    } catch (err) {
      throw translate(err, `signing with key ${name}`);
    }
  }

  async verify(name: string, input: Uint8Array, signature: Signature): Promise<boolean> {
    try {
      const res = await this.client.write(this.transitPath('verify', name), {
        input: Buffer.from(input).toString('base64'),
        signature: `vault:v${signature.keyVersion}:${signature.signature}`,
      });
      return res.data.valid === true;
    } catch (err) {
      const e = err as VaultApiError;
      // Vault answers 400 for a signature it cannot parse or a key version it does not have.
      if (e.response?.statusCode === 400) return false;
      throw translate(err, `verification with key ${name}`);
    }
  }

  async publicKeys(name: string): Promise<SigningKeyVersion[]> {
    try {
      const res = await this.client.read(this.transitPath('keys', name));
      const keys = res.data.keys as Record<string, { public_key: string; creation_time: string }>;
      return Object.entries(keys)
        .map(([v, k]) => ({ version: Number(v), publicKey: k.public_key, createdTime: k.creation_time }))
        .sort((a, b) => a.version - b.version);
    } catch (err) {
      throw translate(err, `read of signing key ${name}`);
    }
  }

  async rotateSigningKey(name: string): Promise<void> {
    try {
      await this.client.write(`${this.transitPath('keys', name)}/rotate`, {});
    } catch (err) {
      throw translate(err, `rotation of signing key ${name}`);
    }
  }

  async health(): Promise<SecretStoreHealth> {
    try {
      const res = (await this.client.health({ sealedcode: 200, uninitcode: 200, standbycode: 200 })) as {
        version: string;
        sealed: boolean;
        initialized: boolean;
      };
      const up = res.initialized && !res.sealed;
      return { up, kind: 'vault', version: res.version, sealed: res.sealed, ...(up ? {} : { message: res.sealed ? 'sealed' : 'not initialised' }) };
    } catch (err) {
      return { up: false, kind: 'vault', message: translate(err, 'health check').message };
    }
  }

  async close(): Promise<void> {
    if (this.renewTimer) clearTimeout(this.renewTimer);
  }
}

/** Transit signatures look like `vault:v3:BASE64`. */
export function parseVaultSignature(value: string): Signature {
  const m = /^vault:v(\d+):([A-Za-z0-9+/=]+)$/.exec(value);
  if (!m) throw new Error('Vault returned a signature in an unexpected format');
  return { keyVersion: Number(m[1]), signature: m[2]! };
}
