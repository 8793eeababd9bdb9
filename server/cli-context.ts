// What a one-shot CLI command (create a directory, issue a token, verify the ledger) needs: the
// database as the application role, and the secret store, without starting a server. Uses the
// configured services, or the embedded ones of this data folder (started for the command when no
// server is running).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.js';
import { dataDir } from './config.js';
import type { Logger } from './logger.js';
import { openOrm } from './db/orm.js';
import { isPortFree, StartupError } from './embedded/process.js';
import type { EmbeddedPostgresHandle } from './embedded/postgres.js';
import { describePgError, startEmbeddedDatabase, vaultStoreOptions } from './runtime.js';
import { existsSync, readFileSync } from 'node:fs';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import { createLedger, openLedgerRolePool, type Ledger } from '../audit/index.js';
import { VaultSecretStore } from '../shared/secrets/vault-store.js';
import { LocalDevSecretStore } from '../shared/secrets/local-store.js';
import path from 'node:path';

export interface CliContext {
  orm: MikroORM;
  /** The secret store, opened on first use. */
  secrets(): Promise<SecretStore>;
  /** The audit ledger; Vault is reached only if a command signs or reads keys. */
  ledger: Ledger;
  close(): Promise<void>;
}

/** Vault as configured, or the local Vault of a running `npm start` in this data folder. */
async function openCliSecrets(config: Config): Promise<SecretStore> {
  const mounts = { kvMount: config.VAULT_KV_MOUNT, transitMount: config.VAULT_TRANSIT_MOUNT };
  if (config.VAULT_ADDR) {
    return VaultSecretStore.connect(vaultStoreOptions({ ...config, VAULT_ADDR: config.VAULT_ADDR }));
  }
  const keysFile = path.join(dataDir(config), 'vault', 'dev-keys.json');
  if (!(await isPortFree(config.VAULT_DEV_PORT)) && existsSync(keysFile)) {
    const keys = JSON.parse(readFileSync(keysFile, 'utf8')) as { appToken?: string };
    if (keys.appToken) return VaultSecretStore.connect({ address: `http://127.0.0.1:${config.VAULT_DEV_PORT}`, token: keys.appToken, ...mounts });
  }
  const localStore = path.join(dataDir(config), 'local-secrets', 'store.json');
  if (existsSync(localStore) && config.NODE_ENV !== 'production') return new LocalDevSecretStore(localStore);
  throw new StartupError('this command needs Vault: start Gatehouse first (npm start), or set VAULT_ADDR and VAULT_TOKEN');
}

export async function openCliContext(config: Config, log: Logger): Promise<CliContext> {
  let appUrl: string;
  let ledgerUrl: string | undefined;
  let embedded: EmbeddedPostgresHandle | undefined;
  if (config.DATABASE_URL) {
    appUrl = config.DATABASE_APP_URL ?? config.DATABASE_URL;
    ledgerUrl = config.DATABASE_LEDGER_URL ?? appUrl;
  } else {
    const credentialsFile = path.join(dataDir(config), 'postgres-credentials.json');
    const running = !(await isPortFree(config.EMBEDDED_POSTGRES_PORT));
    if (running && existsSync(credentialsFile)) {
      const c = JSON.parse(readFileSync(credentialsFile, 'utf8')) as { appPassword: string; ledgerPassword?: string };
      appUrl = `postgresql://gatehouse_app:${c.appPassword}@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/gatehouse`;
      if (c.ledgerPassword) ledgerUrl = `postgresql://gatehouse_ledger:${c.ledgerPassword}@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/gatehouse`;
    } else {
      const started = await startEmbeddedDatabase(config, log, () => undefined);
      embedded = started.embedded;
      appUrl = started.appUrl;
      ledgerUrl = started.ledgerUrl;
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
  let secrets: Promise<SecretStore> | undefined;
  const openSecrets = () => (secrets ??= openCliSecrets(config));
  const checkpointPool = ledgerUrl ? openLedgerRolePool(ledgerUrl) : undefined;
  return {
    orm,
    secrets: openSecrets,
    ledger: createLedger({
      orm,
      signer: {
        sign: async (name, input) => (await openSecrets()).sign(name, input),
        publicKeys: async (name) => (await openSecrets()).publicKeys(name),
      },
      ...(checkpointPool ? { checkpointPool } : {}),
    }),
    async close() {
      await orm.close(true);
      await checkpointPool?.end();
      if (secrets) await (await secrets.catch(() => undefined))?.close();
      await embedded?.stop();
    },
  };
}
