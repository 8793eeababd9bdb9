// Bootstrapping is idempotent and safe to run concurrently (roles are cluster-wide).
import { describe, expect, it } from 'vitest';
import { createTestDatabase, withPg } from '../../test/helpers/services.js';

describe('database bootstrap', () => {
  it('creates several databases at once without racing on the shared roles', async () => {
    const dbs = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase()]);
    try {
      for (const db of dbs) {
        const r = await withPg(db.appUrl, (c) => c.query('SELECT current_database() AS db, current_user AS role'));
        expect(r.rows[0]).toEqual({ db: db.name, role: 'gatehouse_app' });
      }
    } finally {
      await Promise.all(dbs.map((d) => d.drop()));
    }
  });
});
