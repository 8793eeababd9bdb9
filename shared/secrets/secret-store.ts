// The secret store every module uses: KV v2 with check-and-set and versions, and signing with a
// non-exportable ed25519 key. Vault implements it; a development-only local store stands in
// only when no Vault binary exists, and says so.

export interface KvSecret {
  data: Record<string, string>;
  version: number;
  createdTime: string;
}

export interface KvMetadata {
  currentVersion: number;
  oldestVersion: number;
  createdTime: string;
  updatedTime: string;
  /** Versions that still hold data (not deleted or destroyed). */
  versions: { version: number; createdTime: string; deleted: boolean; destroyed: boolean }[];
}

export interface SigningKeyVersion {
  version: number;
  /** Raw ed25519 public key, base64. */
  publicKey: string;
  createdTime: string;
}

export interface Signature {
  keyVersion: number;
  /** Raw ed25519 signature over the input, base64. */
  signature: string;
}

export interface SecretStoreHealth {
  up: boolean;
  kind: 'vault' | 'local-dev';
  version?: string;
  sealed?: boolean;
  message?: string;
}

export interface SecretStore {
  readonly kind: 'vault' | 'local-dev';

  /** Reads a KV v2 secret (the current version, or the one given). Undefined when there is none. */
  readKv(path: string, options?: { version?: number }): Promise<KvSecret | undefined>;
  /**
   * Writes a new version. With `cas`, the write happens only if the current version is `cas`
   * (0: only if the secret does not exist yet); otherwise it fails with a conflict.
   */
  writeKv(path: string, data: Record<string, string>, options?: { cas?: number }): Promise<{ version: number }>;
  readKvMetadata(path: string): Promise<KvMetadata | undefined>;
  /** Makes the data of `version` current again, as a new version, with check-and-set on `cas`. */
  rollbackKv(path: string, version: number, options?: { cas?: number }): Promise<{ version: number }>;
  /** Deletes every version and the metadata. */
  destroyKv(path: string): Promise<void>;
  /** The names directly under a folder (sub-folders end with '/'); empty when there are none. */
  listKv(path: string): Promise<string[]>;

  /** Creates the signing key if it does not exist (ed25519, not exportable). */
  ensureSigningKey(name: string): Promise<void>;
  /** Signs with the newest version, or with `keyVersion` when given (it must exist). */
  sign(name: string, input: Uint8Array, options?: { keyVersion?: number }): Promise<Signature>;
  verify(name: string, input: Uint8Array, signature: Signature): Promise<boolean>;
  publicKeys(name: string): Promise<SigningKeyVersion[]>;
  rotateSigningKey(name: string): Promise<void>;

  health(): Promise<SecretStoreHealth>;
  close(): Promise<void>;
}

export class SecretConflictError extends Error {
  constructor(readonly path: string, readonly expected: number) {
    super(`check-and-set failed for secret ${path}: its current version is not ${expected}`);
    this.name = 'SecretConflictError';
  }
}

export class SecretStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretStoreUnavailableError';
  }
}

/** Secret paths are ours to build; refuse anything that could walk out of the namespace. */
export function assertSecretPath(path: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.\-/]*$/.test(path) || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`invalid secret path ${JSON.stringify(path)}`);
  }
}

export function assertKeyName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) throw new Error(`invalid signing key name ${JSON.stringify(name)}`);
}
