// The `gatehouse` command line: start the server, run a worker alone, migrate, check the system,
// and each module's commands. Start-up failures print one line naming what failed and how to fix
// it, and exit non-zero.
import { Command } from 'commander';
import { startGatehouse, startWorker } from './server.js';
import { startRuntime } from './runtime.js';
import { runMigrations } from './db/orm.js';
import { GATEHOUSE_VERSION } from './version.js';
import { runSelfCheck } from './selfcheck.js';
import { fail, onShutdown, reportStartFailure, setup } from './cli/common.js';
import { registerConnectorCommands } from './cli/connector-commands.js';
import { registerTokenCommands } from './cli/token-commands.js';
import { registerAuthCommands } from './cli/auth-commands.js';
import { registerAuditCommands } from './cli/audit-commands.js';
import { registerDirectoryCommands } from './cli/directory-commands.js';
import { registerPolicyCommands } from './cli/policy-commands.js';
import { registerFlowCommands } from './cli/flow-commands.js';

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

// Each module's commands register themselves here.
registerConnectorCommands(program);
registerTokenCommands(program);
registerAuthCommands(program);
registerAuditCommands(program);
registerDirectoryCommands(program);
registerPolicyCommands(program);
registerFlowCommands(program);

await program.parseAsync(process.argv);
