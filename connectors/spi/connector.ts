// The connector SPI: a connector implements only the capabilities its system supports (in the
// spirit of ConnId's *Op interfaces and Baton's optional builders) and declares them; the core
// checks a capability with `requireCapability` before calling it, so an unsupported operation is
// a clear refusal, never a missing-method crash half-way through a change.
import { GatehouseError } from '../../shared/errors.js';
import type { Filter } from './filter.js';
import type { Account, AttributeDelta, ChangeOutcome, ConnectorSchema, Entitlement, NewAccount, NewEntitlement, ProbeResult } from './objects.js';
import type { ObjectBatch, ObjectClassInfo, ObjectReadRequest, ObjectRecord, UpsertOutcome } from './records.js';

/** What a connector can do with accounts and entitlements. */
export const ACCOUNT_CAPABILITIES = [
  'test',
  'schema',
  'searchAccounts',
  'searchEntitlements',
  'sync',
  'createAccount',
  'updateAccount',
  'enableDisable',
  'deleteAccount',
  'grantRevoke',
  'manageEntitlements',
  'rotateCredential',
] as const;
/** What a connector can do with the records of its object classes (sync flows read and write them). */
export const OBJECT_CAPABILITIES = ['readObjects', 'writeObjects'] as const;
export const CAPABILITIES = [...ACCOUNT_CAPABILITIES, ...OBJECT_CAPABILITIES] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** Every change carries one: a retry with the same key must not change the target twice (promise 5). */
export interface OperationContext {
  idempotencyKey: string;
}

export interface AccountQuery {
  filter?: Filter;
  /** Fill `entitlements` on each account (costs the target another lookup on most systems). */
  includeEntitlements?: boolean;
  /** How many objects to fetch from the target per round trip. */
  pageSize?: number;
}

export interface EntitlementQuery {
  filter?: Filter;
  pageSize?: number;
}

export interface TestOp {
  /** The live probe: logs in and asks the target something cheap. */
  test(): Promise<ProbeResult>;
}

export interface SchemaOp {
  schema(): Promise<ConnectorSchema>;
}

export interface SearchAccountsOp {
  /** Streams accounts page by page; the filter is translated to the target's own query. */
  searchAccounts(query?: AccountQuery): AsyncIterable<Account>;
  /** One account by uid; UnknownUid when there is none. */
  getAccount(uid: string, options?: { includeEntitlements?: boolean }): Promise<Account>;
}

export interface SearchEntitlementsOp {
  searchEntitlements(query?: EntitlementQuery): AsyncIterable<Entitlement>;
}

/**
 * incremental: a pass returns what changed since the token (deletions too when detectsDeletes).
 * snapshot: a pass lists every account; what a complete pass did not list was deleted.
 */
export interface SyncMode {
  mode: 'incremental' | 'snapshot';
  detectsDeletes: boolean;
}

export type SyncChange = { kind: 'upsert'; account: Account } | { kind: 'delete'; uid: string };

export interface SyncBatch {
  changes: SyncChange[];
  /** Opaque; pass it back to resume right after this batch, even in another process. */
  token: string;
  /** The pass has reached the present; the token then starts the next pass. */
  complete: boolean;
}

export interface SyncOp {
  readonly syncMode: SyncMode;
  /** Accounts (with their entitlements) changed since `token`, or from the start without one. */
  sync(request?: { token?: string; pageSize?: number }): AsyncIterable<SyncBatch>;
}

export interface CreateAccountOp {
  /** AlreadyExists when an account of that name exists. The password, if any, is set in the same change. */
  createAccount(account: NewAccount, ctx: OperationContext, credential?: { password: string }): Promise<Account>;
}

export interface UpdateAccountOp {
  /** Applies every delta or none. */
  updateAccount(uid: string, deltas: AttributeDelta[], ctx: OperationContext): Promise<Account>;
}

export interface EnableDisableOp {
  setAccountEnabled(uid: string, enabled: boolean, ctx: OperationContext): Promise<ChangeOutcome>;
}

export interface DeleteAccountOp {
  /** UnknownUid when it is already gone; the core treats that as done when retrying its own delete. */
  deleteAccount(uid: string, ctx: OperationContext): Promise<void>;
}

export interface GrantRevokeOp {
  /** Idempotent: granting what is held changes nothing and says so. */
  grant(accountUid: string, entitlementUid: string, ctx: OperationContext): Promise<ChangeOutcome>;
  revoke(accountUid: string, entitlementUid: string, ctx: OperationContext): Promise<ChangeOutcome>;
}

/** Groups (or roles) themselves, where the system lets them be made: provisioning groups, not only memberships. */
export interface ManageEntitlementsOp {
  /** AlreadyExists when the system refuses a second entitlement of that name. */
  createEntitlement(entitlement: NewEntitlement, ctx: OperationContext): Promise<Entitlement>;
  /** UnknownUid when it is already gone. */
  deleteEntitlement(uid: string, ctx: OperationContext): Promise<void>;
}

/** Whose credential: the connector's own login (its service account) or an account's. */
export type CredentialTarget = { kind: 'self' } | { kind: 'account'; uid: string };

