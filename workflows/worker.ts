// The Temporal worker: the one place that joins workflow code with real activity dependencies.
// Workflow code is bundled once and cached on disk by the hash of its sources, so a restart
// does not pay for webpack again.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, Worker, type NativeConnection } from '@temporalio/worker';

export const workflowsPath = fileURLToPath(new URL('./index.ts', import.meta.url));
const repoRoot = path.resolve(path.dirname(workflowsPath), '..');

/** Folders whose TypeScript can end up in the workflow bundle. */
const BUNDLED_FOLDERS = ['workflows', 'policies', 'shared', 'audit', 'connectors', 'scim'];

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') out.push(...sourceFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out.sort();
}

function sourceHash(): string {
  const hash = createHash('sha256');
  for (const folder of BUNDLED_FOLDERS) {
    for (const file of sourceFiles(path.join(repoRoot, folder))) {
      hash.update(path.relative(repoRoot, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  }
  const lock = path.join(repoRoot, 'package-lock.json');
  if (existsSync(lock)) hash.update(readFileSync(lock));
  return hash.digest('hex').slice(0, 24);
}

/** Returns the path of a bundle of all workflows, building it when the sources changed. */
export async function workflowBundlePath(cacheDir: string): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, `workflow-bundle-${sourceHash()}.js`);
  if (existsSync(file)) return file;
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  return file;
}

// webpack reports each module it bundles at info level; only problems are worth showing.
const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Every module's activities, already built with their dependencies. */
  activities: object;
  bundlePath: string;
  identity?: string;
  maxConcurrentActivityTaskExecutions?: number;
}

export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    workflowBundle: { codePath: deps.bundlePath },
    activities: deps.activities,
    ...(deps.identity ? { identity: deps.identity } : {}),
    maxConcurrentActivityTaskExecutions: deps.maxConcurrentActivityTaskExecutions ?? 50,
    // Let a running activity finish its connector call before a deploy or scale-in stops the worker.
    shutdownGraceTime: '20 seconds',
  });
}
