// Who is who, for decisions and the approval gate: a change's subject with its current attributes
// from the SCIM directories, the identifier sets the gate tells people apart by, and a signed-in
// person's approver claims. A person is linked to their directory identities by the verified e-mail
// their OpenID Provider asserts (matched against userName and emails, case-insensitively), and only
// in the directories that name that provider's issuer (`sign_in_issuers`): an identity provider
// holding one directory's SCIM token cannot make someone an approver, an owner or a requester in
// another (issue 12, item 1). Two active identities claiming one person is ambiguous: that person is
// linked to none of them until an admin resolves it.
//
// Non-human identities: until the NHI inventory lands, a non-human identity is a SCIM user whose
// userType names one (service, service account, bot, agent, machine, workload, nhi), and its owner
// is its enterprise manager. This file is the one place that changes when the inventory arrives.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AccessChange, ChangeSubject } from '../../policies/access-change.js';
import type { ApproverClaims, GateParticipants } from '../../policies/approval-eligibility.js';
import type { Principal } from '../../shared/auth/permissions.js';
import type { SubjectResolver } from '../../workflows/change/subject-resolver.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const NHI_USER_TYPES = new Set(['service', 'service account', 'serviceaccount', 'service-account', 'bot', 'agent', 'machine', 'workload', 'nhi', 'non-human']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ScimUserRow {
  id: string;
  directory_id: string;
  resource: Record<string, unknown>;
  groups: string[] | null;
}

