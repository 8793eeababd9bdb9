// The owner directory the credential module reads: people from the SCIM directories, and the
// Gatehouse user ids (people who sign in) that match their email addresses.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { OwnerDirectory } from '../connectors/credentials/owner-directory.js';
import { createDirectoryPeople } from '../scim/directory-people.js';

export function createOwnerDirectory(deps: { orm: MikroORM }): OwnerDirectory {
  const people = createDirectoryPeople(deps);
  return {
    people: (refs) => people.byIds(refs),
    peopleByEmailOrUserName: (values) => people.byEmailOrUserName(values),
    async signInIdsByEmail(emails) {
      const wanted = [...new Set(emails.map((e) => e.toLowerCase()))];
      const out = new Map<string, string[]>();
      if (!wanted.length) return out;
      const pool = (await deps.orm.em.getConnection().getNativeClient()) as Pool;
      const rows = (await pool.query<{ email: string; id: string }>('SELECT lower(email) AS email, id FROM gatehouse_user WHERE lower(email) = ANY ($1::text[]) AND disabled_at IS NULL', [wanted])).rows;
      for (const r of rows) out.set(r.email, [...(out.get(r.email) ?? []), r.id]);
      return out;
    },
  };
}
