// Helpers for the development services Gatehouse starts itself: finding binaries, checking ports,
// starting and stopping child processes, and clearing ones left behind by a killed run.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A failure to start, as one line naming what failed and how to fix it. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export function setupCacheBin(): string {
  const base = process.env.GATEHOUSE_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'gatehouse');
  return path.join(base, 'bin');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds a binary: the explicit path, then the PATH, then the setup script's cache. */
export function findBinary(name: string, explicit: string | undefined): string | undefined {
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  const cached = path.join(setupCacheBin(), name);
  return isExecutable(cached) ? cached : undefined;
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function assertPortFree(port: number, what: string, variable: string, host = '127.0.0.1'): Promise<void> {
  if (!(await isPortFree(port, host))) {
    throw new StartupError(`port ${port} for ${what} is already in use: stop whatever listens there, or set ${variable} to a free port`);
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

export async function waitUntil(what: string, check: () => Promise<boolean>, options: { timeoutMs: number; intervalMs?: number; child?: ChildProcess; logFile?: string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.child && options.child.exitCode !== null) {
      throw new StartupError(`${what} exited during start-up with code ${options.child.exitCode}${options.logFile ? `; see ${options.logFile}` : ''}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new StartupError(`${what} did not become ready within ${Math.round(options.timeoutMs / 1000)} s${options.logFile ? `; see ${options.logFile}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
}

/**
 * A process we started in an earlier run may survive a SIGKILL of its parent. The pid file lets
 * the next start stop it, but only when /proc says it is still the same program.
 */
export function stopStaleProcess(pidFile: string, commandFragment: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    if (!cmdline.includes(commandFragment)) return undefined;
    process.kill(pid, 'SIGKILL');
    return pid;
  } catch {
    return undefined;
  }
}

export interface ManagedChild {
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts a service with its output in a log file and its pid recorded for stale-process cleanup. */
export function startChild(options: { command: string; args: string[]; logFile: string; pidFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): ManagedChild {
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, 'a', 0o600);
  const child = spawn(options.command, options.args, {
    stdio: ['ignore', fd, fd],
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: false,
  });
  closeSync(fd);
  if (child.pid) writeFileSync(options.pidFile, String(child.pid), { mode: 0o600 });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    child,
    logFile: options.logFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(options.pidFile, { force: true });
    },
  };
}
