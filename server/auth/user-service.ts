// Gatehouse users: recorded (or refreshed) at each sign-in from the provider's claims, listed for
// admins, and disabled or enabled. Disabling ends the person's sessions at once, on every replica.
import { randomUUID } from 'node:crypto';
import { LockMode, type InferEntity } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Role } from '../../shared/auth/permissions.js';
import { conflict, notFound } from '../../shared/errors.js';
import type { Actor, AuthEventSink } from './auth-events.js';
import { AuthSession } from './session.entity.js';
import { GatehouseUser } from './user.entity.js';
import type { UserView } from './user-types.js';

export interface UserServiceDeps {
  orm: MikroORM;
  events: AuthEventSink;
  now?: () => Date;
}

export interface SignedInPerson {
  issuer: string;
  subject: string;
  email?: string | undefined;
  displayName?: string | undefined;
  roles: Role[];
}

export function toUserView(u: InferEntity<typeof GatehouseUser>): UserView {
  return {
    id: u.id,
    issuer: u.issuer,
    subject: u.subject,
    email: u.email ?? null,
    displayName: u.displayName ?? null,
    roles: u.roles as Role[],
    createdAt: u.createdAt.toISOString(),
    lastSignInAt: u.lastSignInAt?.toISOString() ?? null,
    disabledAt: u.disabledAt?.toISOString() ?? null,
  };
}

export function createUserService(deps: UserServiceDeps) {
  const now = deps.now ?? (() => new Date());

  return {
    /**
     * Creates or refreshes the person's record; one atomic upsert, so replicas cannot create two.
     * A disabled person's record is returned untouched: a refused sign-in is not a sign-in.
     */
    async recordSignIn(person: SignedInPerson): Promise<UserView> {
      const em = deps.orm.em.fork();
      const existing = await em.findOne(GatehouseUser, { issuer: person.issuer, subject: person.subject });
      if (existing?.disabledAt) return toUserView(existing);
      const user = await em.upsert(
        GatehouseUser,
        {
          id: randomUUID(),
          issuer: person.issuer,
          subject: person.subject,
          email: person.email ?? null,
          displayName: person.displayName ?? null,
          roles: person.roles,
          lastSignInAt: now(),
        },
        { onConflictFields: ['issuer', 'subject'], onConflictAction: 'merge', onConflictMergeFields: ['email', 'displayName', 'roles', 'lastSignInAt'] },
      );
      // The upsert answers with what it wrote; read back the columns it does not touch (disabled).
      const stored = await em.fork().findOneOrFail(GatehouseUser, { id: user.id });
      return toUserView(stored);
    },

    async list(options: { limit: number; offset: number }): Promise<UserView[]> {
      const rows = await deps.orm.em.fork().find(GatehouseUser, {}, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: options.limit, offset: options.offset });
      return rows.map(toUserView);
    },

    async get(id: string): Promise<UserView> {
      const user = await deps.orm.em.fork().findOne(GatehouseUser, { id });
      if (!user) throw notFound('user', id);
      return toUserView(user);
    },

    /** Disabling refuses the person's next sign-in and revokes every session they hold, in one transaction. */
    async setDisabled(id: string, disabled: boolean, by: Actor): Promise<UserView> {
      if (disabled && by.kind === 'human' && by.id === id) throw conflict('you cannot disable your own account: ask another admin');
      const view = await deps.orm.em.fork().transactional(async (em) => {
        const user = await em.findOne(GatehouseUser, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (!user) throw notFound('user', id);
        user.disabledAt = disabled ? (user.disabledAt ?? now()) : null;
        user.disabledBy = disabled ? (user.disabledBy ?? `${by.kind}:${by.id}`) : null;
        if (disabled) await em.nativeUpdate(AuthSession, { userId: id, revokedAt: null }, { revokedAt: now() });
        await em.flush();
        return toUserView(user);
      });
      await deps.events.record({ type: disabled ? 'user-disabled' : 'user-enabled', userId: id, by });
      return view;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
