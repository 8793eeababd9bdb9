// Delivers the identity events in scim_outbox to a consumer, at least once and in order per identity,
// with any number of server processes running it. Each round locks the oldest undelivered event of
// each identity (SELECT … FOR UPDATE SKIP LOCKED, only events with no earlier undelivered event of
// the same identity), delivers them, and marks them delivered in the same transaction. A process that
// dies mid-round releases its locks with its connection, and another delivers those events again;
// a failed delivery is retried with backoff and holds back later events of that identity only.
// Only events already on the audit ledger are delivered (scim-ledger-recorder.ts).
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { IdentityEvent } from './identity-event.js';

export interface OutboxDispatcherDeps {
  pool: Pool;
  /** Hands one event to the consumer; resolves once it is durably accepted. Must tolerate duplicates (event.id). */
  deliver: (event: IdentityEvent) => Promise<void>;
  log: Pick<Logger, 'warn' | 'error' | 'info'>;
  /** Identities handled per round; their events are delivered concurrently. */
  batchSize?: number;
  /** Pause between rounds when there is nothing to deliver. */
  pollIntervalMs?: number;
  /** A delivery still pending after this long counts as failed (and is retried). */
  deliveryTimeoutMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Delivered events are kept this long, then deleted. */
  retainDeliveredMs?: number;
  name?: string;
}

export interface OutboxDispatcher {
  name: string;
  /** One round; what it delivered and what failed. */
  dispatchOnce(): Promise<{ delivered: number; failed: number }>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface OutboxRow {
  seq: string;
  attempts: number;
  payload: Omit<IdentityEvent, 'seq' | 'occurredAt'>;
  occurred_at: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`delivery did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function createOutboxDispatcher(deps: OutboxDispatcherDeps): OutboxDispatcher {
  const batchSize = deps.batchSize ?? 32;
  const pollIntervalMs = deps.pollIntervalMs ?? 1000;
  const deliveryTimeoutMs = deps.deliveryTimeoutMs ?? 30_000;
  const retryBaseMs = deps.retryBaseMs ?? 1000;
  const retryMaxMs = deps.retryMaxMs ?? 5 * 60_000;
  const retainDeliveredMs = deps.retainDeliveredMs ?? 7 * 24 * 3600_000;
  const name = deps.name ?? 'scim-outbox-dispatcher';

  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let lastPrune = 0;

  async function dispatchOnce(): Promise<{ delivered: number; failed: number }> {
    const client = await deps.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(
        `SELECT o.seq::text AS seq, o.attempts, o.payload,
                to_char(o.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at
           FROM scim_outbox o
          WHERE o.delivered_at IS NULL
            AND o.ledger_seq IS NOT NULL
            AND o.available_at <= now()
            AND NOT EXISTS (
                  SELECT 1 FROM scim_outbox p
                   WHERE p.identity_key = o.identity_key AND p.delivered_at IS NULL AND p.seq < o.seq)
          ORDER BY o.seq
          LIMIT $1
          FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      const outcomes = await Promise.allSettled(
        rows.map((r) => withTimeout(deps.deliver({ ...r.payload, seq: r.seq, occurredAt: r.occurred_at } as IdentityEvent), deliveryTimeoutMs)),
      );
      const delivered: string[] = [];
      let failed = 0;
      for (const [i, outcome] of outcomes.entries()) {
        const row = rows[i]!;
        if (outcome.status === 'fulfilled') {
          delivered.push(row.seq);
          continue;
        }
        failed++;
        const delayMs = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(row.attempts, 20));
        const message = (outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason)).slice(0, 500);
        await client.query(
          `UPDATE scim_outbox SET attempts = attempts + 1, last_error = $2, available_at = now() + make_interval(secs => $3) WHERE seq = $1`,
          [row.seq, message, delayMs / 1000],
        );
        deps.log.warn({ eventId: row.payload.id, identityKey: row.payload.identityKey, attempts: row.attempts + 1, retryInMs: delayMs, error: message }, 'identity event delivery failed; will retry');
      }
      if (delivered.length) {
        await client.query('UPDATE scim_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE seq = ANY($1::bigint[])', [delivered]);
      }
      await client.query('COMMIT');
      return { delivered: delivered.length, failed };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async function prune(): Promise<void> {
    if (Date.now() - lastPrune < 3600_000) return;
    lastPrune = Date.now();
    await deps.pool.query(`DELETE FROM scim_outbox WHERE delivered_at < now() - make_interval(secs => $1)`, [retainDeliveredMs / 1000]);
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function run(): Promise<void> {
    let errorDelay = pollIntervalMs;
    while (running) {
      try {
        const { delivered, failed } = await dispatchOnce();
        await prune();
        errorDelay = pollIntervalMs;
        if (delivered + failed < batchSize && running) await sleep(pollIntervalMs);
      } catch (err) {
        deps.log.error({ err }, 'the identity event dispatcher could not reach the outbox; retrying');
        await sleep(errorDelay);
        errorDelay = Math.min(errorDelay * 2, 30_000);
      }
    }
  }

  return {
    name,
    dispatchOnce,
    async start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      loop = undefined;
    },
  };
}
