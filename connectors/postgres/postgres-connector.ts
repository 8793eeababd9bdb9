// The PostgreSQL connector: login roles are accounts, group roles (NOLOGIN) and direct table
// privileges in the managed schemas are entitlements. Every change runs in one transaction (DDL is
// transactional in PostgreSQL), so a refused change leaves nothing behind. Passwords reach the
// server only as SCRAM verifiers. A disabled account keeps LOGIN but has CONNECTION LIMIT 0, so
// it stays an account (NOLOGIN would make it look like a group role).
import net from 'node:net';
import pg from 'pg';
import type {
  AccountQuery,
  AppliedCredential,
  Capability,
  Connector,
  CreateAccountOp,
  CredentialTarget,
  DeleteAccountOp,
  EnableDisableOp,
  EntitlementQuery,
  GrantRevokeOp,
  OperationContext,
  ReadObjectsOp,
  RotateCredentialOp,
  SchemaOp,
  SearchAccountsOp,
  SearchEntitlementsOp,
  SyncBatch,
  SyncOp,
  TestOp,
  UpdateAccountOp,
  WriteObjectsOp,
} from '../spi/connector.js';
import { CAPABILITIES } from '../spi/connector.js';

import type { ConnectorContext } from '../spi/connector-type.js';
import { environmentEgress, guardedLookup } from '../spi/egress.js';
import { PermissionDenied, Rejected, UnknownUid } from '../spi/errors.js';
import { accountValues, entitlementValues, isLeaf, matchesFilter, splitFilter, type Filter, type LeafFilter } from '../spi/filter.js';
import type { Account, AttributeDelta, Attributes, ConnectorSchema, Entitlement, NewAccount } from '../spi/objects.js';
import { newAccount as newAccountSchema } from '../spi/objects.js';
import type { PostgresConfig } from './postgres-config.js';
import { translatePgError } from './postgres-errors.js';
import { ACCOUNT_COLUMNS, ENTITLEMENT_COLUMNS, canPushLeaf, filterToSql } from './postgres-filter.js';
import { isScramSafePassword, scramSha256Verifier } from './scram.js';
import { createPostgresObjects } from './postgres-objects.js';

/**
 * Everything the SPI offers except making groups themselves (accounts, grants and rotation are what
 * this system needs); object classes where tables are configured as such.
 */
export const CONNECTOR_CAPABILITIES = CAPABILITIES.filter((c) => c !== 'manageEntitlements');

/** What an instance with these object classes can do: reading them when there are any, writing when one is writable. */
export function postgresCapabilities(objectClasses: unknown): Capability[] {
  const classes = Array.isArray(objectClasses) ? (objectClasses as { writable?: unknown }[]) : [];
  return CONNECTOR_CAPABILITIES.filter(
    (c) => (c !== 'readObjects' || classes.length > 0) && (c !== 'writeObjects' || classes.some((o) => o.writable === true)),
  );
}

export type PostgresConnector = Connector &
  TestOp &
  SchemaOp &
  SearchAccountsOp &
  SearchEntitlementsOp &
  SyncOp &
  ReadObjectsOp &
  WriteObjectsOp &
  CreateAccountOp &
  UpdateAccountOp &
  EnableDisableOp &
  DeleteAccountOp &
  GrantRevokeOp &
  RotateCredentialOp;

interface RoleRow {
  uid: string;
  rolname: string;
  rolconnlimit: number;
  valid_until: string | null;
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  comment: string | null;
}

type EntitlementRef = { kind: 'role'; oid: string } | { kind: 'table'; oid: string; privilege: string };

const ROLE_COLUMNS = `r.oid::text AS uid, r.rolname::text AS rolname, r.rolconnlimit, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
  r.rolreplication, r.rolbypassrls, shobj_description(r.oid, 'pg_authid') AS comment,
  CASE WHEN r.rolvaliduntil IS NULL THEN NULL WHEN r.rolvaliduntil = 'infinity' THEN 'infinity'
       ELSE to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END AS valid_until`;

