// The checkpointer: beside the server, signs a checkpoint every N entries or T seconds. Safe with
// many server processes: each tick only tries the checkpoint lock (another process holding it is
// already doing the work), and the database holds one checkpoint per tree size.
import type { Logger } from 'pino';
import type { Ledger } from './ledger-service.js';

export interface CheckpointerDeps {
  ledger: Pick<Ledger, 'checkpoint'>;
  /** Sign when this many entries arrived since the last checkpoint... */
  everyEntries: number;
  /** ...or when any entry arrived and the last checkpoint is this old. */
  intervalMs: number;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** How often to look (default: a fifth of the interval, between 1 and 5 seconds). */
  pollMs?: number;
}

export function createCheckpointer(deps: CheckpointerDeps) {
  const pollMs = deps.pollMs ?? Math.min(5_000, Math.max(1_000, Math.floor(deps.intervalMs / 5)));
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;
  let failing = false;

  const tick = async () => {
    try {
      const cp = await deps.ledger.checkpoint({ minNewEntries: deps.everyEntries, maxAgeMs: deps.intervalMs, wait: false });
      if (cp) deps.log.info({ treeSize: cp.treeSize, keyVersion: cp.keyVersion }, 'signed a ledger checkpoint');
      if (failing) deps.log.info('ledger checkpoints are being signed again');
      failing = false;
    } catch (err) {
      // Vault or PostgreSQL away: entries stay safe in the chain; the next tick tries again.
      if (!failing) deps.log.warn({ err: (err as Error).message }, 'could not sign a ledger checkpoint; retrying');
      failing = true;
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        schedule();
      });
    }, pollMs);
    timer.unref();
  };

  return {
    name: 'ledger checkpointer',
    async start() {
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
