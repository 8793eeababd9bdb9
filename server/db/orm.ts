// MikroORM over PostgreSQL: the owner runs migrations at start, the application role does the rest.
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { Logger } from '../logger.js';
import { allEntities } from './entities.js';
import { allMigrations } from './migrations.js';

function baseOptions(clientUrl: string, poolMax: number): Options {
  return {
    clientUrl,
    entities: allEntities,
    pool: { min: 0, max: poolMax },
    debug: false,
    allowGlobalContext: false,
    // Schema changes happen only through migrations, reviewed in the repository.
    ensureDatabase: false,
    discovery: { warnWhenNoEntities: false },
  };
}

/** Applies pending migrations as the owner role; returns the names applied. */
export async function runMigrations(ownerUrl: string, log?: Logger): Promise<string[]> {
  const orm = await MikroORM.init({
    ...baseOptions(ownerUrl, 1),
    extensions: [Migrator],
    migrations: {
      migrationsList: allMigrations,
      tableName: 'gatehouse_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
  });
  try {
    const applied = await orm.migrator.up();
    const names = applied.map((m) => m.name);
    if (names.length && log) log.info({ migrations: names }, `applied ${names.length} database migration(s)`);
    return names;
  } finally {
    await orm.close(true);
  }
}

export async function openOrm(appUrl: string, poolMax: number): Promise<MikroORM> {
  return MikroORM.init(baseOptions(appUrl, poolMax));
}

export type { MikroORM };
