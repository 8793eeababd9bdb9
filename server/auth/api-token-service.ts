// API tokens for automation: created with named permissions and an expiry, shown once, stored as a
// hash, revocable, with their last use recorded (at most once a minute per token, not per request).
import { randomUUID } from 'node:crypto';
import type { InferEntity } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AdminAbility, Permission, Principal } from '../../shared/auth/permissions.js';
import { GatehouseError, conflict, invalid, notFound } from '../../shared/errors.js';
import { holdsUnconditionally } from '../../policies/admin-ability.js';
import type { Actor, AuthEventSink } from './auth-events.js';
import { ApiToken } from './api-token.entity.js';
import { GatehouseUser } from './user.entity.js';
import { API_TOKEN_PREFIX, type ApiTokenView } from './api-token-types.js';
import { randomSecret, secretHash } from './secret-values.js';

export interface ApiTokenServiceDeps {
  orm: MikroORM;
  events: AuthEventSink;
  /** The longest life a token may be given, in days. */
  maxDays: number;
  touchEveryMs?: number;
  now?: () => Date;
}

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 90;

export function createApiTokenService(deps: ApiTokenServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const touchEveryMs = deps.touchEveryMs ?? 60_000;

  const view = (t: InferEntity<typeof ApiToken>): ApiTokenView => ({
    id: t.id,
    name: t.name,
    hint: t.hint,
    scopes: t.scopes,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    revokedBy: t.revokedBy ?? null,
    status: t.revokedAt ? 'revoked' : t.expiresAt <= now() ? 'expired' : 'active',
  });

  return {
    /**
     * Creates a token. The creator must hold every scope unconditionally themselves, so a token
     * is never a way to get more than one already has.
     */
    async create(input: { name: string; scopes: Permission[]; expiresInDays?: number | undefined; by: Actor; creatorAbility: AdminAbility }): Promise<{ token: string; view: ApiTokenView }> {
      const days = input.expiresInDays ?? Math.min(DEFAULT_DAYS, deps.maxDays);
      if (days > deps.maxDays) throw invalid('expiresInDays', `must be at most ${deps.maxDays} (AUTH_API_TOKEN_MAX_DAYS)`);
      for (const scope of input.scopes) {
        if (!holdsUnconditionally(input.creatorAbility, scope)) {
          throw new GatehouseError('forbidden', `scopes: you cannot give a token ${scope}, because you do not hold it yourself`, { field: 'scopes', details: { action: 'create', subject: 'ApiToken', scope } });
        }
      }
      const secret = randomSecret();
      const token = `${API_TOKEN_PREFIX}${secret}`;
      const at = now();
      const em = deps.orm.em.fork();
      const row = em.create(ApiToken, {
        id: randomUUID(),
        name: input.name,
        tokenHash: secretHash(token),
        hint: `${API_TOKEN_PREFIX}${secret.slice(0, 6)}`,
        scopes: input.scopes,
        createdBy: `${input.by.kind}:${input.by.id}`,
        createdAt: at,
        expiresAt: new Date(at.getTime() + days * DAY_MS),
      });
      await em.flush();
      await deps.events.record({ type: 'api-token-created', tokenId: row.id, name: row.name, scopes: row.scopes, expiresAt: row.expiresAt.toISOString(), by: input.by });
      return { token, view: view(row) };
    },

    async list(): Promise<ApiTokenView[]> {
      const rows = await deps.orm.em.fork().find(ApiToken, {}, { orderBy: { createdAt: 'desc', id: 'asc' } });
      return rows.map(view);
    },

    async get(id: string): Promise<ApiTokenView> {
      const row = await deps.orm.em.fork().findOne(ApiToken, { id });
      if (!row) throw notFound('API token', id);
      return view(row);
    },

    /** Revokes at once for every replica; a second revocation is refused, so the ledger says who did it. */
    async revoke(id: string, by: Actor): Promise<ApiTokenView> {
      const em = deps.orm.em.fork();
      const updated = await em.nativeUpdate(ApiToken, { id, revokedAt: null }, { revokedAt: now(), revokedBy: `${by.kind}:${by.id}` });
      const row = await em.findOne(ApiToken, { id });
      if (!row) throw notFound('API token', id);
      if (!updated) throw conflict(`API token ${id} was already revoked at ${row.revokedAt?.toISOString()}`);
      await deps.events.record({ type: 'api-token-revoked', tokenId: id, by });
      return view(row);
    },

    /** The principal a bearer token stands for, or undefined when it is unknown, expired, revoked, or its creator is disabled. */
    async authenticate(token: string): Promise<Principal | undefined> {
      if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
      const em = deps.orm.em.fork();
      const row = await em.findOne(ApiToken, { tokenHash: secretHash(token) });
      const at = now();
      if (!row || row.revokedAt || row.expiresAt <= at) return undefined;
      // A token acts with what its creator could grant: once the creator is disabled, so is the token
      // (enabling the person again brings it back; revoke it to end it for good).
      const creatorId = /^human:([0-9a-f-]{36})$/i.exec(row.createdBy)?.[1];
      if (creatorId) {
        const creator = await em.findOne(GatehouseUser, { id: creatorId }, { fields: ['disabledAt'] });
        if (creator?.disabledAt) return undefined;
      }
      if (!row.lastUsedAt || at.getTime() - row.lastUsedAt.getTime() >= touchEveryMs) {
        await em.nativeUpdate(ApiToken, { id: row.id }, { lastUsedAt: at });
      }
      return { kind: 'token', id: row.id, displayName: row.name, roles: [], scopes: row.scopes };
    },
  };
}

export type ApiTokenService = ReturnType<typeof createApiTokenService>;
