// A PostgreSQL target system for connector tests, in the shared cluster but apart from Gatehouse:
// its own database, an administrative role for the connector (CREATEROLE, never superuser), a
// read-only login, two group roles and a table. Roles are cluster-wide, so every name carries
// the suite's suffix and teardown drops them all.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../server/embedded/postgres.js';
import { freePort } from '../../server/embedded/process.js';
import { sharedPostgresSuperuserUrl, sharedTestDataDir, suffix, withPg } from './services.js';
import type { PostgresConfig } from '../../connectors/postgres/index.js';

export interface PostgresTarget {
  /** Appears in every role and database name of this target. */
  tag: string;
  database: string;
  host: string;
  port: number;
  admin: { user: string; password: string };
  reader: { user: string; password: string };
  groups: { analysts: string; auditors: string };
  /** A connector configuration for the administrative role (settings and secret). */
  config(overrides?: Partial<PostgresConfig>): Record<string, unknown>;
  /** A superuser connection to the target database, to check the connector from behind. */
  superuserUrl: string;
  drop(): Promise<void>;
}

const password = () => randomBytes(18).toString('base64url');

export async function createPostgresTarget(): Promise<PostgresTarget> {
  const clusterUrl = sharedPostgresSuperuserUrl();
  const tag = suffix();
  const database = `target_${tag}`;
  const admin = { user: `gh_admin_${tag}`, password: password() };
  const reader = { user: `gh_reader_${tag}`, password: password() };
  const groups = { analysts: `analysts_${tag}`, auditors: `auditors_${tag}` };
  const url = new URL(clusterUrl);

  await withPg(clusterUrl, async (c) => {
    await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
    await c.query(`CREATE ROLE ${c.escapeIdentifier(admin.user)} LOGIN CREATEROLE PASSWORD ${c.escapeLiteral(admin.password)}`);
    await c.query(`CREATE ROLE ${c.escapeIdentifier(reader.user)} LOGIN PASSWORD ${c.escapeLiteral(reader.password)}`);
  });
  const dbUrl = new URL(clusterUrl);
  dbUrl.pathname = `/${database}`;
  await withPg(dbUrl.toString(), async (c) => {
    await c.query('CREATE TABLE public.orders (id bigint PRIMARY KEY, total numeric)');
    await c.query('CREATE TABLE public.customers (id bigint PRIMARY KEY, name text)');
    // The connector may pass on these privileges, and no others.
    await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${c.escapeIdentifier(admin.user)} WITH GRANT OPTION`);
    // Records for sync flows (object classes): an HR table whose `changed` grows on every write, and a view of it.
    await c.query(`CREATE SCHEMA hr;
      CREATE SEQUENCE hr.change_seq;
      CREATE TABLE hr.people (
        employee_id text PRIMARY KEY,
        email text NOT NULL,
        display_name text,
        salary numeric,
        badge bigint,
        active boolean NOT NULL DEFAULT true,
        start_date date,
        profile jsonb,
        ssn text,
        changed bigint NOT NULL DEFAULT nextval('hr.change_seq'),
        row_id bigint GENERATED ALWAYS AS IDENTITY);
      CREATE FUNCTION hr.bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.changed := nextval('hr.change_seq'); RETURN NEW; END $$;
      CREATE TRIGGER people_changed BEFORE UPDATE ON hr.people FOR EACH ROW EXECUTE FUNCTION hr.bump();
      CREATE VIEW hr.people_emails AS SELECT employee_id, email FROM hr.people;
      CREATE TABLE hr.no_key (note text);
      CREATE TABLE hr.people_copy (employee_id text PRIMARY KEY, email text, display_name text, ssn text);
      CREATE TABLE hr.access_requests (request_id text PRIMARY KEY, person text NOT NULL, grp text NOT NULL, changed bigint NOT NULL DEFAULT nextval('hr.change_seq'));
      GRANT USAGE ON SCHEMA hr TO ${c.escapeIdentifier(admin.user)};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hr TO ${c.escapeIdentifier(admin.user)};
      GRANT USAGE, SELECT ON SEQUENCE hr.change_seq TO ${c.escapeIdentifier(admin.user)};`);
  });
  // Group roles created by the connector's role: PostgreSQL 16+ then gives it ADMIN OPTION on them.
  const adminUrl = new URL(dbUrl);
  adminUrl.username = admin.user;
  adminUrl.password = admin.password;
  await withPg(adminUrl.toString(), async (c) => {
    for (const g of Object.values(groups)) await c.query(`CREATE ROLE ${c.escapeIdentifier(g)} NOLOGIN`);
  });

  return {
    tag,
    database,
    host: url.hostname,
    port: Number(url.port),
    admin,
    reader,
    groups,
    superuserUrl: dbUrl.toString(),
    config: (overrides = {}) => ({
      host: url.hostname,
      port: Number(url.port),
      database,
      user: admin.user,
      password: admin.password,
      ssl: 'disable',
      ...overrides,
    }),
    async drop() {
      await withPg(clusterUrl, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`);
        const roles = await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE position($1 in rolname) > 0', [tag]);
        // Accounts first, the roles that created them last.
        const order = roles.rows.map((r) => r.rolname).sort((a, b) => Number(a === admin.user) - Number(b === admin.user));
        for (const r of order) await c.query(`DROP ROLE IF EXISTS ${c.escapeIdentifier(r)}`);
      });
    },
  };
}

/** Whether a role can log in to the target with a password (a real login, through pg). */
export async function canLogInToPostgres(target: PostgresTarget, user: string, pass: string): Promise<boolean> {
  const client = new pg.Client({ host: target.host, port: target.port, database: target.database, user, password: pass, ssl: false });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A PostgreSQL cluster of its own, started and then stopped, for the ConnectionFailed case: the
 * connector is pointed at a server that was really there and is no more.
 */
export async function stoppedPostgres(): Promise<{ host: string; port: number }> {
  const dir = mkdtempSync(path.join(sharedTestDataDir(), 'stopped-pg-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const handle = await startEmbeddedPostgres({ dataDir: dir, port });
  await handle.stop();
  rmSync(dir, { recursive: true, force: true });
  return { host: '127.0.0.1', port };
}