/** A directory identity as the gate and the request API see it. */
export interface DirectoryIdentity {
  id: string;
  directoryId: string;
  userName: string;
  displayName: string;
  emails: string[];
  active: boolean;
  type: 'human' | 'nhi';
  managerValue?: string;
  attributes: ChangeSubject['attributes'];
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

function toIdentity(row: ScimUserRow): DirectoryIdentity {
  const r = row.resource;
  const ent = (r[ENTERPRISE] ?? {}) as Record<string, unknown>;
  const emails = Array.isArray(r.emails) ? (r.emails as { value?: unknown }[]).map((e) => str(e.value)).filter((e): e is string => !!e) : [];
  const addresses = Array.isArray(r.addresses) ? (r.addresses as { locality?: unknown; primary?: unknown }[]) : [];
  const address = addresses.find((a) => a.primary === true) ?? addresses[0];
  const userType = str(r.userType);
  const managerValue = str((ent.manager as { value?: unknown } | undefined)?.value);
  const name = r.name as { formatted?: unknown } | undefined;
  const attributes: ChangeSubject['attributes'] = {
    ...(str(ent.department) ? { department: str(ent.department)! } : {}),
    ...(userType ? { employmentType: userType } : {}),
    ...(str(r.title) ? { title: str(r.title)! } : {}),
    ...(str(address?.locality) ? { location: str(address?.locality)! } : {}),
    ...(managerValue ? { managerId: managerValue } : {}),
    groups: [...(row.groups ?? [])].sort(),
  };
  return {
    id: row.id,
    directoryId: row.directory_id,
    userName: String(r.userName ?? ''),
    displayName: str(r.displayName) ?? str(name?.formatted) ?? String(r.userName ?? row.id),
    emails,
    active: r.active !== false,
    type: userType && NHI_USER_TYPES.has(userType.toLowerCase()) ? 'nhi' : 'human',
    ...(managerValue ? { managerValue } : {}),
    attributes,
  };
}

const USER_COLUMNS = `u.id, u.directory_id, u.resource,
  (SELECT array_agg(g.display_name ORDER BY g.display_name) FROM scim_group_member m JOIN scim_group g ON g.id = m.group_id WHERE m.member_id = u.id) AS groups`;

/** Whom a signed-in person is linked to, and why not when they are not. */
export interface IdentityLink {
  identities: DirectoryIdentity[];
  /** Two or more active identities claim the person: linked to none of them. */
  ambiguous: DirectoryIdentity[];
  /** The directories that name the person's issuer. */
  directoryIds: string[];
  issuer?: string;
}

/** SQL: user `u` signs in through an issuer that directory `d` names (a trailing slash aside). */
const ISSUER_NAMED_BY_DIRECTORY = `rtrim(u.issuer, '/') IN (SELECT rtrim(i, '/') FROM unnest(d.sign_in_issuers) i)`;

const keysOf = (i: DirectoryIdentity) => [i.id, i.userName, ...i.emails].filter(Boolean);

export function createIdentityResolver(deps: { orm: MikroORM }) {
  const sql = () => deps.orm.em.fork().getConnection();

  async function byId(id: string, directoryId?: string): Promise<DirectoryIdentity | undefined> {
    if (!UUID.test(id)) return undefined;
    const [row] = await sql().execute<ScimUserRow[]>(
      `SELECT ${USER_COLUMNS} FROM scim_user u WHERE u.id = ?::uuid ${directoryId && UUID.test(directoryId) ? 'AND u.directory_id = ?::uuid' : ''}`,
      directoryId && UUID.test(directoryId) ? [id, directoryId] : [id],
    );
    return row ? toIdentity(row) : undefined;
  }

  /** Directory identities whose userName or e-mail is this address, in every directory or in these. */
  async function byEmail(email: string, directoryIds?: readonly string[]): Promise<DirectoryIdentity[]> {
    if (directoryIds && !directoryIds.length) return [];
    const rows = await sql().execute<ScimUserRow[]>(
      `SELECT ${USER_COLUMNS} FROM scim_user u
        WHERE (lower(u.user_name) = lower(?)
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(u.resource -> 'emails') = 'array' THEN u.resource -> 'emails' ELSE '[]'::jsonb END) e
                       WHERE lower(e ->> 'value') = lower(?)))
          ${directoryIds ? 'AND u.directory_id::text IN (SELECT jsonb_array_elements_text(?::jsonb))' : ''}
        ORDER BY u.directory_id, u.id LIMIT 50`,
      directoryIds ? [email, email, JSON.stringify(directoryIds)] : [email, email],
    );
    return rows.map(toIdentity);
  }

  /** The directories that name the issuer this Gatehouse user signs in through. */
  async function linkedDirectoryIds(userId: string): Promise<{ issuer?: string; directoryIds: string[] }> {
    if (!UUID.test(userId)) return { directoryIds: [] };
    const [row] = await sql().execute<{ issuer: string; directory_ids: string[] }[]>(
      `SELECT u.issuer, array(SELECT d.id::text FROM scim_directory d
                                WHERE ${ISSUER_NAMED_BY_DIRECTORY} ORDER BY d.id) AS directory_ids
         FROM gatehouse_user u WHERE u.id = ?::uuid`,
      [userId],
    );
    return row ? { issuer: row.issuer, directoryIds: row.directory_ids } : { directoryIds: [] };
  }

  /**
   * The directory identities a signed-in person is linked to: active people with their verified
   * e-mail, in the directories that name their issuer. More than one is ambiguous, and links none.
   */
  async function linkOf(principal: Principal): Promise<IdentityLink> {
    if (principal.kind !== 'human' || !principal.email) return { identities: [], ambiguous: [], directoryIds: [] };
    const { issuer, directoryIds } = await linkedDirectoryIds(principal.id);
    const found = (await byEmail(principal.email, directoryIds)).filter((i) => i.type === 'human' && i.active);
    const base = { directoryIds, ...(issuer ? { issuer } : {}) };
    return found.length > 1 ? { ...base, identities: [], ambiguous: found } : { ...base, identities: found, ambiguous: [] };
  }

  /** A manager or owner reference: a SCIM id, or a userName, e-mail or externalId in the same directory. */
  async function byReference(value: string, directoryId: string): Promise<DirectoryIdentity | undefined> {
    const direct = await byId(value, directoryId);
    if (direct) return direct;
    const [row] = await sql().execute<ScimUserRow[]>(
      `SELECT ${USER_COLUMNS} FROM scim_user u WHERE u.directory_id = ?::uuid AND (lower(u.user_name) = lower(?) OR u.external_id = ?) LIMIT 1`,
      [directoryId, value, value],
    );
    return row ? toIdentity(row) : undefined;
  }

  /** Gatehouse user ids of people whose e-mail is one of these; with a directory, only those whose issuer it names. */
  async function userIdsByEmails(emails: string[], linkedTo?: string): Promise<string[]> {
    if (!emails.length) return [];
    // A list goes in as one JSON parameter: the driver would spread an array into several.
    const rows = await sql().execute<{ id: string }[]>(
      `SELECT u.id FROM gatehouse_user u WHERE lower(u.email) IN (SELECT lower(e) FROM jsonb_array_elements_text(?::jsonb) e)
        ${linkedTo ? `AND EXISTS (SELECT 1 FROM scim_directory d WHERE d.id = ?::uuid AND ${ISSUER_NAMED_BY_DIRECTORY})` : ''}`,
      linkedTo ? [JSON.stringify(emails), linkedTo] : [JSON.stringify(emails)],
    );
    return rows.map((r) => r.id);
  }

  /** Every key of an identity: its directory keys and the Gatehouse users linked to it (their issuer vouches for its directory). */
  async function expand(identity: DirectoryIdentity | undefined): Promise<string[]> {
    if (!identity) return [];
    return [...keysOf(identity), ...(await userIdsByEmails([identity.userName, ...identity.emails].filter((k) => k.includes('@')), identity.directoryId))];
  }

  /** Keys of a person named by an e-mail, a Gatehouse user id, or a directory identity id. */
  async function keysOfPerson(ref: string, directoryId?: string): Promise<string[]> {
    const keys = new Set<string>([ref]);
    if (ref.includes('@')) {
      for (const i of await byEmail(ref)) for (const k of await expand(i)) keys.add(k);
      for (const id of await userIdsByEmails([ref])) keys.add(id);
    } else if (UUID.test(ref)) {
      const [user] = await sql().execute<{ email: string | null }[]>('SELECT email FROM gatehouse_user WHERE id = ?::uuid', [ref]);
      if (user?.email) for (const k of await keysOfPerson(user.email)) keys.add(k);
      const identity = await byId(ref, directoryId);
      for (const k of await expand(identity)) keys.add(k);
    } else if (directoryId) {
      for (const k of await expand(await byReference(ref, directoryId))) keys.add(k);
    }
    return [...keys];
  }

  /**
   * Keys of a person the policy names, for eligibility: an e-mail is that address and the people who
   * sign in with it (verified), never the directory identities that carry it, which any directory
   * could push; an id or a reference is resolved in the subject's directory.
   */
  async function policyPersonKeys(ref: string, directoryId?: string): Promise<string[]> {
    if (ref.includes('@')) return [ref, ...(await userIdsByEmails([ref]))];
    return keysOfPerson(ref, directoryId);
  }

  const resolver: SubjectResolver & {
    identity: typeof byId;
    linkOf: typeof linkOf;
    claimsFor(principal: Principal): Promise<ApproverClaims>;
    ownerKeysOf(identity: DirectoryIdentity): Promise<string[]>;
    participantsOfCredential(change: AccessChange, credentialId: string): Promise<GateParticipants>;
  } = {
    identity: byId,
    linkOf,

    async resolveSubject(subject) {
      const identity = await byId(subject.id, subject.directoryId);
      if (!identity) return undefined;
      const owner = identity.type === 'nhi' && identity.managerValue ? await byReference(identity.managerValue, identity.directoryId) : undefined;
      const manager = identity.type === 'human' && identity.managerValue ? await byReference(identity.managerValue, identity.directoryId) : undefined;
      return {
        type: identity.type,
        id: identity.id,
        directoryId: identity.directoryId,
        displayName: identity.displayName,
        attributes: { ...identity.attributes, ...(manager ? { managerId: manager.id } : {}) },
        ...(owner ? { ownerId: owner.id } : identity.type === 'nhi' && identity.managerValue ? { ownerId: identity.managerValue } : {}),
      };
    },

    async ownerKeysOf(identity) {
      if (identity.type !== 'nhi' || !identity.managerValue) return [];
      return expand(await byReference(identity.managerValue, identity.directoryId));
    },

    async participants(change: AccessChange, entitlementOwner: string | undefined): Promise<GateParticipants> {
      const subject = await byId(change.subject.id, change.subject.directoryId);
      const subjectKeys = new Set<string>([change.subject.id, ...(await expand(subject))]);
      // For a non-human identity, its owner counts as the subject: nobody approves access for what they own.
      if (subject) for (const k of await resolver.ownerKeysOf(subject)) subjectKeys.add(k);
      if (change.subject.type === 'nhi' && change.subject.ownerId) for (const k of await keysOfPerson(change.subject.ownerId, change.subject.directoryId)) subjectKeys.add(k);

      const requesterKeys = change.requester.kind === 'human' ? await keysOfPerson(change.requester.id) : [change.requester.id];
      const managerRef = subject?.type === 'human' ? subject.managerValue : undefined;
      const manager = managerRef && subject ? await byReference(managerRef, subject.directoryId) : undefined;
      const managerKeys = manager ? await expand(manager) : managerRef ? [managerRef] : [];
      const entitlementOwnerKeys = entitlementOwner ? await policyPersonKeys(entitlementOwner, change.subject.directoryId) : [];
      return { subjectKeys: [...subjectKeys], requesterKeys, managerKeys, entitlementOwnerKeys };
    },

    /**
     * A managed credential's rotation: the credential and every owner count as the subject (nobody
     * approves a change to a non-human identity they own, promise 6); the owners' managers are the
     * policy's `{ manager: true }`; no entitlement is involved, so `{ entitlementOwner: true }` names nobody.
     */
    async participantsOfCredential(change: AccessChange, credentialId: string): Promise<GateParticipants> {
      const [row] = await sql().execute<{ owners: { directoryId: string; userId: string }[] | null }[]>('SELECT owners FROM credential WHERE id = ?', [credentialId]);
      const subjectKeys = new Set<string>([credentialId, change.subject.id]);
      const managerKeys = new Set<string>();
      for (const ref of row?.owners ?? []) {
        const owner = await byId(ref.userId, ref.directoryId);
        subjectKeys.add(ref.userId);
        for (const k of await expand(owner)) subjectKeys.add(k);
        const manager = owner?.managerValue ? await byReference(owner.managerValue, owner.directoryId) : undefined;
        for (const k of await expand(manager)) managerKeys.add(k);
      }
      const requesterKeys = change.requester.kind === 'human' ? await keysOfPerson(change.requester.id) : [change.requester.id];
      // An owner who is also someone's manager stays the subject: they cannot approve their own credential's rotation.
      return { subjectKeys: [...subjectKeys], requesterKeys, managerKeys: [...managerKeys].filter((k) => !subjectKeys.has(k)), entitlementOwnerKeys: [] };
    },

    async claimsFor(principal: Principal): Promise<ApproverClaims> {
      // Only the identities the person is linked to; groups come from nowhere else.
      const { identities } = await linkOf(principal);
      const identityKeys = new Set<string>([principal.id, ...(principal.email ? [principal.email] : [])]);
      for (const i of identities) for (const k of keysOf(i)) identityKeys.add(k);
      const groups = [...new Set(identities.flatMap((i) => i.attributes.groups ?? []))].sort();
      return {
        userId: principal.id,
        ...(principal.displayName ? { displayName: principal.displayName } : {}),
        identityKeys: [...identityKeys],
        roles: principal.roles,
        groups,
      };
    },
  };
  return resolver;
}

export type IdentityResolver = ReturnType<typeof createIdentityResolver>;
