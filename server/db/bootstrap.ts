// Creates Gatehouse's database and its three roles on a cluster we administer (the embedded one, and
// the tests'): an owner that runs migrations, the application role the server connects as, and the
// ledger role that alone writes signed checkpoints and stored subtrees.
// With an external DATABASE_URL the operator does this once (see the README).
import pg from 'pg';
import { LEDGER_ROLE } from '../../audit/migrations/Migration20261208000000LedgerRole.js';

/** The role every migration grants privileges to. Production logins are members of it. */
export const APP_ROLE = 'gatehouse_app';
export const OWNER_ROLE = 'gatehouse_owner';

export interface DatabaseUrls {
  ownerUrl: string;
  appUrl: string;
  /** The checkpointer's connection (gatehouse_ledger). */
  ledgerUrl: string;
}

function withCredentials(base: string, user: string, password: string, database: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}

async function ensureLoginRole(client: pg.Client, role: string, password: string, extra: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  const verb = exists.rowCount ? 'ALTER' : 'CREATE';
  await client.query(`${verb} ROLE ${client.escapeIdentifier(role)} WITH LOGIN ${extra} PASSWORD ${client.escapeLiteral(password)}`);
}

/**
 * Idempotent. The owner may create roles (the first migration creates gatehouse_app where it is
 * missing) but is not a superuser, so it cannot bypass the ledger's triggers or privileges.
 */
export async function bootstrapDatabase(options: {
  superuserUrl: string;
  database: string;
  ownerPassword: string;
  appPassword: string;
  ledgerPassword: string;
}): Promise<DatabaseUrls> {
  const client = new pg.Client({ connectionString: options.superuserUrl });
  await client.connect();
  try {
    // Roles are cluster-wide: two bootstraps at once (two test suites, two replicas) would race on
    // the same pg_authid rows ("tuple concurrently updated"), so they take turns.
    await client.query("SELECT pg_advisory_lock(hashtext('gatehouse:bootstrap'))");
    await ensureLoginRole(client, OWNER_ROLE, options.ownerPassword, 'NOSUPERUSER CREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS');
    await ensureLoginRole(client, APP_ROLE, options.appPassword, 'NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS');
    await ensureLoginRole(client, LEDGER_ROLE, options.ledgerPassword, 'NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS');
    const db = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (!db.rowCount) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(options.database)} OWNER ${OWNER_ROLE} ENCODING 'UTF8' TEMPLATE template0`);
    }
    // Nobody but Gatehouse's three roles connects to its database.
    await client.query(`REVOKE ALL ON DATABASE ${client.escapeIdentifier(options.database)} FROM PUBLIC`);
    await client.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${client.escapeIdentifier(options.database)} TO ${APP_ROLE}`);
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(options.database)} TO ${LEDGER_ROLE}`);
  } finally {
    await client.end();
  }
  // The public schema belongs to the database owner role only from PostgreSQL 15 on; make it so.
  const dbClient = new pg.Client({ connectionString: withCredentials(options.superuserUrl, new URL(options.superuserUrl).username, decodeURIComponent(new URL(options.superuserUrl).password), options.database) });
  await dbClient.connect();
  try {
    await dbClient.query(`ALTER SCHEMA public OWNER TO ${OWNER_ROLE}`);
    await dbClient.query('REVOKE ALL ON SCHEMA public FROM PUBLIC');
  } finally {
    await dbClient.end();
  }
  return {
    ownerUrl: withCredentials(options.superuserUrl, OWNER_ROLE, options.ownerPassword, options.database),
    appUrl: withCredentials(options.superuserUrl, APP_ROLE, options.appPassword, options.database),
    ledgerUrl: withCredentials(options.superuserUrl, LEDGER_ROLE, options.ledgerPassword, options.database),
  };
}