/** Login roles Gatehouse may see: never PostgreSQL's predefined pg_* roles or the ignored ones. */
const ACCOUNT_SCOPE = `r.rolcanlogin AND r.rolname !~ '^pg_' AND NOT (r.rolname = ANY($1::text[]))`;

const ACCOUNT_ATTRIBUTES: ConnectorSchema['account']['attributes'] = [
  { name: 'connectionLimit', type: 'integer', multiValued: false, required: false, updatable: true, description: 'Concurrent connections allowed; -1 is unlimited (0 only when disabled)' },
  { name: 'validUntil', type: 'datetime', multiValued: false, required: false, updatable: true, description: "When the role's password stops working; 'infinity' for never" },
  { name: 'comment', type: 'string', multiValued: false, required: false, updatable: true },
  { name: 'superuser', type: 'boolean', multiValued: false, required: false, updatable: false },
  { name: 'createRole', type: 'boolean', multiValued: false, required: false, updatable: false },
  { name: 'createDb', type: 'boolean', multiValued: false, required: false, updatable: false },
  { name: 'replication', type: 'boolean', multiValued: false, required: false, updatable: false },
  { name: 'bypassRls', type: 'boolean', multiValued: false, required: false, updatable: false },
];
const UPDATABLE = ['connectionLimit', 'validUntil', 'comment'];

const ident = (name: string) => pg.Client.prototype.escapeIdentifier(name);
const literal = (value: string) => pg.Client.prototype.escapeLiteral(value);

function mentions(filter: Filter | undefined, attribute: string): boolean {
  if (!filter) return false;
  if (isLeaf(filter)) return filter.attribute === attribute;
  return filter.op === 'not' ? mentions(filter.filter, attribute) : filter.filters.some((f) => mentions(f, attribute));
}

function parseEntitlementUid(uid: string): EntitlementRef | undefined {
  const role = /^role:(\d+)$/.exec(uid);
  if (role) return { kind: 'role', oid: role[1]! };
  const table = /^table:(\d+):([A-Z]+)$/.exec(uid);
  if (table) return { kind: 'table', oid: table[1]!, privilege: table[2]! };
  return undefined;
}

interface SyncToken {
  v: 1;
  /** The last role OID delivered in this pass; 0 starts a pass. */
  after: string;
}
const encodeToken = (t: SyncToken) => Buffer.from(JSON.stringify(t)).toString('base64url');
function decodeToken(token: string | undefined): SyncToken {
  if (!token) return { v: 1, after: '0' };
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as SyncToken;
    if (t.v === 1 && /^\d+$/.test(t.after)) return t;
  } catch {
    /* fall through */
  }
  throw new Rejected('the sync token is not one this PostgreSQL connector issued');
}

