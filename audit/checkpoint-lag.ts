// Whether checkpoints are being signed: entries the newest signed checkpoint does not cover, waiting
// longer than twice the checkpoint interval, mean the checkpointer is stuck (Vault away, a forged
// checkpoint row it cannot extend, every replica down). An idle ledger with no new entries is not
// late, however old its checkpoint.
import type { Ledger } from './ledger-service.js';

export interface CheckpointLag {
  /** Entries the newest checkpoint covers, and entries in the ledger. */
  coveredSize: number;
  headSize: number;
  /** How long the first uncovered entry has waited. */
  waitingMs: number;
}

export async function checkpointLag(ledger: Pick<Ledger, 'head' | 'latestCheckpoint' | 'get'>, intervalMs: number, now: Date = new Date()): Promise<CheckpointLag | undefined> {
  const [head, latest] = await Promise.all([ledger.head(), ledger.latestCheckpoint()]);
  const coveredSize = latest?.treeSize ?? 0;
  if (head.size <= coveredSize) return undefined;
  const firstUncovered = await ledger.get(coveredSize);
  const waitingMs = now.getTime() - new Date(firstUncovered.timestamp).getTime();
  return waitingMs > 2 * intervalMs ? { coveredSize, headSize: head.size, waitingMs } : undefined;
}

/** The /readyz warning for a lag. */
export const describeCheckpointLag = (lag: CheckpointLag) =>
  `ledger checkpoints are late: the newest signed checkpoint covers ${lag.coveredSize} of ${lag.headSize} entries, and entry ${lag.coveredSize} has waited ${Math.round(lag.waitingMs / 1000)} s (more than twice LEDGER_CHECKPOINT_INTERVAL_SECONDS)`;
