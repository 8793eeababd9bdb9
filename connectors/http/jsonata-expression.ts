// JSONata expressions from a connector's configuration, compiled once to check them and evaluated in a
// worker thread with a time and depth budget: an administrator's mapping must not be able to stall a
// worker or the server. Two limits hold (issue 12, item 5):
// - JSONata calls entry and exit hooks around every step; the worker thread checks the budget there,
//   from its own module scope, which an expression cannot see or rebind (`$__budget := {}`).
// - A single step that never comes back (a regular expression backtracking for minutes) calls no
//   hook, so the main thread keeps a wall-clock timer per evaluation and terminates the thread when it
//   passes. The main thread's event loop never runs the expression, so nothing can starve that timer.
// Failures name the JSONata error code and the character it happened at, never its message: those
// quote the values being mapped, which can be a newly issued credential.
import { Worker } from 'node:worker_threads';
import jsonata from 'jsonata';
import { GatehouseError, invalid } from '../../shared/errors.js';

export interface CompiledExpression {
  readonly field: string;
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
}

export interface ExpressionLimits {
  timeoutMs: number;
  maxDepth: number;
}

const DEFAULT_LIMITS: ExpressionLimits = { timeoutMs: 1000, maxDepth: 300 };
/** How long past its own deadline an evaluation may take before its thread is terminated. */
const HARD_STOP_GRACE_MS = 250;
/** Threads evaluating at once in this process; more evaluations wait their turn. */
const THREADS = 2;

interface WorkerError {
  code?: string;
  position?: number;
  token?: string;
  message?: string;
}
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WorkerError };
interface Job {
  source: string;
  input: unknown;
  bindings: Record<string, unknown>;
  limits: ExpressionLimits;
  resolve(value: unknown): void;
  reject(error: WorkerError): void;
}

const workerUrl = new URL('./jsonata-worker.mjs', import.meta.url);

/** A few threads, each running one evaluation at a time; a thread that overruns is terminated and replaced. */
class MappingThreads {
  private readonly idle: Worker[] = [];
  private started = 0;
  private readonly waiting: Job[] = [];
  private nextId = 1;

  run(job: Omit<Job, 'resolve' | 'reject'>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiting.length) {
      const worker = this.idle.pop() ?? (this.started < THREADS ? this.spawn() : undefined);
      if (!worker) return;
      this.dispatch(worker, this.waiting.shift()!);
    }
  }

  private spawn(): Worker {
    this.started++;
    const worker = new Worker(workerUrl);
    // Idle threads never keep a process (the CLI, a test) alive.
    worker.unref();
    return worker;
  }

  private dispatch(worker: Worker, job: Job): void {
    const id = this.nextId++;
    let settled = false;
    const finish = (healthy: boolean) => {
      settled = true;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onFailure);
      worker.off('exit', onFailure);
      if (healthy) this.idle.push(worker);
      else {
        this.started--;
        void worker.terminate();
      }
      this.pump();
    };
    const onMessage = (reply: Reply) => {
      if (reply.id !== id || settled) return;
      finish(true);
      if (reply.ok) job.resolve(reply.value);
      else job.reject(reply.error);
    };
    const onFailure = () => {
      if (settled) return;
      finish(false);
      job.reject({ code: 'GH04', message: 'stopped: the thread evaluating it failed' });
    };
    const timer = setTimeout(() => {
      if (settled) return;
      finish(false);
      job.reject({ code: 'GH02', message: `ran longer than ${job.limits.timeoutMs} ms and was stopped` });
    }, job.limits.timeoutMs + HARD_STOP_GRACE_MS);
    worker.on('message', onMessage);
    worker.once('error', onFailure);
    worker.once('exit', onFailure);
    try {
      worker.postMessage({ id, source: job.source, input: job.input, bindings: job.bindings, timeoutMs: job.limits.timeoutMs, maxDepth: job.limits.maxDepth });
    } catch {
      // Input that cannot be sent to a thread (a function) is not data to map.
      finish(true);
      job.reject({ code: 'GH03', message: 'was given a value that is not data' });
    }
  }
}

let threads: MappingThreads | undefined;

export function compileExpression(source: string, field: string, limits: ExpressionLimits = DEFAULT_LIMITS): CompiledExpression {
  try {
    jsonata(source);
  } catch (err) {
    throw invalid(field, `is not a valid JSONata expression (${(err as { message?: string }).message ?? String(err)})`);
  }
  return {
    field,
    async evaluate(input, bindings = {}) {
      threads ??= new MappingThreads();
      try {
        return await threads.run({ source, input, bindings, limits });
      } catch (err) {
        throw new GatehouseError('invalid_request', `${field}: the mapping failed (${describeFailure(err, source)})`, { field });
      }
    },
  };
}

/**
 * A failure without the data: our own budget messages whole; JSONata's by code and position, with
 * the token only where it is text of the expression itself (a function or field name the
 * configuration wrote, not a value it was given).
 */
function describeFailure(err: unknown, source: string): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; position?: unknown; token?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code?.startsWith('GH') && typeof e.message === 'string') return e.message;
  const at = typeof e.position === 'number' ? ` at character ${e.position}` : '';
  const token = typeof e.token === 'string' && e.token.length <= 64 && /^[$\w.]+$/.test(e.token) && source.includes(e.token) ? ` near "${e.token}"` : '';
  return code ? `JSONata ${code}${at}${token}` : 'an error without a JSONata code';
}
