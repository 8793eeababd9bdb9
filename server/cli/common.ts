// Shared by every CLI command: configuration, logging, one-line failures, and the context that
// one-shot commands use to reach the database and Vault.
import { Runtime as TemporalRuntime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { StartupError } from '../embedded/process.js';
import { Connection } from '@temporalio/client';
import { GatehouseError, dependencyUnavailable, invalid } from '../../shared/errors.js';
import type { Principal } from '../../shared/auth/permissions.js';
import { readFileSync } from 'node:fs';
import { temporalConnectOptions } from '../temporal-tls.js';
import type { MikroORM } from '@mikro-orm/postgresql';
import { adminRequirement } from '../../policies/admin-rules.js';
import type { AdminAction } from '../../policies/policy-document.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { openCliContext, type CliContext } from '../cli-context.js';
import os from 'node:os';
import type { Caller } from '../../connectors/caller.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import type { Actor } from '../../audit/index.js';

/** Who runs a command, as the ledger records it: the operator's account on this machine. */
export function cliActor(): Actor {
  const user = os.userInfo().username;
  return { kind: 'human', id: `os:${user}@${os.hostname()}`, display: `${user} (gatehouse CLI)` };
}

/** The operator as a principal: the CLI holds the database credentials, so it acts as Gatehouse, under the operator's name. */
export function cliOperator(): Principal {
  const name = `cli:${os.userInfo().username}`;
  return { kind: 'system', id: name, displayName: name, roles: [] };
}

/** A document named on the command line; `-` reads stdin. */
export function readCliDocument(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw invalid('file', `cannot read ${file}: ${(err as Error).message}`);
  }
}

export function fail(message: string, code = 1): never {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(code);
}

export function setup(): { config: Config; log: Logger } {
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

/**
 * Stops cleanly on SIGINT/SIGTERM; a second signal exits at once. A repeat within two seconds is
 * the same request arriving twice (a terminal signals the whole process group, and npm also
 * forwards it), so it does not count as the second.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let firstAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt) {
      if (Date.now() - firstAt < 2000) return;
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    firstAt = Date.now();
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

export function reportStartFailure(err: unknown): never {
  if (err instanceof StartupError || err instanceof ConfigError) fail(err.message);
  fail(`failed to start: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * Runs a one-shot command with database (and, on demand, Vault) access; prints a GatehouseError
 * or StartupError as one line and exits non-zero.
 */
export async function withCliContext(fn: (ctx: CliContext, env: { config: Config; log: Logger }) => Promise<void>): Promise<void> {
  const env = setup();
  let ctx: CliContext | undefined;
  try {
    ctx = await openCliContext(env.config, env.log);
    await fn(ctx, env);
  } catch (err) {
    await ctx?.close().catch(() => undefined);
    ctx = undefined;
    if (err instanceof GatehouseError || err instanceof StartupError) fail(err.message);
    throw err;
  } finally {
    await ctx?.close();
  }
}

/**
 * Whoever runs a command, as services see them: the operating-system user named in the ledger, with
 * Gatehouse's own ability (they already hold the database and Vault credentials the command uses).
 */
export function cliCaller(): Caller {
  return {
    actor: cliActor(),
    ability: adminAbilityFor({ kind: 'system', id: 'cli', roles: [] }),
  };
}

/** Connects to Temporal as configured (or to the dev server of a running `npm start`); `why` says what needs it. */
export async function connectCliTemporal(config: Config, why: string): Promise<Connection> {
  try {
    const address = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
    return await Connection.connect({ ...(config.TEMPORAL_ADDRESS ? temporalConnectOptions(config, address) : { address }), connectTimeout: 5000 });
  } catch (err) {
    throw dependencyUnavailable('Temporal', `${why}, and Temporal cannot be reached (${(err as Error).message.split('\n')[0]}); is Gatehouse running?`);
  }
}

/**
 * The CLI makes changes at once. Where the policy in force holds one for approval (issue 12, item 8),
 * it refuses, says why, and names the API call that proposes the change instead.
 */
export async function refuseHeldChange(orm: MikroORM, action: AdminAction, viaApi: string): Promise<void> {
  const inForce = await createPolicyStore({ orm }).inForce();
  if (!inForce) return;
  const requirement = adminRequirement(inForce.version.document, action);
  if (requirement.effect === 'allow') return;
  throw new GatehouseError('forbidden', `${requirement.reason}. The CLI cannot hold a change for approval: propose it through the API (${viaApi}), where an eligible approver decides it`);
}
