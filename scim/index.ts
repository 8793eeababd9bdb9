// The SCIM module: builds the SCIM 2.0 endpoint, the directory admin routes and services from the
// database, and offers the outbox dispatcher to whoever consumes identity events.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ApiRoute } from '../shared/http/api-route.js';
import { createDirectoryService, type DirectoryService } from './directory-service.js';
import { directoryRoutes } from './directory-routes.js';
import { createTokenAuthenticator } from './directory-token.js';
import { createOutboxDispatcher, type OutboxDispatcher, type OutboxDispatcherDeps } from './outbox-dispatcher.js';
import type { BulkLimits } from './scim-bulk.js';
import { createDiscovery } from './scim-discovery.js';
import { createScimHandler, type ScimHandler } from './scim-router.js';
import { DEFAULT_AUTH_FAILURE_LIMITS, createAuthFailureLimiter, type AuthFailureLimits } from './scim-auth-limit.js';
import { DEFAULT_SCIM_LIMITS, createScimService, type ScimLimits, type ScimService } from './scim-service.js';
import { createScimStore } from './scim-store.js';
import type { LedgerAppender } from '../audit/index.js';

export const SCIM_MOUNT_PATH = '/scim/v2';

export interface ScimModuleOptions {
  orm: MikroORM;
  /** Directory and token changes are ledger entries (SCIM changes are recorded from the outbox). */
  ledger: LedgerAppender;
  /** The address identity providers use; meta.location and $ref values start with it. */
  publicUrl: string;
  log: Logger;
  limits?: ScimLimits;
  bulk?: BulkLimits;
  /** Failed authentications allowed per client address (default 30 per 15 minutes). */
  authFailureLimits?: AuthFailureLimits;
  /** How long a valid token is trusted without a database lookup (revocation reaches other processes within it). */
  tokenCacheTtlMs?: number;
}

export interface ScimModule {
  /** The SCIM 2.0 endpoint, for the app to mount at SCIM_MOUNT_PATH. */
  handler: ScimHandler;
  routes: ApiRoute[];
  directories: DirectoryService;
  service: ScimService;
  pool: Pool;
  scimBaseUrl: string;
  /** The identity-event dispatcher; the joiner-mover-leaver workflows plug in their deliver(). */
  createDispatcher(options: Omit<OutboxDispatcherDeps, 'pool' | 'log'>): OutboxDispatcher;
}

/**
 * Each bulk operation is its own transaction (its own commit), so a request's time grows with its
 * operations: 100 keeps a maximal Bulk well under a second (bench:scim-limits) while a slow one holds
 * nothing else up. Identity providers page their pushes anyway (Okta and Entra do not use /Bulk).
 */
export const DEFAULT_BULK_LIMITS: BulkLimits = { maxOperations: 100, maxPayloadSize: 1_048_576 };

/** The pg pool behind MikroORM: SCIM's hot paths use it directly, with no second pool. */
export async function poolOf(orm: MikroORM): Promise<Pool> {
  return orm.em.getConnection().getNativeClient();
}

export async function createScimModule(options: ScimModuleOptions): Promise<ScimModule> {
  const pool = await poolOf(options.orm);
  const scimBaseUrl = `${options.publicUrl.replace(/\/$/, '')}${SCIM_MOUNT_PATH}`;
  const limits = options.limits ?? DEFAULT_SCIM_LIMITS;
  const bulk = options.bulk ?? DEFAULT_BULK_LIMITS;
  const log = options.log.child({ module: 'scim' });
  const authenticator = createTokenAuthenticator({ pool, log, ...(options.tokenCacheTtlMs !== undefined ? { cacheTtlMs: options.tokenCacheTtlMs } : {}) });
  const directories = createDirectoryService({ orm: options.orm, ledger: options.ledger, onTokenRevoked: (id) => authenticator.forget(id) });
  const store = createScimStore({ pool });
  const service = createScimService({ store, baseUrl: scimBaseUrl, limits });
  const discovery = createDiscovery({ baseUrl: scimBaseUrl, limits, bulk });
  const authFailures = createAuthFailureLimiter({ pool, limits: options.authFailureLimits ?? DEFAULT_AUTH_FAILURE_LIMITS });
  const handler = createScimHandler({ service, authenticator, authFailures, discovery, bulk, maxPayloadSize: bulk.maxPayloadSize, log });
  return {
    handler,
    routes: directoryRoutes({ directories, scimBaseUrl }),
    directories,
    service,
    pool,
    scimBaseUrl,
    createDispatcher: (dispatcherOptions) => createOutboxDispatcher({ ...dispatcherOptions, pool, log }),
  };
}
