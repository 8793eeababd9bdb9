// How the ledger talks to PostgreSQL: parameterised SQL, either inside the caller's transaction (a
// MikroORM EntityManager within em.transactional) or on a pooled connection of its own. The ledger
// writes one locked statement at a time with hashes it computed; the ORM's unit of work adds nothing.
import pg from 'pg';
import { CompiledQuery, type Kysely } from 'kysely';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { GatehouseError } from '../shared/errors.js';

export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
}

export function sqlOnClient(client: pg.ClientBase): Sql {
  return {
    async query<R>(text: string, params: unknown[] = []) {
      return (await client.query(text, params)).rows as R[];
    },
  };
}

/** SQL on the transaction the EntityManager is in; refuses an EntityManager outside a transaction. */
export function sqlInTransactionOf(em: EntityManager): Sql {
  const trx = em.getTransactionContext<Kysely<unknown> & object>();
  if (!trx) {
    throw new GatehouseError('internal', 'a ledger append given an EntityManager must run inside em.transactional(...), so the entry commits or rolls back with the change it records');
  }
  return {
    async query<R>(text: string, params: unknown[] = []) {
      return (await trx.executeQuery(CompiledQuery.raw(text, params))).rows as R[];
    },
  };
}

/** The connection pool under MikroORM (the application role's). */
export async function poolOf(orm: MikroORM): Promise<pg.Pool> {
  return orm.em.getConnection().getNativeClient();
}

/**
 * The ledger role's own small pool (gatehouse_ledger), for the checkpointer: the only connection
 * that may write checkpoints and stored subtrees. The caller ends it. An idle connection the server
 * drops (a restart, a dropped database) is discarded; the next checkpoint connects again.
 */
export function openLedgerRolePool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 10_000, allowExitOnIdle: true, application_name: 'gatehouse-checkpointer' });
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in a transaction of its own (READ COMMITTED), committing on success. */
export async function inTransaction<T>(pool: pg.Pool, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    try {
      const result = await fn(sqlOnClient(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    client.release();
  }
}

/** Runs `fn` on one pooled connection, outside any transaction. */
export async function onConnection<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

/** Timestamps as the ledger writes them: ISO 8601, UTC, milliseconds. */
export const isoUtc = (expression: string) => `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
