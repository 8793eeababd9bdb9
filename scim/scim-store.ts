// SCIM users, groups and memberships in PostgreSQL, and the identity events each change writes to the
// outbox in the same transaction. Every statement is scoped by the directory; every value is a bind
// parameter. Writes to one identity are serialized by its row lock, and its outbox rows are inserted
// while that lock is held, so outbox order is commit order for every identity. (When the ledger lands,
// each write appends its ledger entry here too, in the same transaction, with the Actor's token.)
import { createHash, randomUUID } from 'node:crypto';
import type { Pool, PoolClient, QueryConfig, QueryResultRow } from 'pg';
import { changedAttributes, identityKey, kindOfUpdate, type NewIdentityEvent } from './identity-event.js';
import { invalidValue, mutability, noTarget, preconditionFailed, resourceNotFound, tooMany, uniqueness } from './scim-errors.js';
import { memberFilterToSql, SqlParams, type SqlTable } from './scim-filter-sql.js';
import type { MemberChange } from './scim-patch.js';
import type { MemberInput, ResourceRow, StoredResource } from './scim-resource.js';
import type { ResourceTypeName } from './scim-schema.js';
import { sameJson } from './scim-values.js';

/** Who is writing: the directory (tenant) and the token that authenticated the request. */
export interface Actor {
  directoryId: string;
  tokenId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const isUuid = (s: string) => UUID.test(s);

const ts = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const NOW_MS = "date_trunc('milliseconds', now())";
const ROW_COLUMNS = `r.id, r.resource, r.version, ${ts('r.created_at')} AS created, ${ts('r.last_modified')} AS last_modified`;
const USER_GROUPS = `(SELECT COALESCE(json_agg(json_build_object('value', g.id, 'display', g.display_name) ORDER BY g.seq), '[]'::json)
   FROM scim_group_member m JOIN scim_group g ON g.id = m.group_id WHERE m.member_id = r.id) AS groups`;

interface DbRow {
  id: string;
  resource: StoredResource;
  version: number;
  created: string;
  last_modified: string;
  groups?: { value: string; display: string }[];
}

const toRow = (r: DbRow): ResourceRow => ({
  id: r.id,
  resource: r.resource,
  version: r.version,
  created: r.created,
  lastModified: r.last_modified,
  ...(r.groups ? { groups: r.groups } : {}),
});

// Named (server-side prepared) statements for query shapes we see repeatedly. The set is bounded so
// that arbitrary filter shapes cannot grow every connection's statement cache without limit.
const preparedShapes = new Map<string, string>();
const MAX_PREPARED_SHAPES = 200;

function statement(text: string, values: unknown[]): QueryConfig {
  let name = preparedShapes.get(text);
  if (!name && preparedShapes.size < MAX_PREPARED_SHAPES) {
    name = `scim_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    preparedShapes.set(text, name);
  }
  return name ? { name, text, values } : { text, values };
}

type Queryable = Pick<Pool, 'query'> | PoolClient;

async function query<R extends QueryResultRow>(db: Queryable, text: string, values: unknown[]): Promise<R[]> {
  return (await db.query<R>(statement(text, values))).rows;
}

function pgCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

function translateWriteError(err: unknown): never {
  const e = err as { code?: string; constraint?: string };
  if (e.code === '23505' && e.constraint === 'scim_user_user_name_key') {
    throw uniqueness('userName: a User with this userName already exists in this directory (userName is case-insensitive)', 'userName');
  }
  throw err;
}

export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*')) return;
  const current = String(version);
  const ok = tags.some((t) => t.replace(/^W\//, '').replace(/^"|"$/g, '') === current);
  if (!ok) throw preconditionFailed(`If-Match: the resource is at version W/"${version}", not ${ifMatch}`);
}

type GroupChange = { resource: StoredResource; memberChanges: MemberChange[] };

/** Users whose memberships changed that one statement bumps and writes events for. */
const TOUCH_SLICE = 500;

export interface ListQuery {
  where: string;
  params: SqlParams;
  orderBy: string;
  limit: number;
  /** Zero-based. */
  offset: number;
  withRelations: boolean;
  /** Group members a page may render in all; past it the listing is refused, not cut short. */
  maxMembers?: number;
}

export interface ScimStoreDeps {
  pool: Pool;
}

export function createScimStore(deps: ScimStoreDeps) {
  const { pool } = deps;

  /** Runs fn in a transaction, again on deadlock or serialization failure (it re-reads everything). */
  async function transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = pgCode(err);
        if ((code === '40P01' || code === '40001') && attempt < 4) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  }

  /**
   * Writes events to the outbox in order, as one JSON array: the driver would escape each element of
   * a jsonb[] character by character, which for a group of 20,000 held the event loop for long.
   */
  async function insertEvents(db: Queryable, events: NewIdentityEvent[]): Promise<void> {
    if (!events.length) return;
    await db.query(
      `INSERT INTO scim_outbox (id, directory_id, identity_key, kind, payload)
       SELECT (e.p->>'id')::uuid, (e.p->>'directoryId')::uuid, e.p->>'identityKey', e.p->>'kind', e.p
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(p, n) ORDER BY e.n`,
      [JSON.stringify(events)],
    );
  }

  function event(actor: Actor, resourceType: ResourceTypeName, id: string, fields: Pick<NewIdentityEvent, 'kind' | 'version' | 'changedAttributes' | 'resource'> & Partial<NewIdentityEvent>): NewIdentityEvent {
    return {
      ...fields,
      id: randomUUID(),
      directoryId: actor.directoryId,
      resourceType,
      resourceId: id,
      identityKey: identityKey(actor.directoryId, id),
      actor: { tokenId: actor.tokenId },
      resource: { ...fields.resource, id },
    };
  }

  /**
   * Bumps the version of users whose group memberships changed and writes one event each, after the
   * group's own. In slices, so that a change to a group of tens of thousands never holds the event
   * loop for all of them at once (each slice's statements let other requests in).
   */
  async function touchUsers(client: PoolClient, actor: Actor, groupId: string, added: string[], removed: string[]): Promise<void> {
    const ids = [...new Set([...added, ...removed])].sort();
    const addedSet = new Set(added);
    for (let at = 0; at < ids.length; at += TOUCH_SLICE) {
      const rows = await query<{ id: string; resource: StoredResource; version: number }>(
        client,
        `UPDATE scim_user SET version = version + 1, last_modified = ${NOW_MS}
          WHERE directory_id = $1 AND id = ANY($2::uuid[]) RETURNING id, resource, version`,
        [actor.directoryId, ids.slice(at, at + TOUCH_SLICE)],
      );
      rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      await insertEvents(
        client,
        rows.map((u) =>
          event(actor, 'User', u.id, {
            kind: 'updated',
            version: u.version,
            changedAttributes: ['groups'],
            resource: u.resource,
            ...(addedSet.has(u.id) ? { groupsAdded: [groupId] } : { groupsRemoved: [groupId] }),
          }),
        ),
      );
    }
  }

  /** Checks members exist in this directory and learns their types; refuses unknown ids by index. */
  async function resolveMembers(client: PoolClient, actor: Actor, groupId: string, members: MemberInput[]): Promise<{ id: string; type: 'User' | 'Group'; display: string | null }[]> {
    const candidates = members.map((m) => m.value.toLowerCase()).filter(isUuid);
    const found = new Map<string, 'User' | 'Group'>();
    if (candidates.length) {
      const rows = await query<{ id: string; type: 'User' | 'Group' }>(
        client,
        `SELECT id, 'User' AS type FROM scim_user WHERE directory_id = $1 AND id = ANY($2::uuid[])
         UNION ALL SELECT id, 'Group' AS type FROM scim_group WHERE directory_id = $1 AND id = ANY($2::uuid[])`,
        [actor.directoryId, candidates],
      );
      for (const r of rows) found.set(r.id, r.type);
    }
    const out = new Map<string, { id: string; type: 'User' | 'Group'; display: string | null }>();
    members.forEach((m, i) => {
      const id = m.value.toLowerCase();
      const type = found.get(id);
      if (!type) throw invalidValue(`members[${i}].value`, `no User or Group "${m.value}" in this directory`);
      if (m.type && m.type !== type) throw invalidValue(`members[${i}].type`, `is ${m.type}, but ${m.value} is a ${type}`);
      if (id === groupId) throw invalidValue(`members[${i}].value`, 'a group cannot be a member of itself');
      if (!out.has(id)) out.set(id, { id, type, display: m.display ?? null });
    });
    return [...out.values()];
  }

  /** Applies member changes in order; returns the net membership change. */
  async function applyMemberChanges(client: PoolClient, actor: Actor, groupId: string, changes: MemberChange[]) {
    const added = new Map<string, 'User' | 'Group'>();
    const removed = new Map<string, 'User' | 'Group'>();
    let displayChanged = false;
    const inserted = (rows: { member_id: string; member_type: 'User' | 'Group' }[]) => {
      for (const r of rows) {
        if (removed.has(r.member_id)) removed.delete(r.member_id);
        else added.set(r.member_id, r.member_type);
      }
    };
    const deleted = (rows: { member_id: string; member_type: 'User' | 'Group' }[]) => {
      for (const r of rows) {
        if (added.has(r.member_id)) added.delete(r.member_id);
        else removed.set(r.member_id, r.member_type);
      }
    };
    const insert = async (members: MemberInput[], upsertDisplay: boolean) => {
      const resolved = await resolveMembers(client, actor, groupId, members);
      if (!resolved.length) return;
      const rows = await query<{ member_id: string; member_type: 'User' | 'Group'; inserted: boolean }>(
        client,
        `INSERT INTO scim_group_member (directory_id, group_id, member_id, member_type, display)
         SELECT $1, $2, * FROM unnest($3::uuid[], $4::text[], $5::text[])
         ON CONFLICT (group_id, member_id) DO ${upsertDisplay ? 'UPDATE SET display = EXCLUDED.display WHERE scim_group_member.display IS DISTINCT FROM EXCLUDED.display' : 'NOTHING'}
         RETURNING member_id, member_type, (xmax = 0) AS inserted`,
        [actor.directoryId, groupId, resolved.map((m) => m.id), resolved.map((m) => m.type), resolved.map((m) => m.display)],
      );
      inserted(rows.filter((r) => r.inserted));
      if (rows.some((r) => !r.inserted)) displayChanged = true;
    };
    for (const change of changes) {
      switch (change.kind) {
        case 'add':
          await insert(change.members, false);
          break;
        case 'replaceAll': {
          const resolved = await resolveMembers(client, actor, groupId, change.members);
          deleted(
            await query(client, 'DELETE FROM scim_group_member WHERE group_id = $1 AND member_id <> ALL($2::uuid[]) RETURNING member_id, member_type', [groupId, resolved.map((m) => m.id)]),
          );
          await insert(change.members, true);
          break;
        }
        case 'removeAll':
          deleted(await query(client, 'DELETE FROM scim_group_member WHERE group_id = $1 RETURNING member_id, member_type', [groupId]));
          break;
        case 'remove': {
          const ids = change.ids.map((i) => i.toLowerCase()).filter(isUuid);
          if (ids.length) deleted(await query(client, 'DELETE FROM scim_group_member WHERE group_id = $1 AND member_id = ANY($2::uuid[]) RETURNING member_id, member_type', [groupId, ids]));
          break;
        }
        case 'removeWhere': {
          const params = new SqlParams([groupId]);
          const cond = memberFilterToSql(change.filter, params);
          deleted(await query(client, `DELETE FROM scim_group_member m WHERE m.group_id = $1 AND ${cond} RETURNING m.member_id, m.member_type`, params.values));
          break;
        }
        case 'setDisplay': {
          const params = new SqlParams([groupId, change.display]);
          const cond = change.filter ? ` AND ${memberFilterToSql(change.filter, params)}` : '';
          const r = await client.query(`UPDATE scim_group_member m SET display = $2 WHERE m.group_id = $1 AND m.display IS DISTINCT FROM $2${cond}`, params.values);
          if (r.rowCount) displayChanged = true;
          break;
        }
        case 'replaceWhere': {
          const params = new SqlParams([groupId]);
          const cond = memberFilterToSql(change.filter, params);
          const matched = await query<{ member_id: string; member_type: string }>(client, `SELECT m.member_id, m.member_type FROM scim_group_member m WHERE m.group_id = $1 AND ${cond}`, params.values);
          if (!matched.length) {
            if (!change.addIfNone) throw noTarget(change.path, 'matches no member, and names no member id to add');
            await insert([change.addIfNone], false);
            break;
          }
          const { value, type, display } = change.member;
          if (value !== undefined && matched.some((m) => m.member_id !== value.toLowerCase())) throw mutability('members.value', 'is immutable: remove the member and add another instead');
          if (type !== undefined && matched.some((m) => m.member_type !== type)) throw mutability('members.type', 'is immutable');
          if (display !== undefined) {
            const r = await client.query('UPDATE scim_group_member SET display = $3 WHERE group_id = $1 AND member_id = ANY($2::uuid[]) AND display IS DISTINCT FROM $3', [groupId, matched.map((m) => m.member_id), display]);
            if (r.rowCount) displayChanged = true;
          }
          break;
        }
      }
    }
    return { added, removed, displayChanged };
  }

  /**
   * The members of groups. With `max`, more than that many in all is refused: a listing that cut a
   * group's members short would tell the client that the rest are not members.
   */
  async function loadMembers(db: Queryable, groupIds: string[], max?: number): Promise<Map<string, NonNullable<ResourceRow['members']>>> {
    const out = new Map<string, NonNullable<ResourceRow['members']>>();
    if (!groupIds.length) return out;
    const rows = await query<{ group_id: string; member_id: string; member_type: 'User' | 'Group'; display: string | null }>(
      db,
      `SELECT group_id, member_id, member_type, display FROM scim_group_member WHERE group_id = ANY($1::uuid[]) ORDER BY group_id, seq${max !== undefined ? ' LIMIT $2' : ''}`,
      max !== undefined ? [groupIds, max + 1] : [groupIds],
    );
    if (max !== undefined && rows.length > max) {
      throw tooMany(
        `the ${groupIds.length === 1 ? 'group' : `${groupIds.length} groups`} on this page have more than ${max} members in all: leave members out (excludedAttributes=members), ask for fewer groups (count), or read each group at /Groups/{id}`,
      );
    }
    for (const r of rows) {
      const list = out.get(r.group_id) ?? [];
      list.push({ value: r.member_id, display: r.display, type: r.member_type });
      out.set(r.group_id, list);
    }
    return out;
  }

  async function getGroupRow(db: Queryable, directoryId: string, id: string, options: { members: boolean; lock?: boolean }): Promise<ResourceRow | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = await query<DbRow>(db, `SELECT ${ROW_COLUMNS} FROM scim_group r WHERE r.directory_id = $1 AND r.id = $2${options.lock ? ' FOR UPDATE' : ''}`, [directoryId, id]);
    if (!rows[0]) return undefined;
    const row = toRow(rows[0]);
    if (options.members) row.members = (await loadMembers(db, [id])).get(id) ?? [];
    return row;
  }

  return {
    transaction,

    async getUser(directoryId: string, id: string, options: { groups: boolean }): Promise<ResourceRow | undefined> {
      if (!isUuid(id)) return undefined;
      const rows = await query<DbRow>(pool, `SELECT ${ROW_COLUMNS}${options.groups ? `, ${USER_GROUPS}` : ''} FROM scim_user r WHERE r.directory_id = $1 AND r.id = $2`, [directoryId, id]);
      return rows[0] && toRow(rows[0]);
    },

    getGroup: (directoryId: string, id: string, options: { members: boolean }) => getGroupRow(pool, directoryId, id, options),

    /**
     * A page of resources matching a condition, and the total. The total costs a second query only
     * when the page does not already tell it (a first page that is not full).
     */
    async list(table: SqlTable, q: ListQuery): Promise<{ rows: ResourceRow[]; total: number }> {
      const relations = q.withRelations && table.resourceType === 'User' ? `, ${USER_GROUPS}` : '';
      const limit = q.params.add(q.limit);
      const offset = q.params.add(q.offset);
      // Past the first rows, the page is chosen on ids alone and only its rows are read and rendered:
      // PostgreSQL would otherwise compute every column (memberships included) for each row OFFSET skips.
      const text =
        q.offset === 0
          ? `SELECT ${ROW_COLUMNS}${relations} FROM ${table.table} r WHERE r.directory_id = $1 AND ${q.where} ORDER BY ${q.orderBy} LIMIT ${limit} OFFSET ${offset}`
          : `SELECT ${ROW_COLUMNS}${relations} FROM ${table.table} r
              WHERE r.id IN (SELECT r.id FROM ${table.table} r WHERE r.directory_id = $1 AND ${q.where} ORDER BY ${q.orderBy} LIMIT ${limit} OFFSET ${offset})
              ORDER BY ${q.orderBy}`;
      const rows = q.limit > 0 ? await query<DbRow>(pool, text, q.params.values) : [];
      let total: number;
      if (q.limit > 0 && q.offset === 0 && rows.length < q.limit) {
        total = rows.length;
      } else {
        const countParams = q.params.values.slice(0, -2);
        total = (await query<{ n: number }>(pool, `SELECT count(*)::int AS n FROM ${table.table} r WHERE r.directory_id = $1 AND ${q.where}`, countParams))[0]!.n;
      }
      const out = rows.map(toRow);
      if (q.withRelations && table.resourceType === 'Group') {
        const members = await loadMembers(pool, out.map((r) => r.id), q.maxMembers);
        for (const r of out) r.members = members.get(r.id) ?? [];
      }
      return { rows: out, total };
    },

    async createUser(actor: Actor, resource: StoredResource): Promise<ResourceRow> {
      const id = randomUUID();
      const ev = event(actor, 'User', id, { kind: 'created', version: 1, changedAttributes: Object.keys(resource).sort(), resource });
      try {
        const rows = await query<DbRow>(
          pool,
          `WITH r AS (
             INSERT INTO scim_user (id, directory_id, resource, created_at, last_modified)
             VALUES ($1, $2, $3::jsonb, ${NOW_MS}, ${NOW_MS}) RETURNING *
           ), o AS (
             INSERT INTO scim_outbox (id, directory_id, identity_key, kind, payload)
             SELECT $4, r.directory_id, $5, 'created', $6::jsonb FROM r
           )
           SELECT ${ROW_COLUMNS} FROM r`,
          [id, actor.directoryId, JSON.stringify(resource), ev.id, ev.identityKey, JSON.stringify(ev)],
        );
        return { ...toRow(rows[0]!), groups: [] };
      } catch (err) {
        translateWriteError(err);
      }
    },

    /**
     * Replaces a user's stored attributes with what `compute` makes of the current ones. First
     * optimistically (read, then update if the version is unchanged: two statements, no lock held
     * while computing); if another change got in between, again under the row lock, so that any
     * number of concurrent writers all succeed in turn. No change, no write and no event.
     */
    async updateUser(actor: Actor, id: string, compute: (current: ResourceRow) => StoredResource | Promise<StoredResource>, options: { ifMatch?: string } = {}): Promise<ResourceRow> {
      const write = async (db: Queryable, current: ResourceRow): Promise<ResourceRow | undefined> => {
        checkIfMatch(options.ifMatch, current.version);
        const next = await compute(current);
        if (sameJson(next, current.resource)) return current;
        const ev = event(actor, 'User', id, {
          kind: kindOfUpdate(current.resource.active, next.active),
          version: current.version + 1,
          changedAttributes: changedAttributes(current.resource, next),
          resource: next,
        });
        try {
          const rows = await query<DbRow>(
            db,
            `WITH r AS (
               UPDATE scim_user SET resource = $3::jsonb, version = version + 1, last_modified = ${NOW_MS}
                WHERE directory_id = $1 AND id = $2 AND version = $4 RETURNING *
             ), o AS (
               INSERT INTO scim_outbox (id, directory_id, identity_key, kind, payload)
               SELECT $5, r.directory_id, $6, $7, $8::jsonb FROM r
             )
             SELECT ${ROW_COLUMNS}, ${USER_GROUPS} FROM r`,
            [actor.directoryId, id, JSON.stringify(next), current.version, ev.id, ev.identityKey, ev.kind, JSON.stringify(ev)],
          );
          return rows[0] && toRow(rows[0]);
        } catch (err) {
          translateWriteError(err);
        }
      };
      const current = await this.getUser(actor.directoryId, id, { groups: true });
      if (!current) throw resourceNotFound('User', id);
      const written = await write(pool, current);
      if (written) return written;
      return transaction(async (client) => {
        const rows = await query<DbRow>(client, `SELECT ${ROW_COLUMNS}, ${USER_GROUPS} FROM scim_user r WHERE r.directory_id = $1 AND r.id = $2 FOR UPDATE OF r`, [actor.directoryId, id]);
        if (!rows[0]) throw resourceNotFound('User', id);
        const locked = await write(client, toRow(rows[0]));
        if (!locked) throw new Error(`User ${id} changed while its row was locked`);
        return locked;
      });
    },

    async deleteUser(actor: Actor, id: string, options: { ifMatch?: string } = {}): Promise<void> {
      if (!isUuid(id)) throw resourceNotFound('User', id);
      await transaction(async (client) => {
        const rows = await query<{ resource: StoredResource; version: number }>(client, 'SELECT resource, version FROM scim_user WHERE directory_id = $1 AND id = $2 FOR UPDATE', [actor.directoryId, id]);
        const user = rows[0];
        if (!user) throw resourceNotFound('User', id);
        checkIfMatch(options.ifMatch, user.version);
        const memberships = await query<{ group_id: string }>(client, 'DELETE FROM scim_group_member WHERE member_id = $1 RETURNING group_id', [id]);
        const groupIds = memberships.map((m) => m.group_id).sort();
        const events: NewIdentityEvent[] = [];
        if (groupIds.length) {
          const groups = await query<{ id: string; resource: StoredResource; version: number }>(
            client,
            `UPDATE scim_group SET version = version + 1, last_modified = ${NOW_MS} WHERE directory_id = $1 AND id = ANY($2::uuid[]) RETURNING id, resource, version`,
            [actor.directoryId, groupIds],
          );
          for (const g of groups) events.push(event(actor, 'Group', g.id, { kind: 'updated', version: g.version, changedAttributes: ['members'], resource: g.resource, membersRemoved: [id] }));
        }
        events.push(event(actor, 'User', id, { kind: 'deleted', version: user.version, changedAttributes: [], resource: user.resource, ...(groupIds.length ? { groupsRemoved: groupIds } : {}) }));
        await client.query('DELETE FROM scim_user WHERE directory_id = $1 AND id = $2', [actor.directoryId, id]);
        await insertEvents(client, events);
      });
    },

    /**
     * Creates a group with its members and its event in one statement after the members are resolved
     * (a /Bulk of 200 group creations spends its time on round trips to PostgreSQL, so each counts).
     */
    async createGroup(actor: Actor, resource: StoredResource, members: MemberInput[]): Promise<ResourceRow> {
      const id = randomUUID();
      return transaction(async (client) => {
        const resolved = members.length ? await resolveMembers(client, actor, id, members) : [];
        const ev = event(actor, 'Group', id, {
          kind: 'created',
          version: 1,
          changedAttributes: [...Object.keys(resource), ...(resolved.length ? ['members'] : [])].sort(),
          resource,
          ...(resolved.length ? { membersAdded: resolved.map((m) => m.id) } : {}),
        });
        const rows = await query<DbRow>(
          client,
          `WITH r AS (
             INSERT INTO scim_group (id, directory_id, resource, created_at, last_modified) VALUES ($1, $2, $3::jsonb, ${NOW_MS}, ${NOW_MS}) RETURNING *
           ), m AS (
             INSERT INTO scim_group_member (directory_id, group_id, member_id, member_type, display)
             SELECT $2, $1, * FROM unnest($4::uuid[], $5::text[], $6::text[])
           ), o AS (
             INSERT INTO scim_outbox (id, directory_id, identity_key, kind, payload) SELECT $7, r.directory_id, $8, 'created', $9::jsonb FROM r
           )
           SELECT ${ROW_COLUMNS} FROM r`,
          [id, actor.directoryId, JSON.stringify(resource), resolved.map((m) => m.id), resolved.map((m) => m.type), resolved.map((m) => m.display), ev.id, ev.identityKey, JSON.stringify(ev)],
        );
        await touchUsers(client, actor, id, resolved.filter((m) => m.type === 'User').map((m) => m.id), []);
        const row = toRow(rows[0]!);
        row.members = resolved.map((m) => ({ value: m.id, display: m.display, type: m.type }));
        return row;
      });
    },

    /**
     * Changes a group under its row lock: `compute` returns the new stored attributes and the member
     * changes (PUT: all of them; PATCH: the operations). Members are applied in SQL, so a PATCH to a
     * group of 100,000 never loads them.
     */
    async updateGroup(
      actor: Actor,
      id: string,
      compute: (current: ResourceRow) => GroupChange | Promise<GroupChange>,
      options: { ifMatch?: string; returnMembers: boolean },
    ): Promise<ResourceRow> {
      return transaction(async (client) => {
        const current = await getGroupRow(client, actor.directoryId, id, { members: false, lock: true });
        if (!current) throw resourceNotFound('Group', id);
        checkIfMatch(options.ifMatch, current.version);
        const { resource, memberChanges } = await compute(current);
        const { added, removed, displayChanged } = await applyMemberChanges(client, actor, id, memberChanges);
        const attributeChanges = changedAttributes(current.resource, resource);
        const membersChanged = added.size > 0 || removed.size > 0 || displayChanged;
        let row = current;
        if (attributeChanges.length || membersChanged) {
          const rows = await query<DbRow>(
            client,
            `UPDATE scim_group r SET resource = $3::jsonb, version = version + 1, last_modified = ${NOW_MS} WHERE r.directory_id = $1 AND r.id = $2 RETURNING ${ROW_COLUMNS}`,
            [actor.directoryId, id, JSON.stringify(resource)],
          );
          row = toRow(rows[0]!);
          const addedIds = [...added.keys()];
          const removedIds = [...removed.keys()];
          const events = [
            event(actor, 'Group', id, {
              kind: 'updated',
              version: row.version,
              changedAttributes: [...attributeChanges, ...(membersChanged ? ['members'] : [])].sort(),
              resource,
              ...(addedIds.length ? { membersAdded: addedIds } : {}),
              ...(removedIds.length ? { membersRemoved: removedIds } : {}),
            }),
          ];
          await insertEvents(client, events);
          await touchUsers(
            client,
            actor,
            id,
            [...added].filter(([, t]) => t === 'User').map(([i]) => i),
            [...removed].filter(([, t]) => t === 'User').map(([i]) => i),
          );
        }
        if (options.returnMembers) row.members = (await loadMembers(client, [id])).get(id) ?? [];
        return row;
      });
    },

    async deleteGroup(actor: Actor, id: string, options: { ifMatch?: string } = {}): Promise<void> {
      await transaction(async (client) => {
        const current = await getGroupRow(client, actor.directoryId, id, { members: false, lock: true });
        if (!current) throw resourceNotFound('Group', id);
        checkIfMatch(options.ifMatch, current.version);
        const members = await query<{ member_id: string; member_type: string }>(client, 'DELETE FROM scim_group_member WHERE group_id = $1 RETURNING member_id, member_type', [id]);
        const parents = await query<{ group_id: string }>(client, 'DELETE FROM scim_group_member WHERE member_id = $1 RETURNING group_id', [id]);
        const events: NewIdentityEvent[] = [];
        if (parents.length) {
          const groups = await query<{ id: string; resource: StoredResource; version: number }>(
            client,
            `UPDATE scim_group SET version = version + 1, last_modified = ${NOW_MS} WHERE directory_id = $1 AND id = ANY($2::uuid[]) RETURNING id, resource, version`,
            [actor.directoryId, parents.map((p) => p.group_id).sort()],
          );
          for (const g of groups) events.push(event(actor, 'Group', g.id, { kind: 'updated', version: g.version, changedAttributes: ['members'], resource: g.resource, membersRemoved: [id] }));
        }
        const memberIds = members.map((m) => m.member_id);
        events.push(event(actor, 'Group', id, { kind: 'deleted', version: current.version, changedAttributes: [], resource: current.resource, ...(memberIds.length ? { membersRemoved: memberIds } : {}) }));
        await insertEvents(client, events);
        await touchUsers(client, actor, id, [], members.filter((m) => m.member_type === 'User').map((m) => m.member_id));
        await client.query('DELETE FROM scim_group WHERE directory_id = $1 AND id = $2', [actor.directoryId, id]);
      });
    },
  };
}

export type ScimStore = ReturnType<typeof createScimStore>;
