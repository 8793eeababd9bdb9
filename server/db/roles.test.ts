// The two database roles from the first migration: the owner runs migrations; the application role
// holds only the privileges each table needs.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, withPg, type TestDatabase } from '../../test/helpers/services.js';
import { runMigrations } from './orm.js';

describe('database roles', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrations are idempotent', async () => {
    expect(await runMigrations(db.ownerUrl)).toEqual([]);
  });

  it('the owner is not a superuser and cannot bypass row security', async () => {
    const r = await withPg(db.ownerUrl, (c) => c.query('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user'));
    expect(r.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
  });

  it('the application role reads and inserts where granted, and nothing more', async () => {
    await withPg(db.appUrl, async (c) => {
      expect((await c.query('SELECT current_user')).rows[0].current_user).toBe('gatehouse_app');
      await c.query("INSERT INTO system_check (id, workflow_id, run_id, vault_secret_version, secret_store) VALUES ($1, 'w', 'r', 1, 'vault')", [randomUUID()]);
      expect((await c.query('SELECT count(*)::int AS n FROM system_check')).rows[0].n).toBe(1);
      await expect(c.query("UPDATE system_check SET secret_store = 'x'")).rejects.toThrow(/permission denied for table system_check/);
      await expect(c.query('DELETE FROM system_check')).rejects.toThrow(/permission denied for table system_check/);
      await expect(c.query('TRUNCATE system_check')).rejects.toThrow(/permission denied for table system_check/);
      await expect(c.query('CREATE TABLE sneaky (id int)')).rejects.toThrow(/permission denied for schema public/);
      await expect(c.query('SELECT * FROM gatehouse_migrations')).rejects.toThrow(/permission denied for table gatehouse_migrations/);
      await expect(c.query('ALTER TABLE system_check ADD COLUMN x int')).rejects.toThrow(/must be owner of table system_check/);
    });
  });
});