export function createPostgresConnector(config: PostgresConfig, context: ConnectorContext): PostgresConnector {
  const label = context.label;
  let pool: pg.Pool | undefined;
  const egress = context.egress ?? environmentEgress();
  // The host is judged once, with a clear refusal, before the first connection; every connection then
  // resolves through the guard again and connects to the address it judged (no DNS rebinding).
  let judged: Promise<unknown> | undefined;
  const egressChecked = () => {
    judged ??= egress.resolve(config.host, label).catch((err: unknown) => {
      judged = undefined;
      throw err;
    });
    return judged;
  };
  const lookup = guardedLookup(egress, label);
  const guardedSocket = () => {
    const socket = new net.Socket();
    const connect = socket.connect.bind(socket) as (options: net.TcpSocketConnectOpts) => net.Socket;
    socket.connect = ((port: number, host: string) => connect({ port, host, lookup })) as typeof socket.connect;
    return socket;
  };

  const clientConfig = (user: string, password: string): pg.ClientConfig => ({
    stream: guardedSocket,
    host: config.host,
    port: config.port,
    database: config.database,
    user,
    password,
    ssl:
      config.ssl === 'disable'
        ? false
        : config.ssl === 'require'
          ? { rejectUnauthorized: false }
          : { rejectUnauthorized: true, ...(config.sslRootCert ? { ca: config.sslRootCert } : {}), servername: config.host },
    connectionTimeoutMillis: config.connectTimeoutMs,
    statement_timeout: config.statementTimeoutMs,
    application_name: 'gatehouse-connector',
  });

  const getPool = () => {
    if (!pool) {
      pool = new pg.Pool({ ...clientConfig(config.user, config.password), max: config.poolSize, idleTimeoutMillis: 30_000 });
      // An idle connection dropped by the server must not crash the worker; the next call reconnects.
      pool.on('error', () => undefined);
    }
    return pool;
  };

  async function query<T extends pg.QueryResultRow>(action: string, text: string, params: unknown[] = []): Promise<T[]> {
    await egressChecked();
    try {
      return (await getPool().query<T>(text, params)).rows;
    } catch (err) {
      throw translatePgError(err, action, label);
    }
  }

  /** One transaction per change: all of it or nothing. The idempotency key is visible to DBAs as application_name. */
  async function inTransaction<T>(action: string, ctx: OperationContext | undefined, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    await egressChecked();
    try {
      client = await getPool().connect();
    } catch (err) {
      throw translatePgError(err, action, label);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      if (ctx) await client.query("SELECT set_config('application_name', $1, true)", [`gatehouse:${ctx.idempotencyKey}`.slice(0, 63)]);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw translatePgError(err, action, label);
    } finally {
      client.release(broken);
    }
  }

  const ignored = () => config.ignoredRoles;

  function toAccount(row: RoleRow, entitlements: string[] | undefined, privilegedGroups: Set<string> | undefined): Account {
    const attributes: Attributes = {
      connectionLimit: [row.rolconnlimit],
      superuser: [row.rolsuper],
      createRole: [row.rolcreaterole],
      createDb: [row.rolcreatedb],
      replication: [row.rolreplication],
      bypassRls: [row.rolbypassrls],
    };
    if (row.valid_until) attributes.validUntil = [row.valid_until];
    if (row.comment) attributes.comment = [row.comment];
    const selfPrivileged = row.rolsuper || row.rolcreaterole || row.rolreplication || row.rolbypassrls;
    const viaGroup = entitlements?.some((e) => privilegedGroups?.has(e)) ?? false;
    return {
      uid: row.uid,
      name: row.rolname,
      enabled: row.rolconnlimit !== 0,
      attributes,
      ...(entitlements ? { entitlements } : {}),
      privileged: selfPrivileged || viaGroup,
      credentials: [{ id: 'password', kind: 'password', ...(row.valid_until && row.valid_until !== 'infinity' ? { expiresAt: row.valid_until } : {}) }],
    };
  }

  /** Direct group memberships and table privileges of the given roles, as entitlement uids. */
  async function entitlementsOf(run: typeof query, oids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(oids.map((o) => [o, []]));
    if (!oids.length) return out;
    const rows = await run<{ member: string; uid: string }>(
      'reading entitlements',
      `SELECT m.member::text AS member, 'role:' || m.roleid::text AS uid FROM pg_auth_members m WHERE m.member = ANY($1::oid[])
       UNION
       SELECT a.grantee::text, 'table:' || c.oid::text || ':' || a.privilege_type
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
        WHERE n.nspname = ANY($2::text[]) AND a.grantee = ANY($1::oid[]) AND a.privilege_type = ANY($3::text[])
       ORDER BY 1, 2`,
      [oids, config.managedSchemas, config.tablePrivileges],
    );
    for (const r of rows) out.get(r.member)?.push(r.uid);
    return out;
  }

  async function privilegedGroupUids(): Promise<Set<string>> {
    const rows = await query<{ uid: string }>(
      'reading privileged roles',
      `SELECT 'role:' || oid::text AS uid FROM pg_roles
        WHERE NOT rolcanlogin AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls OR rolname ~ '^pg_')`,
    );
    return new Set(rows.map((r) => r.uid));
  }

  const memberOfLeaf = (leaf: LeafFilter) => leaf.attribute === 'memberOf' && leaf.op === 'eq' && typeof leaf.value === 'string' && parseEntitlementUid(leaf.value) !== undefined;

  function memberOfSql(leaf: LeafFilter, bind: (v: unknown) => string): string | undefined {
    if (!memberOfLeaf(leaf)) return undefined;
    const ref = parseEntitlementUid((leaf as { value: string }).value)!;
    if (ref.kind === 'role') return `EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid AND m.roleid = ${bind(ref.oid)}::oid)`;
    return `EXISTS (SELECT 1 FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
      WHERE c.oid = ${bind(ref.oid)}::oid AND a.grantee = r.oid AND a.privilege_type = ${bind(ref.privilege)})`;
  }

  /** One page of accounts after `after` (an OID), in OID order. */
  async function accountPage(after: string, limit: number, pushed: Filter | undefined): Promise<RoleRow[]> {
    const params: unknown[] = [ignored(), after, limit];
    const where = pushed ? ` AND ${filterToSql(pushed, ACCOUNT_COLUMNS, params, memberOfSql)}` : '';
    return query<RoleRow>(
      'searching accounts',
      `SELECT ${ROLE_COLUMNS} FROM pg_roles r WHERE ${ACCOUNT_SCOPE} AND r.oid > $2::oid${where} ORDER BY r.oid LIMIT $3`,
      params,
    );
  }

  async function* searchAccounts(q: AccountQuery = {}): AsyncIterable<Account> {
    const { pushed, residual } = splitFilter(q.filter, (leaf) => canPushLeaf(ACCOUNT_COLUMNS, leaf, memberOfLeaf));
    const needEntitlements = Boolean(q.includeEntitlements) || mentions(residual, 'memberOf');
    const pageSize = q.pageSize ?? 500;
    const privileged = needEntitlements ? await privilegedGroupUids() : undefined;
    let after = '0';
    for (;;) {
      const rows = await accountPage(after, pageSize, pushed);
      const ents = needEntitlements ? await entitlementsOf(query, rows.map((r) => r.uid)) : undefined;
      for (const row of rows) {
        const account = toAccount(row, ents?.get(row.uid), privileged);
        if (residual && !matchesFilter(accountValues(account), residual)) continue;
        if (!q.includeEntitlements) delete account.entitlements;
        yield account;
      }
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1]!.uid;
    }
  }

  async function readAccount(run: typeof query, where: string, params: unknown[], includeEntitlements: boolean, missing: string): Promise<Account> {
    const rows = await run<RoleRow>('reading an account', `SELECT ${ROLE_COLUMNS} FROM pg_roles r WHERE ${ACCOUNT_SCOPE} AND ${where}`, [ignored(), ...params]);
    const row = rows[0];
    if (!row) throw new UnknownUid(`${label}: ${missing}`);
    const ents = includeEntitlements ? await entitlementsOf(run, [row.uid]) : undefined;
    const account = toAccount(row, ents?.get(row.uid), includeEntitlements ? await privilegedGroupUids() : undefined);
    if (!includeEntitlements) delete account.entitlements;
    return account;
  }

  /** Queries through a transaction's client, translating errors the same way. */
  const via =
    (client: pg.PoolClient): typeof query =>
    async <T extends pg.QueryResultRow>(action: string, text: string, params: unknown[] = []) => {
      try {
        return (await client.query<T>(text, params)).rows;
      } catch (err) {
        throw translatePgError(err, action, label);
      }
    };

  async function accountName(run: typeof query, uid: string): Promise<{ name: string; connlimit: number }> {
    if (!/^\d+$/.test(uid)) throw new UnknownUid(`${label}: no account with uid ${uid}`);
    const rows = await run<{ rolname: string; rolconnlimit: number }>(
      'finding the account',
      `SELECT r.rolname::text AS rolname, r.rolconnlimit FROM pg_roles r WHERE ${ACCOUNT_SCOPE} AND r.oid = $2::oid`,
      [ignored(), uid],
    );
    if (!rows[0]) throw new UnknownUid(`${label}: no account with uid ${uid}`);
    return { name: rows[0].rolname, connlimit: rows[0].rolconnlimit };
  }

  async function entitlementTarget(run: typeof query, uid: string): Promise<{ ref: EntitlementRef; sqlName: string; display: string }> {
    const ref = parseEntitlementUid(uid);
    const unknown = () => new UnknownUid(`${label}: no entitlement with uid ${uid}`);
    if (!ref) throw unknown();
    if (ref.kind === 'role') {
      const rows = await run<{ rolname: string }>('finding the group role', `SELECT rolname::text AS rolname FROM pg_roles WHERE oid = $1::oid AND NOT rolcanlogin AND NOT (rolname = ANY($2::text[]))`, [ref.oid, ignored()]);
      if (!rows[0]) throw unknown();
      return { ref, sqlName: ident(rows[0].rolname), display: rows[0].rolname };
    }
    if (!(config.tablePrivileges as readonly string[]).includes(ref.privilege)) throw unknown();
    const rows = await run<{ nspname: string; relname: string }>(
      'finding the table',
      `SELECT n.nspname::text AS nspname, c.relname::text AS relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = $1::oid AND n.nspname = ANY($2::text[]) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')`,
      [ref.oid, config.managedSchemas],
    );
    if (!rows[0]) throw unknown();
    return { ref, sqlName: `${ident(rows[0].nspname)}.${ident(rows[0].relname)}`, display: `${rows[0].nspname}.${rows[0].relname}:${ref.privilege}` };
  }

  async function holds(run: typeof query, accountUid: string, ref: EntitlementRef): Promise<boolean> {
    const rows =
      ref.kind === 'role'
        ? await run('checking membership', 'SELECT 1 FROM pg_auth_members WHERE roleid = $1::oid AND member = $2::oid', [ref.oid, accountUid])
        : await run(
            'checking the privilege',
            'SELECT 1 FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a WHERE c.oid = $1::oid AND a.grantee = $2::oid AND a.privilege_type = $3',
            [ref.oid, accountUid, ref.privilege],
          );
    return rows.length > 0;
  }

  function checkRoleName(name: string): void {
    if (Buffer.byteLength(name) > 63) throw new Rejected(`${label}: role names are at most 63 bytes; ${JSON.stringify(name)} is longer`);
    if (/^pg_/.test(name)) throw new Rejected(`${label}: role names starting with pg_ are reserved by PostgreSQL`);
    if (name.includes('\0')) throw new Rejected(`${label}: a role name cannot contain NUL`);
  }

  function checkPassword(password: string): void {
    if (!isScramSafePassword(password)) throw new Rejected(`${label}: passwords must be printable ASCII (PostgreSQL normalises others with SASLprep)`);
  }

  /** The SQL options for the updatable attributes, checked before anything is sent. */
  function attributeClauses(attrs: Attributes, where: string): { options: string[]; comment?: string | null } {
    const options: string[] = [];
    let comment: string | null | undefined;
    for (const [name, values] of Object.entries(attrs)) {
      if (!UPDATABLE.includes(name)) {
        throw new Rejected(`${label}: ${where}: PostgreSQL accounts have no settable attribute ${name} (settable: ${UPDATABLE.join(', ')})`);
      }
      if (values.length > 1) throw new Rejected(`${label}: ${where}: ${name} takes one value`);
      const v = values[0];
      if (name === 'connectionLimit') {
        if (v === undefined) options.push('CONNECTION LIMIT -1');
        else if (typeof v !== 'number' || !Number.isInteger(v) || v < -1) throw new Rejected(`${label}: ${where}: connectionLimit must be a whole number from -1 (unlimited) up`);
        else if (v === 0) throw new Rejected(`${label}: ${where}: a connectionLimit of 0 is how accounts are disabled; disable the account instead`);
        else options.push(`CONNECTION LIMIT ${v}`);
      } else if (name === 'validUntil') {
        if (v === undefined) options.push("VALID UNTIL 'infinity'");
        else if (typeof v !== 'string' || (v !== 'infinity' && Number.isNaN(Date.parse(v)))) throw new Rejected(`${label}: ${where}: validUntil must be an ISO 8601 time or 'infinity'`);
        else options.push(`VALID UNTIL ${literal(v === 'infinity' ? v : new Date(v).toISOString())}`);
      } else {
        if (v !== undefined && typeof v !== 'string') throw new Rejected(`${label}: ${where}: comment must be text`);
        comment = v === undefined ? null : v;
      }
    }
    return comment === undefined ? { options } : { options, comment };
  }

  const roleOfTarget = async (run: typeof query, target: CredentialTarget): Promise<string> =>
    target.kind === 'self' ? config.user : (await accountName(run, target.uid)).name;

  const objects = createPostgresObjects({
    label,
    classes: config.objectClasses,
    inTransaction: (action, ctx, work) => inTransaction(action, ctx, (c) => work(via(c))),
  });

  const connector: PostgresConnector = {
    type: 'postgresql',
    capabilities: new Set<Capability>(postgresCapabilities(config.objectClasses)),
    ...objects,

    async test() {
      const rows = await query<{ version: string; user: string; database: string; createrole: boolean; superuser: boolean }>(
        'the connection test',
        `SELECT current_setting('server_version') AS version, current_user::text AS user, current_database()::text AS database,
                r.rolcreaterole AS createrole, r.rolsuper AS superuser
           FROM pg_roles r WHERE r.rolname = current_user`,
      );
      const r = rows[0]!;
      return { system: 'PostgreSQL', version: r.version, details: { user: r.user, database: r.database, createRole: r.createrole, superuser: r.superuser } };
    },

    async schema() {
      return {
        account: { attributes: ACCOUNT_ATTRIBUTES },
        entitlement: {
          kinds: ['group', 'privilege'],
          attributes: [{ name: 'description', type: 'string', multiValued: false, required: false, updatable: false }],
        },
      };
    },

    searchAccounts,

    getAccount: (uid, options = {}) => {
      if (!/^\d+$/.test(uid)) return Promise.reject(new UnknownUid(`${label}: no account with uid ${uid}`));
      return readAccount(query, 'r.oid = $2::oid', [uid], Boolean(options.includeEntitlements), `no account with uid ${uid}`);
    },

    async *searchEntitlements(q: EntitlementQuery = {}) {
      const { pushed, residual } = splitFilter(q.filter, (leaf) => canPushLeaf(ENTITLEMENT_COLUMNS, leaf));
      const pageSize = q.pageSize ?? 500;
      let after: [string, string, string] = ['', '0', ''];
      for (;;) {
        const params: unknown[] = [ignored(), config.managedSchemas, config.tablePrivileges, after[0], after[1], after[2], pageSize];
        const where = pushed ? ` AND ${filterToSql(pushed, ENTITLEMENT_COLUMNS, params)}` : '';
        const rows = await query<{ uid: string; name: string; kind: 'group' | 'privilege'; description: string | null; privileged: boolean; k1: string; k2: string }>(
          'searching entitlements',
          `SELECT * FROM (
             SELECT 'role:' || g.oid::text AS uid, g.rolname::text AS name, 'group' AS kind, shobj_description(g.oid, 'pg_authid') AS description,
                    (g.rolsuper OR g.rolcreaterole OR g.rolcreatedb OR g.rolreplication OR g.rolbypassrls OR g.rolname ~ '^pg_') AS privileged,
                    lpad(g.oid::text, 10, '0') AS k1, '' AS k2
               FROM pg_roles g WHERE NOT g.rolcanlogin AND g.rolname <> 'pg_database_owner' AND NOT (g.rolname = ANY($1::text[]))
             UNION ALL
             SELECT 'table:' || c.oid::text || ':' || p.priv, n.nspname || '.' || c.relname || ':' || p.priv, 'privilege', NULL, false,
                    lpad(c.oid::text, 10, '0'), p.priv
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN unnest($3::text[]) AS p(priv)
              WHERE n.nspname = ANY($2::text[]) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
           ) e
           WHERE (e.kind, e.k1, e.k2) > ($4, lpad($5, 10, '0'), $6)${where}
           ORDER BY e.kind, e.k1, e.k2 LIMIT $7`,
          params,
        );
        for (const r of rows) {
          const ent: Entitlement = { uid: r.uid, name: r.name, kind: r.kind, privileged: r.privileged, ...(r.description ? { description: r.description } : {}) };
          if (residual && !matchesFilter(entitlementValues(ent), residual)) continue;
          yield ent;
        }
        if (rows.length < pageSize) return;
        const last = rows[rows.length - 1]!;
        after = [last.kind, String(Number(last.k1)), last.k2];
      }
    },

    syncMode: { mode: 'snapshot', detectsDeletes: false },

    async *sync(request = {}) {
      // PostgreSQL keeps no change history for roles that an unprivileged login can read, so a
      // pass lists every account in OID order; the token is the last OID delivered, so an
      // interrupted pass resumes where it stopped.
      let token = decodeToken(request.token);
      const pageSize = request.pageSize ?? 500;
      const privileged = await privilegedGroupUids();
      for (;;) {
        const rows = await accountPage(token.after, pageSize, undefined);
        const ents = await entitlementsOf(query, rows.map((r) => r.uid));
        const complete = rows.length < pageSize;
        token = complete ? { v: 1, after: '0' } : { v: 1, after: rows[rows.length - 1]!.uid };
        const batch: SyncBatch = {
          changes: rows.map((row) => ({ kind: 'upsert' as const, account: toAccount(row, ents.get(row.uid), privileged) })),
          token: encodeToken(token),
          complete,
        };
        yield batch;
        if (complete) return;
      }
    },

    async createAccount(input: NewAccount, ctx, credential) {
      const account = newAccountSchema.parse(input);
      checkRoleName(account.name);
      if (credential) checkPassword(credential.password);
      const { options, comment } = attributeClauses(account.attributes, 'create');
      if (!account.enabled) {
        const i = options.findIndex((o) => o.startsWith('CONNECTION LIMIT'));
        if (i >= 0) options.splice(i, 1);
        options.push('CONNECTION LIMIT 0');
      }
      if (credential) options.push(`PASSWORD ${literal(scramSha256Verifier(credential.password))}`);
      return inTransaction('creating an account', ctx, async (c) => {
        const name = ident(account.name);
        await c.query(`CREATE ROLE ${name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS ${options.join(' ')}`);
        if (comment !== undefined) await c.query(`COMMENT ON ROLE ${name} IS ${comment === null ? 'NULL' : literal(comment)}`);
        return readAccount(via(c), 'r.rolname = $2', [account.name], false, `the role ${account.name} vanished while being created`);
      });
    },

    async updateAccount(uid, deltas: AttributeDelta[], ctx) {
      return inTransaction('updating an account', ctx, async (c) => {
        const run = via(c);
        const current = await accountName(run, uid);
        let name = current.name;
        const attrs: Attributes = {};
        for (const d of deltas) {
          if (d.op !== 'replace') throw new Rejected(`${label}: ${d.attribute} is single-valued in PostgreSQL; use replace`);
          if (d.attribute === 'name') {
            const next = d.values[0];
            if (d.values.length !== 1 || typeof next !== 'string') throw new Rejected(`${label}: a rename takes exactly one new name`);
            checkRoleName(next);
            if (next !== name) await c.query(`ALTER ROLE ${ident(name)} RENAME TO ${ident(next)}`);
            name = next;
          } else attrs[d.attribute] = d.values;
        }
        const { options, comment } = attributeClauses(attrs, 'update');
        if (current.connlimit === 0 && options.some((o) => o.startsWith('CONNECTION LIMIT'))) {
          throw new Rejected(`${label}: the account is disabled (its connection limit is 0); enable it before changing connectionLimit`);
        }
        if (options.length) await c.query(`ALTER ROLE ${ident(name)} WITH ${options.join(' ')}`);
        if (comment !== undefined) await c.query(`COMMENT ON ROLE ${ident(name)} IS ${comment === null ? 'NULL' : literal(comment)}`);
        return readAccount(run, 'r.oid = $2::oid', [uid], false, `no account with uid ${uid}`);
      });
    },

    async setAccountEnabled(uid, enabled, ctx) {
      const outcome = await inTransaction(enabled ? 'enabling an account' : 'disabling an account', ctx, async (c) => {
        const current = await accountName(via(c), uid);
        if ((current.connlimit !== 0) === enabled) return { changed: false, name: current.name };
        await c.query(`ALTER ROLE ${ident(current.name)} WITH CONNECTION LIMIT ${enabled ? -1 : 0}`);
        return { changed: true, name: current.name };
      });
      if (!enabled) {
        // A connection limit stops new sessions only. Where the connector holds pg_signal_backend,
        // the account's open sessions end too; without it they end when their clients disconnect.
        await query(
          'ending the sessions of a disabled account',
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE usename = $1 AND pg_has_role(current_user, 'pg_signal_backend', 'USAGE')`,
          [outcome.name],
        ).catch(() => undefined);
      }
      return { changed: outcome.changed };
    },

    async deleteAccount(uid, ctx) {
      await inTransaction('deleting an account', ctx, async (c) => {
        const run = via(c);
        const { name } = await accountName(run, uid);
        // Direct privileges in the managed schemas go first (DROP ROLE refuses while any remain).
        const tables = await run<{ nspname: string; relname: string }>(
          'finding the privileges to revoke',
          `SELECT DISTINCT n.nspname::text AS nspname, c.relname::text AS relname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
            WHERE n.nspname = ANY($1::text[]) AND a.grantee = $2::oid`,
          [config.managedSchemas, uid],
        );
        for (const t of tables) await c.query(`REVOKE ALL ON TABLE ${ident(t.nspname)}.${ident(t.relname)} FROM ${ident(name)}`);
        await c.query(`DROP ROLE ${ident(name)}`);
      });
    },

    async grant(accountUid, entitlementUid, ctx) {
      return inTransaction('granting an entitlement', ctx, async (c) => {
        const run = via(c);
        const { name } = await accountName(run, accountUid);
        const target = await entitlementTarget(run, entitlementUid);
        if (await holds(run, accountUid, target.ref)) return { changed: false };
        await c.query(
          target.ref.kind === 'role' ? `GRANT ${target.sqlName} TO ${ident(name)}` : `GRANT ${target.ref.privilege} ON TABLE ${target.sqlName} TO ${ident(name)}`,
        );
        return { changed: true };
      });
    },

    async revoke(accountUid, entitlementUid, ctx) {
      return inTransaction('revoking an entitlement', ctx, async (c) => {
        const run = via(c);
        const { name } = await accountName(run, accountUid);
        const target = await entitlementTarget(run, entitlementUid);
        if (!(await holds(run, accountUid, target.ref))) return { changed: false };
        await c.query(
          target.ref.kind === 'role' ? `REVOKE ${target.sqlName} FROM ${ident(name)}` : `REVOKE ${target.ref.privilege} ON TABLE ${target.sqlName} FROM ${ident(name)}`,
        );
        // PostgreSQL revokes only what this login granted (it warns, and changes nothing, otherwise).
        if (await holds(run, accountUid, target.ref)) {
          throw new PermissionDenied(`${label}: ${name} holds ${target.display} through a grant made by another role, which ${config.user} cannot revoke`);
        }
        return { changed: true };
      });
    },

    credentials: { model: 'single', source: 'caller' },

    async applyCredential(target, ctx, secret): Promise<AppliedCredential> {
      if (secret === undefined) throw new Rejected(`${label}: PostgreSQL passwords are chosen by the caller; give the new password`);
      checkPassword(secret);
      await inTransaction('setting a password', ctx, async (c) => {
        const role = await roleOfTarget(via(c), target);
        await c.query(`ALTER ROLE ${target.kind === 'self' ? 'CURRENT_USER' : ident(role)} WITH PASSWORD ${literal(scramSha256Verifier(secret))}`);
      });
      return { credentialId: 'password' };
    },

    async verifyCredential(target, secret) {
      const role = await roleOfTarget(query, target);
      await egressChecked();
      const client = new pg.Client(clientConfig(role, secret));
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
      } catch (err) {
        // Refused only after authentication succeeded (no CONNECT privilege): the password works.
        if ((err as { code?: string }).code === '42501') return;
        throw translatePgError(err, `logging in as ${role}`, label);
      } finally {
        await client.end().catch(() => undefined);
      }
    },

    async retireCredential() {
      // A role has one password: applying the new one already retired the old.
      return { changed: false };
    },

    async close() {
      const p = pool;
      pool = undefined;
      await p?.end().catch(() => undefined);
    },
  };
  return connector;
}
