// Tables and views as object classes (connectors/spi/records.ts): reads page by keyset, after the
// cursor column then the key, so rows sharing a cursor value are neither skipped nor read twice;
// upserts and deletes are one statement per batch, in one transaction, with the rows given as JSON
// (jsonb_populate_recordset casts each value to its column's type, as PostgreSQL's input would).
//
// Values are what `to_jsonb` makes of a row, read with TimeZone UTC: timestamps as ISO 8601, dates
// as YYYY-MM-DD, bytea as \x hex, json as JSON. A bigint or numeric value is a JSON number only when
// a JavaScript number holds it exactly; otherwise it is its exact decimal string.
//
// A cursor column is only as good as the writers behind it: a transaction that commits after a later
// one, with an older updated_at, is behind a cursor already read (the README says so, and suggests a
// sequence set by a trigger). The cursor itself never moves backwards.
import type pg from 'pg';
import type { OperationContext, ReadObjectsOp, WriteObjectsOp } from '../spi/connector.js';
import { Rejected, UnknownUid } from '../spi/errors.js';
import type { FieldInfo, ObjectBatch, ObjectClassInfo, ObjectRecord } from '../spi/records.js';
import type { PostgresObjectClassConfig } from './postgres-config.js';

type Query = <T extends pg.QueryResultRow>(action: string, text: string, params?: unknown[]) => Promise<T[]>;

export interface PostgresObjectsDeps {
  label: string;
  classes: readonly PostgresObjectClassConfig[];
  /** Runs `work` in one transaction on one connection (the connector's, translating errors). */
  inTransaction<T>(action: string, ctx: OperationContext | undefined, work: (run: Query) => Promise<T>): Promise<T>;
}

interface Column {
  name: string;
  sqlType: string;
  field: FieldInfo;
  /** bigint and numeric: read as text, given as a number only when exact. */
  exactText: boolean;
  /** NOT NULL without a default: an insert must give it. */
  required: boolean;
}

interface ResolvedClass {
  info: ObjectClassInfo;
  /** schema.table, quoted. */
  relation: string;
  columns: Map<string, Column>;
}

const DEFAULT_PAGE = 500;
const MAX_PAGE = 10_000;
const INTROSPECTION_TTL_MS = 60_000;

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

function fieldType(typname: string, category: string): FieldInfo['type'] {
  if (category === 'A') return 'json';
  switch (typname) {
    case 'int2':
    case 'int4':
    case 'int8':
      return 'integer';
    case 'float4':
    case 'float8':
    case 'numeric':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'timestamp':
    case 'timestamptz':
      return 'datetime';
    case 'date':
      return 'date';
    case 'json':
    case 'jsonb':
      return 'json';
    case 'bytea':
      return 'binary';
    default:
      return 'string';
  }
}

function exactNumber(text: string): number | string {
  const n = Number(text);
  return Number.isFinite(n) && String(n) === text ? n : text;
}

interface Position {
  v: 1;
  /** The class it was read from, so a cursor is never used on another. */
  c: string;
  /** The last row delivered: cursor value then key values, as text; null starts from the beginning. */
  after: string[] | null;
}

function encodePosition(p: Position): string {
  return Buffer.from(JSON.stringify(p)).toString('base64url');
}

function decodePosition(cursor: string | undefined, objectClass: string, width: number, label: string): Position {
  if (!cursor) return { v: 1, c: objectClass, after: null };
  let p: Position | undefined;
  try {
    p = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Position;
  } catch {
    p = undefined;
  }
  if (!p || p.v !== 1 || (p.after !== null && (!Array.isArray(p.after) || p.after.length !== width || !p.after.every((x) => typeof x === 'string')))) {
    throw new Rejected(`${label}: the cursor is not one this connector gave out for ${objectClass}`);
  }
  if (p.c !== objectClass) throw new Rejected(`${label}: the cursor was given out for the object class ${p.c}, not ${objectClass}`);
  return p;
}