export interface AppliedCredential {
  /** Identifies the credential for a later retire (an API key id; 'password' for single ones). */
  credentialId: string;
  /** Only when the target issued the secret itself; it goes straight to Vault, never to a workflow. */
  secret?: string;
}

/**
 * Rotation in two phases. single: applying the new credential replaces the old at once, so the
 * undo is applying the old value again. dual: the target holds the new beside the old (API keys,
 * two passwords) until the old is retired after the new one is verified.
 */
export interface RotateCredentialOp {
  readonly credentials: { model: 'single' | 'dual'; source: 'caller' | 'target' };
  /** Phase 1: sets `secret` (source 'caller') or asks the target to issue one (source 'target'). */
  applyCredential(target: CredentialTarget, ctx: OperationContext, secret?: string): Promise<AppliedCredential>;
  /** Logs in with the secret; InvalidCredential when it does not work. */
  verifyCredential(target: CredentialTarget, secret: string): Promise<void>;
  /** Phase 2 (dual): revokes the old credential. Single-credential targets have nothing to retire. */
  retireCredential(target: CredentialTarget, credentialId: string, ctx: OperationContext): Promise<ChangeOutcome>;
}

export interface ReadObjectsOp {
  /** The classes this instance reads and writes, with their fields, key and cursor. */
  objectClasses(): Promise<ObjectClassInfo[]>;
  /** Pages of records (see ObjectBatch); UnknownUid for a class this instance does not have. */
  readObjects(objectClass: string, request?: ObjectReadRequest): AsyncIterable<ObjectBatch>;
  /** The records with these keys (each an object of the key fields) that exist, in no particular order. */
  getObjects(objectClass: string, keys: ObjectRecord[]): Promise<ObjectRecord[]>;
}

export interface WriteObjectsOp {
  /**
   * Creates or updates each record by its key, all of them or none; a record the same as the stored
   * one is left alone. Fields a record does not carry keep their stored values. Rejected, naming the
   * field, for one the class does not have or may not write. `createOnly` creates the records whose
   * key is new and leaves every existing one as it is (counted unchanged).
   */
  upsertObjects(objectClass: string, records: ObjectRecord[], ctx: OperationContext, options?: { createOnly?: boolean }): Promise<UpsertOutcome>;
  /** Deletes the records with these keys (each an object of the key fields); those already gone are not counted. */
  deleteObjects(objectClass: string, keys: ObjectRecord[], ctx: OperationContext): Promise<{ deleted: number }>;
}

interface CapabilityOps {
  test: TestOp;
  schema: SchemaOp;
  searchAccounts: SearchAccountsOp;
  searchEntitlements: SearchEntitlementsOp;
  sync: SyncOp;
  createAccount: CreateAccountOp;
  updateAccount: UpdateAccountOp;
  enableDisable: EnableDisableOp;
  deleteAccount: DeleteAccountOp;
  grantRevoke: GrantRevokeOp;
  manageEntitlements: ManageEntitlementsOp;
  rotateCredential: RotateCredentialOp;
  readObjects: ReadObjectsOp;
  writeObjects: WriteObjectsOp;
}

/** The methods each capability brings; a connector that declares one must have them all. */
export const CAPABILITY_METHODS: { [K in Capability]: readonly (keyof CapabilityOps[K])[] } = {
  test: ['test'],
  schema: ['schema'],
  searchAccounts: ['searchAccounts', 'getAccount'],
  searchEntitlements: ['searchEntitlements'],
  sync: ['sync'],
  createAccount: ['createAccount'],
  updateAccount: ['updateAccount'],
  enableDisable: ['setAccountEnabled'],
  deleteAccount: ['deleteAccount'],
  grantRevoke: ['grant', 'revoke'],
  manageEntitlements: ['createEntitlement', 'deleteEntitlement'],
  rotateCredential: ['applyCredential', 'verifyCredential', 'retireCredential'],
  readObjects: ['objectClasses', 'readObjects', 'getObjects'],
  writeObjects: ['upsertObjects', 'deleteObjects'],
};

export interface Connector {
  /** The connector type, e.g. 'postgresql'. */
  readonly type: string;
  /** What this instance can do; may depend on its configuration (the HTTP connector's does). */
  readonly capabilities: ReadonlySet<Capability>;
  /** Releases connections. Safe to call more than once. */
  close(): Promise<void>;
}

export type ConnectorWith<K extends Capability> = Connector & CapabilityOps[K];

export function supports<K extends Capability>(connector: Connector, capability: K): connector is ConnectorWith<K> {
  if (!connector.capabilities.has(capability)) return false;
  return CAPABILITY_METHODS[capability].every((m) => typeof (connector as unknown as Record<PropertyKey, unknown>)[m] === 'function');
}

/** The core's check before any call: a refusal that names the connector and the operation. */
export function requireCapability<K extends Capability>(connector: Connector, capability: K, label = connector.type): ConnectorWith<K> {
  if (!supports(connector, capability)) {
    throw new GatehouseError('invalid_request', `connector ${label} (${connector.type}) cannot ${capability}: its type or configuration does not support it`, {
      field: 'operation',
      details: { capability, connectorType: connector.type },
    });
  }
  return connector;
}
