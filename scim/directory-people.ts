// People as the SCIM directories know them, read-only, for other modules: whether a person still
// exists and is active, who their manager is, and who has a given email or user name. The
// credential inventory uses it to say whether an owner is still here and who takes over a leaver's
// non-human identities.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { SCHEMA_ENTERPRISE_USER } from './scim-schema.js';

export interface Person {
  directoryId: string;
  userId: string;
  userName: string;
  displayName: string | null;
  emails: string[];
  /** SCIM `active`; a user without the attribute is active. */
  active: boolean;
  /** The manager's user id in the same directory (enterprise extension), when set. */
  managerId: string | null;
}

interface PersonRow {
  directory_id: string;
  id: string;
  user_name: string;
  resource: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `<directoryId>/<userId>`: how a person is keyed in the maps returned here. */
export const personKey = (ref: { directoryId: string; userId: string }) => `${ref.directoryId}/${ref.userId}`;

function toPerson(r: PersonRow): Person {
  const res = r.resource;
  const emails = Array.isArray(res.emails) ? (res.emails as { value?: unknown }[]).map((e) => e.value).filter((v): v is string => typeof v === 'string') : [];
  const name = res.name as { formatted?: unknown } | undefined;
  const displayName = typeof res.displayName === 'string' ? res.displayName : typeof name?.formatted === 'string' ? name.formatted : null;
  const manager = (res[SCHEMA_ENTERPRISE_USER] as { manager?: { value?: unknown } } | undefined)?.manager?.value;
  return {
    directoryId: r.directory_id,
    userId: r.id,
    userName: r.user_name,
    displayName,
    emails,
    active: res.active !== false,
    managerId: typeof manager === 'string' && UUID.test(manager) ? manager : null,
  };
}

export function createDirectoryPeople(deps: { orm: MikroORM }) {
  // The pg pool behind MikroORM, as SCIM's store uses it: array parameters bind as PostgreSQL arrays.
  const query = async <R>(text: string, values: unknown[]): Promise<R[]> => {
    const pool = (await deps.orm.em.getConnection().getNativeClient()) as Pool;
    return (await pool.query(text, values)).rows as R[];
  };
  return {
    /** The people named; a reference missing from the map names someone deleted from their directory. */
    async byIds(refs: readonly { directoryId: string; userId: string }[]): Promise<Map<string, Person>> {
      const valid = refs.filter((r) => UUID.test(r.directoryId) && UUID.test(r.userId));
      if (!valid.length) return new Map();
      const rows = await query<PersonRow>(
        `SELECT u.directory_id, u.id, u.user_name, u.resource FROM scim_user u
          JOIN unnest($1::uuid[], $2::uuid[]) AS wanted (directory_id, id) ON wanted.directory_id = u.directory_id AND wanted.id = u.id`,
        [valid.map((r) => r.directoryId), valid.map((r) => r.userId)],
      );
      return new Map(rows.map((r) => [personKey({ directoryId: r.directory_id, userId: r.id }), toPerson(r)]));
    },

    /** People whose user name or any email is one of `values` (case-insensitive), in every directory. */
    async byEmailOrUserName(values: readonly string[]): Promise<Person[]> {
      const wanted = [...new Set(values.map((v) => v.toLowerCase()))];
      if (!wanted.length) return [];
      const rows = await query<PersonRow>(
        `SELECT u.directory_id, u.id, u.user_name, u.resource FROM scim_user u
          WHERE lower(u.user_name) = ANY ($1::text[])
             OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(u.resource->'emails') = 'array' THEN u.resource->'emails' ELSE '[]'::jsonb END) e
                         WHERE lower(e->>'value') = ANY ($1::text[]))`,
        [wanted],
      );
      return rows.map(toPerson);
    },
  };
}

export type DirectoryPeople = ReturnType<typeof createDirectoryPeople>;
