// For the audit tests: a ledger over a fresh database (as the application role) and the suite's
// Vault, sample entries, and superuser access for the tampering a test needs to do.
import type pg from 'pg';
import { createTestDatabase, openOrm, withPg, type MikroORM, type TestDatabase, type TestVault } from './services.js';
import { createLedger, LEDGER_KEY_NAME, type Ledger } from '../../audit/ledger-service.js';
import { openLedgerRolePool } from '../../audit/ledger-sql.js';
import type { NewLedgerEntry } from '../../audit/ledger-types.js';

export interface TestLedger {
  db: TestDatabase;
  orm: MikroORM;
  ledger: Ledger;
  close(): Promise<void>;
}

/**
 * createTestDatabase re-runs ALTER ROLE on the shared roles, which PostgreSQL refuses with "tuple
 * concurrently updated" when another suite does the same at that instant; the audit suites create
 * many databases, so they try again.
 */
async function createDatabaseRetrying(): Promise<TestDatabase> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createTestDatabase();
    } catch (err) {
      if (attempt >= 5 || !/tuple concurrently updated/.test((err as Error).message)) throw err;
    }
  }
}

export async function createTestLedger(vault: TestVault, options: { poolMax?: number } = {}): Promise<TestLedger> {
  await vault.store.ensureSigningKey(LEDGER_KEY_NAME);
  const db = await createDatabaseRetrying();
  const orm = await openOrm(db.appUrl, options.poolMax ?? 5);
  const checkpointPool = openLedgerRolePool(db.ledgerUrl);
  const ledger = createLedger({ orm, signer: vault.store, checkpointPool });
  return {
    db,
    orm,
    ledger,
    async close() {
      await orm.close(true);
      await checkpointPool.end();
      await db.drop();
    },
  };
}

/** Another process's view of the same ledger: its own pool and ledger instance. */
export async function openAnotherLedger(db: TestDatabase, vault: TestVault, poolMax = 3): Promise<{ orm: MikroORM; ledger: Ledger }> {
  const orm = await openOrm(db.appUrl, poolMax);
  return { orm, ledger: createLedger({ orm, signer: vault.store, checkpointPool: openLedgerRolePool(db.ledgerUrl) }) };
}

export function sampleEntry(i: number, overrides: Partial<NewLedgerEntry> = {}): NewLedgerEntry {
  const kinds = ['scim.user.created', 'access.change.planned', 'access.change.decided', 'access.change.applied', 'secret.rotated'] as const;
  return {
    action: kinds[i % kinds.length]!,
    actor: i % 2 ? { kind: 'workflow', id: `identity:okta:${i % 7}` } : { kind: 'idp', id: 'okta-main', display: 'Okta (main)' },
    subject: { type: 'identity', id: `okta:00u${i % 11}` },
    target: { type: 'connector', id: i % 3 ? 'github' : 'google-workspace' },
    details: { n: i, note: `sample ${i}`, groups: ['eng', 'oncall'], nested: { ok: true } },
    correlation: { workflowId: `identity:okta:${i % 7}`, requestId: `req-${i}`, directoryId: 'okta-main' },
    ...(i % 5 === 2 ? { policy: { id: 'birthright', versionHash: `sha256:${'ab'.repeat(8)}` } } : {}),
    ...overrides,
  };
}

export async function appendSamples(ledger: Ledger, count: number, from = 0): Promise<void> {
  for (let at = 0; at < count; at += 500) {
    await ledger.appendBatch(Array.from({ length: Math.min(500, count - at) }, (_, i) => sampleEntry(from + at + i)));
  }
}

/** Runs SQL as the superuser with the ledger's triggers off: exactly what a rogue administrator does. */
export async function asRogueSuperuser(db: TestDatabase, fn: (client: pg.Client) => Promise<void>): Promise<void> {
  await withPg(db.superuserUrl, async (client) => {
    await client.query('BEGIN');
    for (const table of ['ledger_entry', 'ledger_checkpoint', 'ledger_tree_node']) await client.query(`ALTER TABLE ${table} DISABLE TRIGGER ALL`);
    await fn(client);
    // Put the protection back as the migration left it, so only the tampering remains to be found.
    for (const table of ['ledger_entry', 'ledger_checkpoint', 'ledger_tree_node']) {
      for (const trigger of ['no_update_or_delete', 'no_truncate']) await client.query(`ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${table}_${trigger}`);
      if (table !== 'ledger_entry') await client.query(`ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${table}_within_ledger`);
    }
    await client.query('COMMIT');
  });
}