export function createPostgresObjects(deps: PostgresObjectsDeps): ReadObjectsOp & WriteObjectsOp {
  const { label } = deps;
  const configured = new Map(deps.classes.map((c) => [c.name, c]));
  let cache: { at: number; classes: Map<string, ResolvedClass> } | undefined;

  async function introspect(run: Query, c: PostgresObjectClassConfig): Promise<ResolvedClass> {
    const where = `${c.schema}.${c.table}`;
    const [rel] = await run<{ oid: string; relkind: string }>(
      'reading a table definition',
      "SELECT c.oid::text AS oid, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
      [c.schema, c.table],
    );
    if (!rel) throw new Rejected(`${label}: object class ${c.name}: there is no table or view ${where} (or the connector's login may not see it)`);
    const rows = await run<{ name: string; sql_type: string; typname: string; category: string; nullable: boolean; computed: boolean; has_default: boolean }>(
      'reading a table definition',
      `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, t.typname::text AS typname, t.typcategory::text AS category,
              NOT a.attnotnull AS nullable, (a.attidentity = 'a' OR a.attgenerated <> '') AS computed,
              (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [rel.oid],
    );
    const columns = new Map<string, Column>(
      rows.map((r) => [
        r.name,
        {
          name: r.name,
          sqlType: r.sql_type,
          exactText: r.typname === 'int8' || r.typname === 'numeric',
          required: !r.nullable && !r.has_default,
          field: { name: r.name, type: fieldType(r.typname, r.category), nullable: r.nullable, writable: c.writable && !r.computed },
        },
      ]),
    );
    const indexes = await run<{ primary: boolean; columns: string[] }>(
      'reading a table definition',
      `SELECT i.indisprimary AS primary, array(SELECT a.attname::text FROM unnest(i.indkey) AS k(n) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) AS columns
         FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
      [rel.oid],
    );
    const key = c.key ?? indexes.find((i) => i.primary)?.columns;
    if (!key?.length) throw new Rejected(`${label}: object class ${c.name}: ${where} has no primary key; name its key columns in "key"`);
    for (const k of key) if (!columns.has(k)) throw new Rejected(`${label}: object class ${c.name}: the key column ${k} is not in ${where}`);
    const writable = c.writable && rel.relkind !== 'v' && rel.relkind !== 'm';
    if (c.writable && !writable) throw new Rejected(`${label}: object class ${c.name}: ${where} is a view; only tables are writable`);
    if (writable && !indexes.some((i) => i.columns.length === key.length && key.every((k) => i.columns.includes(k)))) {
      throw new Rejected(`${label}: object class ${c.name}: writing needs a unique index on exactly (${key.join(', ')}) in ${where}`);
    }
    if (c.cursor) {
      const cursor = columns.get(c.cursor);
      if (!cursor) throw new Rejected(`${label}: object class ${c.name}: the cursor column ${c.cursor} is not in ${where}`);
      if (cursor.field.nullable) throw new Rejected(`${label}: object class ${c.name}: the cursor column ${c.cursor} must be NOT NULL (rows without a value would never be read)`);
    }
    return {
      info: { name: c.name, source: where, kind: c.kind, key, ...(c.cursor ? { cursor: c.cursor } : {}), writable, fields: [...columns.values()].map((col) => col.field) },
      relation: `${ident(c.schema)}.${ident(c.table)}`,
      columns,
    };
  }

  async function resolveAll(): Promise<Map<string, ResolvedClass>> {
    if (cache && Date.now() - cache.at < INTROSPECTION_TTL_MS) return cache.classes;
    const classes = await deps.inTransaction('reading table definitions', undefined, async (run) => {
      const out = new Map<string, ResolvedClass>();
      for (const c of deps.classes) out.set(c.name, await introspect(run, c));
      return out;
    });
    cache = { at: Date.now(), classes };
    return classes;
  }

  async function resolve(objectClass: string): Promise<ResolvedClass> {
    if (!configured.has(objectClass)) {
      throw new UnknownUid(`${label}: there is no object class ${objectClass}${configured.size ? ` (it has ${[...configured.keys()].join(', ')})` : ' (none is configured)'}`);
    }
    return (await resolveAll()).get(objectClass)!;
  }

  function toRecord(row: { r: Record<string, unknown>; t: Record<string, string> | null }): ObjectRecord {
    const record = row.r as ObjectRecord;
    for (const [name, text] of Object.entries(row.t ?? {})) record[name] = text === null ? null : exactNumber(text);
    return record;
  }

  /** Checks every record's fields against the class and groups the records by the fields they carry (each group one statement). */
  function groupForWrite(cls: ResolvedClass, records: ObjectRecord[], needAllKey: boolean, what: string): Map<string, ObjectRecord[]> {
    if (!cls.info.writable) throw new Rejected(`${label}: object class ${cls.info.name} is not writable (set "writable": true in its configuration)`);
    const groups = new Map<string, ObjectRecord[]>();
    const byKey = new Map<string, ObjectRecord>();
    records.forEach((record, i) => {
      if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new Rejected(`${label}: ${what}[${i}] must be an object of fields`);
      for (const name of Object.keys(record)) {
        const column = cls.columns.get(name);
        if (!column) throw new Rejected(`${label}: ${what}[${i}].${name}: object class ${cls.info.name} has no such field`);
        if (!column.field.writable) throw new Rejected(`${label}: ${what}[${i}].${name}: the field is computed by the database and cannot be written`);
      }
      for (const k of cls.info.key) {
        if (record[k] === undefined || record[k] === null) throw new Rejected(`${label}: ${what}[${i}].${k}: the key field is missing`);
      }
      if (needAllKey && Object.keys(record).length !== cls.info.key.length) {
        const extra = Object.keys(record).find((n) => !cls.info.key.includes(n));
        throw new Rejected(`${label}: ${what}[${i}].${extra}: a delete names the key fields only`);
      }
      // The same key twice in one batch: the later record wins, as it would have one batch later.
      const keyText = JSON.stringify(cls.info.key.map((k) => record[k]));
      byKey.set(keyText, record);
    });
    for (const record of byKey.values()) {
      const shape = Object.keys(record).sort().join('\u0000');
      const group = groups.get(shape);
      if (group) group.push(record);
      else groups.set(shape, [record]);
    }
    return groups;
  }

  return {
    async objectClasses() {
      return [...(await resolveAll()).values()].map((c) => c.info);
    },

    async *readObjects(objectClass, request = {}): AsyncIterable<ObjectBatch> {
      const cls = await resolve(objectClass);
      const pageSize = Math.min(Math.max(1, request.pageSize ?? DEFAULT_PAGE), MAX_PAGE);
      const order = [...(cls.info.cursor ? [cls.info.cursor] : []), ...cls.info.key];
      let position = decodePosition(request.cursor, objectClass, order.length, label);
      const orderSql = order.map(ident).join(', ');
      const exact = [...cls.columns.values()].filter((c) => c.exactText);
      const exactSql = exact.length ? `jsonb_build_object(${exact.map((c) => `'${c.name.replace(/'/g, "''")}', t.${ident(c.name)}::text`).join(', ')})` : 'NULL::jsonb';
      const bound = order.map((name, i) => `$${i + 1}::text::${cls.columns.get(name)!.sqlType}`).join(', ');
      for (;;) {
        const after = position.after;
        const rows = await deps.inTransaction(`reading ${objectClass}`, undefined, async (run) => {
          await run('reading records', "SET LOCAL TimeZone = 'UTC'");
          return run<{ r: Record<string, unknown>; t: Record<string, string> | null; p: string[] }>(
            `reading ${objectClass}`,
            `SELECT to_jsonb(t) AS r, ${exactSql} AS t, ARRAY[${order.map((name) => `t.${ident(name)}::text`).join(', ')}] AS p
               FROM ${cls.relation} AS t
              ${after ? `WHERE (${order.map((n) => `t.${ident(n)}`).join(', ')}) > (${bound})` : ''}
              ORDER BY ${orderSql} LIMIT ${pageSize}`,
            after ?? [],
          );
        });
        const complete = rows.length < pageSize;
        const last = rows.at(-1);
        if (last) position = { v: 1, c: objectClass, after: last.p };
        // A snapshot that reached its end starts the next pass from the beginning.
        const next: Position = complete && !cls.info.cursor ? { v: 1, c: objectClass, after: null } : position;
        yield { records: rows.map(toRecord), cursor: encodePosition(next), complete };
        if (complete) return;
      }
    },

    async getObjects(objectClass, keys) {
      const cls = await resolve(objectClass);
      if (!keys.length) return [];
      keys.forEach((k, i) => {
        for (const name of cls.info.key) if (k[name] === undefined || k[name] === null) throw new Rejected(`${label}: keys[${i}].${name}: the key field is missing`);
        const extra = Object.keys(k).find((n) => !cls.info.key.includes(n));
        if (extra) throw new Rejected(`${label}: keys[${i}].${extra}: a key names the key fields only`);
      });
      const exact = [...cls.columns.values()].filter((c) => c.exactText);
      const exactSql = exact.length ? `jsonb_build_object(${exact.map((c) => `'${c.name.replace(/'/g, "''")}', t.${ident(c.name)}::text`).join(', ')})` : 'NULL::jsonb';
      const keySql = cls.info.key.map((k) => `t.${ident(k)}`).join(', ');
      const rows = await deps.inTransaction(`reading ${objectClass}`, undefined, async (run) => {
        await run('reading records', "SET LOCAL TimeZone = 'UTC'");
        return run<{ r: Record<string, unknown>; t: Record<string, string> | null }>(
          `reading ${objectClass}`,
          `SELECT to_jsonb(t) AS r, ${exactSql} AS t FROM ${cls.relation} AS t
            WHERE (${keySql}) IN (SELECT ${cls.info.key.map((k) => `i.${ident(k)}`).join(', ')} FROM jsonb_populate_recordset(NULL::${cls.relation}, $1::jsonb) AS i)`,
          [JSON.stringify(keys)],
        );
      });
      return rows.map(toRecord);
    },

    async upsertObjects(objectClass, records, ctx, options = {}) {
      const cls = await resolve(objectClass);
      const groups = groupForWrite(cls, records, false, 'records');
      const outcome = { created: 0, updated: 0, unchanged: 0 };
      if (!records.length) return outcome;
      // A group whose records carry every NOT NULL column without a default is one INSERT ... ON
      // CONFLICT. Otherwise existing rows are updated first, then the rest inserted: an INSERT ... ON
      // CONFLICT alone would check NOT NULL columns a partial record leaves out before finding the row
      // it updates. A row another writer inserts in between is updated by the ON CONFLICT clause, or
      // refused as the partial record it is (and the batch retried), never skipped.
      const keys = cls.info.key;
      const matches = keys.map((k) => `t.${ident(k)} = i.${ident(k)}`).join(' AND ');
      await deps.inTransaction(`writing ${objectClass}`, ctx, async (run) => {
        for (const group of groups.values()) {
          const names = Object.keys(group[0]!);
          const cols = names.map(ident).join(', ');
          const rest = names.filter((n) => !keys.includes(n));
          const input = `jsonb_populate_recordset(NULL::${cls.relation}, $1::jsonb) AS i`;
          const differs = (from: string) => `ROW(${rest.map((n) => `t.${ident(n)}::text`).join(', ')}) IS DISTINCT FROM ROW(${rest.map((n) => `${from}.${ident(n)}::text`).join(', ')})`;
          const json = JSON.stringify(group);
          const complete = [...cls.columns.values()].every((c) => !c.required || names.includes(c.name));
          const updated = rest.length && !options.createOnly && !complete
            ? await run<{ n: number }>(
                `writing ${objectClass}`,
                `WITH changed AS (UPDATE ${cls.relation} AS t SET ${rest.map((n) => `${ident(n)} = i.${ident(n)}`).join(', ')} FROM ${input}
                   WHERE ${matches} AND ${differs('i')} RETURNING 1)
                 SELECT count(*)::int AS n FROM changed`,
                [json],
              )
            : [{ n: 0 }];
          const conflict = rest.length && !options.createOnly ? `DO UPDATE SET ${rest.map((n) => `${ident(n)} = EXCLUDED.${ident(n)}`).join(', ')} WHERE ${differs('EXCLUDED')}` : 'DO NOTHING';
          const inserted = await run<{ created: boolean }>(
            `writing ${objectClass}`,
            `INSERT INTO ${cls.relation} AS t (${cols})
             SELECT ${names.map((n) => `i.${ident(n)}`).join(', ')} FROM ${input}${complete ? '' : ` WHERE NOT EXISTS (SELECT 1 FROM ${cls.relation} AS t WHERE ${matches})`}
             ON CONFLICT (${keys.map(ident).join(', ')}) ${conflict}
             RETURNING (xmax = 0) AS created`,
            [json],
          );
          const created = inserted.filter((w) => w.created).length;
          const changed = updated[0]!.n + inserted.length - created;
          outcome.created += created;
          outcome.updated += changed;
          outcome.unchanged += group.length - created - changed;
        }
      });
      return outcome;
    },

    async deleteObjects(objectClass, keys, ctx) {
      const cls = await resolve(objectClass);
      const groups = groupForWrite(cls, keys, true, 'keys');
      if (!keys.length) return { deleted: 0 };
      const keySql = cls.info.key.map(ident).join(', ');
      return deps.inTransaction(`deleting from ${objectClass}`, ctx, async (run) => {
        let deleted = 0;
        for (const group of groups.values()) {
          const gone = await run<{ n: number }>(
            `deleting from ${objectClass}`,
            `WITH gone AS (DELETE FROM ${cls.relation} WHERE (${keySql}) IN (SELECT ${keySql} FROM jsonb_populate_recordset(NULL::${cls.relation}, $1::jsonb)) RETURNING 1)
             SELECT count(*)::int AS n FROM gone`,
            [JSON.stringify(group)],
          );
          deleted += gone[0]?.n ?? 0;
        }
        return { deleted };
      });
    },
  };
}
