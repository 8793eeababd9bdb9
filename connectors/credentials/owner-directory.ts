// Who owns what: owners are people in the SCIM directories, and the nhi-owner role's rules compare
// the signed-in person's Gatehouse user id with a credential's `ownerIds`. The server provides this
// narrow view of both (scim/ for people, sign-in for user ids); the two are joined by email.
import type { OwnerRef } from './credential-types.js';

export interface OwnerPerson {
  directoryId: string;
  userId: string;
  userName: string;
  displayName: string | null;
  emails: string[];
  active: boolean;
  managerId: string | null;
}

export interface OwnerDirectory {
  /** The people named, keyed `<directoryId>/<userId>`; one missing from the map was deleted from its directory. */
  people(refs: readonly OwnerRef[]): Promise<Map<string, OwnerPerson>>;
  /** People whose user name or an email is one of these (case-insensitive). */
  peopleByEmailOrUserName(values: readonly string[]): Promise<OwnerPerson[]>;
  /** Gatehouse user ids (people who sign in) by lower-cased email; disabled users are left out. */
  signInIdsByEmail(emails: readonly string[]): Promise<Map<string, string[]>>;
}

export const ownerKey = (ref: OwnerRef) => `${ref.directoryId}/${ref.userId}`;

/** The addresses a person signs in with, as far as the directory says: their emails, and a user name that is one. */
export function addressesOf(person: OwnerPerson): string[] {
  const all = [...person.emails, ...(person.userName.includes('@') ? [person.userName] : [])];
  return [...new Set(all.map((e) => e.toLowerCase()))];
}

/**
 * The Gatehouse user ids of each credential's owners (for CASL's `ownerIds` condition), computed for
 * many credentials at once: one lookup of people, one of sign-in accounts.
 */
export async function ownerIdsFor(directory: OwnerDirectory, owners: readonly (readonly OwnerRef[])[]): Promise<{ ids: string[][]; people: Map<string, OwnerPerson> }> {
  const refs = [...new Map(owners.flat().map((r) => [ownerKey(r), r])).values()];
  const people = await directory.people(refs);
  const emails = [...new Set([...people.values()].flatMap(addressesOf))];
  const byEmail = await directory.signInIdsByEmail(emails);
  const ids = owners.map((list) => {
    const out = new Set<string>();
    for (const ref of list) {
      const person = people.get(ownerKey(ref));
      // A deactivated owner keeps no rights over what they owned.
      if (!person?.active) continue;
      for (const email of addressesOf(person)) for (const id of byEmail.get(email) ?? []) out.add(id);
    }
    return [...out].sort();
  });
  return { ids, people };
}
