// Development default for Vault: a local Vault server from VAULT_BIN, the PATH or the setup cache.
//
// Not `vault server -dev`: dev mode keeps everything in memory, so every restart would lose the
// connector secrets PostgreSQL points at and the ledger's signing key. Instead this runs Vault
// with file storage in the data folder, initialises it once with a single unseal key, and unseals
// it at each start. The unseal key and root token sit in a 0600 file beside the storage, which is
// acceptable only on a developer's machine; production sets VAULT_ADDR (required there).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StartupError, assertPortFree, findBinary, startChild, stopStaleProcess, waitUntil } from './process.js';
import { provisionVault, vaultRequest } from './vault-provision.js';

export interface EmbeddedVaultHandle {
  address: string;
  /** A token scoped to Gatehouse's policy (not the root token). */
  token: string;
  version: string;
  stop(): Promise<void>;
}

interface DevKeys {
  unsealKey: string;
  rootToken: string;
  appToken?: string;
}

export function findVaultBinary(explicit: string | undefined): string | undefined {
  return findBinary('vault', explicit);
}

export async function startEmbeddedVault(options: {
  binary: string;
  dataDir: string;
  port: number;
  kvMount: string;
  transitMount: string;
}): Promise<EmbeddedVaultHandle> {
  const dir = path.join(options.dataDir, 'vault');
  mkdirSync(path.join(dir, 'storage'), { recursive: true, mode: 0o700 });
  const pidFile = path.join(dir, 'vault.pid');
  if (stopStaleProcess(pidFile, 'vault')) await new Promise((r) => setTimeout(r, 300));
  await assertPortFree(options.port, 'the local Vault server', 'VAULT_DEV_PORT');

  const address = `http://127.0.0.1:${options.port}`;
  const configFile = path.join(dir, 'config.hcl');
  writeFileSync(
    configFile,
    [
      `storage "file" { path = ${JSON.stringify(path.join(dir, 'storage'))} }`,
      `listener "tcp" {\n  address = "127.0.0.1:${options.port}"\n  cluster_address = "127.0.0.1:0"\n  tls_disable = 1\n}`,
      `api_addr = "${address}"`,
      'disable_mlock = true',
      'ui = false',
      'log_level = "warn"',
    ].join('\n'),
    { mode: 0o600 },
  );

  const child = startChild({
    command: options.binary,
    args: ['server', `-config=${configFile}`],
    logFile: path.join(options.dataDir, 'logs', 'vault.log'),
    pidFile,
    // Vault reads VAULT_* from its environment; keep Gatehouse's own settings out of it.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VAULT_'))),
  });
  try {
    await waitUntil('the local Vault server', async () => {
      const res = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(1000) });
      return res.status > 0;
    }, { timeoutMs: 30_000, child: child.child, logFile: child.logFile });

    const keysFile = path.join(dir, 'dev-keys.json');
    let keys: DevKeys | undefined = existsSync(keysFile) ? (JSON.parse(readFileSync(keysFile, 'utf8')) as DevKeys) : undefined;
    const health = (await (await fetch(`${address}/v1/sys/health?sealedcode=200&uninitcode=200`)).json()) as { initialized: boolean; sealed: boolean; version: string };
    if (!health.initialized) {
      const init = (await vaultRequest(address, undefined, 'PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 })) as { keys_base64: string[]; root_token: string };
      keys = { unsealKey: init.keys_base64[0]!, rootToken: init.root_token };
      writeFileSync(keysFile, JSON.stringify(keys, null, 2), { mode: 0o600 });
    } else if (!keys) {
      throw new StartupError(`the local Vault in ${dir} is initialised but ${keysFile} is missing, so it cannot be unsealed: delete ${dir} to start afresh, or set VAULT_ADDR`);
    }
    const sealed = (await vaultRequest(address, undefined, 'PUT', 'sys/unseal', { key: keys.unsealKey })) as { sealed: boolean };
    if (sealed.sealed) throw new StartupError(`the local Vault in ${dir} did not unseal with the key in ${keysFile}`);
    await waitUntil('the local Vault server to become active', async () => {
      const res = await fetch(`${address}/v1/sys/health`);
      return res.status === 200;
    }, { timeoutMs: 15_000, child: child.child, logFile: child.logFile });

    const token = await provisionVault({
      address,
      rootToken: keys.rootToken,
      kvMount: options.kvMount,
      transitMount: options.transitMount,
      existingToken: keys.appToken,
    });
    if (token !== keys.appToken) {
      keys.appToken = token;
      writeFileSync(keysFile, JSON.stringify(keys, null, 2), { mode: 0o600 });
    }
    return { address, token, version: health.version, stop: () => child.stop() };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
