// What a one-shot CLI command (create a directory, issue a token, verify the ledger) needs: the
// database as the application role, and the secret store, without starting a server. Uses the
// configured services, or the embedded ones of this data folder (started for the command when no
// server is running).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.js';
import { dataDir } from './config.js';
import type { Logger } from './logger.js';
import { openOrm, runMigrations } from './db/orm.js';
import { bootstrapDatabase } from './db/bootstrap.js';
import { isPortFree, StartupError } from './embedded/process.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded/postgres.js';
import { describePgError } from './runtime.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface CliContext {
  orm: MikroORM;
  close(): Promise<void>;
}

export async function openCliContext(config: Config, log: Logger): Promise<CliContext> {
  let appUrl: string;
  let embedded: EmbeddedPostgresHandle | undefined;
  if (config.DATABASE_URL) {
    appUrl = config.DATABASE_APP_URL ?? config.DATABASE_URL;
  } else {
    const credentialsFile = path.join(dataDir(config), 'postgres-credentials.json');
    const running = !(await isPortFree(config.EMBEDDED_POSTGRES_PORT));
    if (running && existsSync(credentialsFile)) {
      const c = JSON.parse(readFileSync(credentialsFile, 'utf8')) as { appPassword: string };
      appUrl = `postgresql://gatehouse_app:${c.appPassword}@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/gatehouse`;
    } else {
      embedded = await startEmbeddedPostgres({ dataDir: dataDir(config), port: config.EMBEDDED_POSTGRES_PORT });
      const urls = await bootstrapDatabase({
        superuserUrl: embedded.superuserUrl,
        database: 'gatehouse',
        ownerPassword: embedded.credentials.ownerPassword,
        appPassword: embedded.credentials.appPassword,
      });
      await runMigrations(urls.ownerUrl, log);
      appUrl = urls.appUrl;
    }
  }
  let orm: MikroORM;
  try {
    orm = await openOrm(appUrl, 2);
    await orm.em.getConnection().execute('select 1');
  } catch (err) {
    await embedded?.stop();
    throw new StartupError(describePgError(err, appUrl, config.DATABASE_APP_URL ? 'DATABASE_APP_URL' : 'DATABASE_URL'));
  }
  return {
    orm,
    async close() {
      await orm.close(true);
      await embedded?.stop();
    },
  };
}
