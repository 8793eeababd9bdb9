// Development default for Temporal: the Temporal CLI's dev server, its state in a SQLite file in the
// data folder, started from TEMPORAL_CLI_PATH, the PATH, or the setup script's cache.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';
import { StartupError, assertPortFree, findBinary, startChild, stopStaleProcess, waitUntil } from './process.js';

export interface EmbeddedTemporalHandle {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

export function findTemporalCli(explicit: string | undefined): string {
  const bin = findBinary('temporal', explicit);
  if (!bin) {
    throw new StartupError(
      explicit
        ? `TEMPORAL_CLI_PATH=${explicit} is not an executable file`
        : 'the Temporal CLI was not found on the PATH or in the setup cache: run `npm run setup` to build it, set TEMPORAL_CLI_PATH, or set TEMPORAL_ADDRESS to use a Temporal cluster',
    );
  }
  return bin;
}

export async function startEmbeddedTemporal(options: {
  binary: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
}): Promise<EmbeddedTemporalHandle> {
  const dir = path.join(options.dataDir, 'temporal');
  mkdirSync(dir, { recursive: true });
  const pidFile = path.join(dir, 'dev-server.pid');
  const stale = stopStaleProcess(pidFile, 'start-dev');
  if (stale) await new Promise((r) => setTimeout(r, 300));
  await assertPortFree(options.port, 'the Temporal dev server', 'TEMPORAL_DEV_PORT');
  await assertPortFree(options.uiPort, 'the Temporal dev server UI', 'TEMPORAL_DEV_UI_PORT');

  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    '--ui-port', String(options.uiPort),
    '--db-filename', path.join(dir, 'dev.sqlite'),
    '--log-level', 'warn',
    '--log-format', 'json',
    ...(options.namespace === 'default' ? [] : ['--namespace', options.namespace]),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
  const child = startChild({ command: options.binary, args, logFile: path.join(options.dataDir, 'logs', 'temporal.log'), pidFile });
  const address = `127.0.0.1:${options.port}`;
  try {
    await waitUntil('the Temporal dev server', async () => {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: options.namespace });
        return true;
      } finally {
        await connection.close();
      }
    }, { timeoutMs: 60_000, intervalMs: 300, child: child.child, logFile: child.logFile });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { address, uiUrl: `http://127.0.0.1:${options.uiPort}`, stop: () => child.stop() };
}
