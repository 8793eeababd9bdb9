// The `gatehouse` command line: start the server, run a worker alone, migrate, check the system.
// Start-up failures print one line naming what failed and how to fix it, and exit non-zero.
import { Command } from 'commander';
import { Runtime as TemporalRuntime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { StartupError } from './embedded/process.js';
import { startGatehouse, startWorker } from './server.js';
import { startRuntime } from './runtime.js';
import { runMigrations } from './db/orm.js';
import { GATEHOUSE_VERSION } from './version.js';
import { runSelfCheck } from './selfcheck.js';

function fail(message: string, code = 1): never {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(code);
}

function setup(): { config: Config; log: Logger } {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  const log = createLogger({ level: config.LOG_LEVEL });
  // The Temporal SDK's own logs go through ours, at warn and above.
  const level: LogLevel = 'WARN';
  TemporalRuntime.install({
    // Shutdown is ours to order (HTTP, then the worker, then the services); the SDK must not act on signals.
    shutdownSignals: [],
    logger: new DefaultLogger(level, (entry) => {
      const fn = entry.level === 'ERROR' ? log.error.bind(log) : log.warn.bind(log);
      fn({ temporal: entry.meta }, entry.message);
    }),
  });
  return { config, log };
}

/** Stops cleanly on SIGINT/SIGTERM; a second signal exits at once. */
function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    log.info(`${signal}: shutting down`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

function reportStartFailure(err: unknown): never {
  if (err instanceof StartupError || err instanceof ConfigError) fail(err.message);
  fail(`failed to start: ${err instanceof Error ? err.message : String(err)}`);
}

const program = new Command()
  .name('gatehouse')
  .description('Gatehouse: identity-governance integration control plane')
  .version(GATEHOUSE_VERSION);

program
  .command('start', { isDefault: true })
  .description('run the server (SCIM, API, UI) with the worker in-process, starting embedded services for whatever is not configured')
  .action(async () => {
    const { config, log } = setup();
    let running;
    try {
      running = await startGatehouse(config, log);
    } catch (err) {
      reportStartFailure(err);
    }
    onShutdown(log, running.stop);
  });

program
  .command('worker')
  .description('run only a Temporal worker, for scale-out; needs DATABASE_URL, TEMPORAL_ADDRESS and VAULT_ADDR')
  .action(async () => {
    const { config, log } = setup();
    for (const key of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'VAULT_ADDR'] as const) {
      if (!config[key]) fail(`${key} is required for a standalone worker: point it at the services the server uses`, 2);
    }
    let runtime;
    let worker;
    try {
      runtime = await startRuntime(config, log);
      worker = await startWorker(runtime);
    } catch (err) {
      await runtime?.stop();
      reportStartFailure(err);
    }
    log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
    const rt = runtime;
    const w = worker;
    onShutdown(log, async () => {
      w.worker.shutdown();
      await w.done;
      await rt.stop();
    });
    await w.done.catch((err: unknown) => {
      log.fatal({ err }, 'worker stopped with an error');
      process.exitCode = 1;
    });
  });

program
  .command('migrate')
  .description('apply pending database migrations as the owner role (DATABASE_URL), then exit')
  .action(async () => {
    const { config, log } = setup();
    if (!config.DATABASE_URL) fail('DATABASE_URL is required (npm start migrates the embedded database by itself)', 2);
    try {
      const applied = await runMigrations(config.DATABASE_URL, log);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
    } catch (err) {
      fail(`migration failed: ${(err as Error).message}`);
    }
  });

program
  .command('selfcheck')
  .description('run the self-check workflow on the running Gatehouse: Temporal runs an activity that reads a secret from Vault and writes a row to PostgreSQL')
  .action(async () => {
    const { config } = setup();
    try {
      const result = await runSelfCheck(config);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } catch (err) {
      fail(`self-check failed: ${(err as Error).message}`);
    }
  });

await program.parseAsync(process.argv);
