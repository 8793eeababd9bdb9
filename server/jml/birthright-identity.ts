// Who a person is for birthright rules, from the SCIM directories: their attributes as decisions see
// them (through the identity resolver) and the naming fields account templates use. A person the
// directory no longer has is gone: undefined, and the plan treats them as a leaver.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { BirthrightIdentitySource } from '../../workflows/jml/activities.js';
import type { IdentityResolver } from '../access/identity-resolver.js';

const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

export function createBirthrightIdentitySource(deps: { orm: MikroORM; resolver: Pick<IdentityResolver, 'identity' | 'resolveSubject'> }): BirthrightIdentitySource {
  return {
    async birthrightIdentity(directoryId, identityId) {
      const identity = await deps.resolver.identity(identityId, directoryId);
      if (!identity) return undefined;
      const subject = await deps.resolver.resolveSubject({ type: identity.type, id: identity.id, directoryId, attributes: {} });
      if (!subject) return undefined;
      const [row] = await deps.orm.em.fork().getConnection().execute<{ resource: Record<string, unknown> }[]>('SELECT resource FROM scim_user WHERE id = ?::uuid AND directory_id = ?::uuid', [identityId, directoryId]);
      const r = row?.resource ?? {};
      const name = (r.name ?? {}) as Record<string, unknown>;
      const email = identity.emails[0];
      return {
        active: identity.active,
        subject,
        identity: {
          attributes: identity.attributes,
          naming: {
            id: identity.id,
            userName: identity.userName,
            localPart: identity.userName.split('@')[0],
            displayName: identity.displayName,
            ...(str(name.givenName) ? { givenName: str(name.givenName)! } : {}),
            ...(str(name.familyName) ? { familyName: str(name.familyName)! } : {}),
            ...(email ? { email } : {}),
            ...(str(r.externalId) ? { externalId: str(r.externalId)! } : {}),
            ...(identity.attributes.department ? { department: identity.attributes.department } : {}),
            ...(identity.attributes.title ? { title: identity.attributes.title } : {}),
          },
        },
      };
    },
  };
}
