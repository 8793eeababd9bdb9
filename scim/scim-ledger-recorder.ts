// Puts every SCIM change on the audit ledger (actor: the directory token that made it). The change
// and its outbox event commit together; this recorder then appends the events to the ledger in
// outbox order, in batches, and marks each with its ledger sequence number in the same transaction,
// so each lands exactly once. SCIM writes never wait on the ledger lock, and the dispatcher hands
// an event to the workflows only once it is on the ledger.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { LedgerAppender, NewLedgerEntry } from '../audit/index.js';
import type { IdentityEvent } from './identity-event.js';

/** One recorder at a time across processes, so the ledger keeps the outbox's order. */
const RECORDER_LOCK = "hashtextextended('gatehouse.scim.ledger-recorder', 0)";

type StoredEvent = Omit<IdentityEvent, 'seq' | 'occurredAt'>;

/** The ledger entry for one identity event: what changed, by which token, never attribute values beyond names and status. */
export function identityEventToLedgerEntry(event: StoredEvent, occurredAt: string): NewLedgerEntry {
  const r = event.resource;
  const display =
    typeof r.userName === 'string' ? r.userName : typeof r.displayName === 'string' ? r.displayName : undefined;
  return {
    action: `scim.${event.resourceType === 'User' ? 'user' : 'group'}.${event.kind}`,
    actor: { kind: 'idp', id: event.actor.tokenId },
    subject: { type: event.resourceType === 'User' ? 'identity' : 'group', id: event.resourceId, ...(display ? { display: display.slice(0, 256) } : {}) },
    details: {
      eventId: event.id,
      version: event.version,
      occurredAt,
      changedAttributes: event.changedAttributes,
      ...(event.resourceType === 'User' && typeof r.active === 'boolean' ? { active: r.active } : {}),
      ...(typeof r.externalId === 'string' ? { externalId: r.externalId } : {}),
      ...(event.groupsAdded?.length ? { groupsAdded: event.groupsAdded } : {}),
      ...(event.groupsRemoved?.length ? { groupsRemoved: event.groupsRemoved } : {}),
      ...(event.membersAdded?.length ? { membersAdded: event.membersAdded } : {}),
      ...(event.membersRemoved?.length ? { membersRemoved: event.membersRemoved } : {}),
    },
    correlation: { directoryId: event.directoryId },
  };
}

export interface ScimLedgerRecorderDeps {
  orm: MikroORM;
  ledger: LedgerAppender;
  log: Pick<Logger, 'warn' | 'error'>;
  batchSize?: number;
  pollIntervalMs?: number;
}

export function createScimLedgerRecorder(deps: ScimLedgerRecorderDeps) {
  const batchSize = deps.batchSize ?? 500;
  const pollIntervalMs = deps.pollIntervalMs ?? 200;
  let running = false;
  let loop: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  /** Records one batch; returns how many events it put on the ledger (0 when none or another process holds the turn). */
  async function recordOnce(): Promise<number> {
    return deps.orm.em.fork().transactional(async (em) => {
      const conn = em.getConnection();
      const ctx = em.getTransactionContext();
      const [turn] = await conn.execute<{ ok: boolean }[]>(`SELECT pg_try_advisory_xact_lock(${RECORDER_LOCK}) AS ok`, [], 'all', ctx);
      if (!turn?.ok) return 0;
      const rows = await conn.execute<{ seq: string; payload: StoredEvent; occurred_at: string }[]>(
        // Ordered by the column, not the text alias (which would put 10 before 9).
        `SELECT o.seq::text AS seq, o.payload, to_char(o.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS occurred_at
           FROM scim_outbox o WHERE o.ledger_seq IS NULL ORDER BY o.seq LIMIT ?`,
        [batchSize],
        'all',
        ctx,
      );
      if (!rows.length) return 0;
      const entries = await deps.ledger.appendBatch(
        rows.map((r) => identityEventToLedgerEntry(r.payload, r.occurred_at)),
        { em },
      );
      await conn.execute(
        'UPDATE scim_outbox o SET ledger_seq = r.ledger_seq FROM jsonb_to_recordset(?::jsonb) AS r(seq bigint, ledger_seq bigint) WHERE o.seq = r.seq',
        [JSON.stringify(rows.map((r, i) => ({ seq: r.seq, ledger_seq: entries[i]!.seq })))],
        'run',
        ctx,
      );
      return rows.length;
    });
  }

  async function run(): Promise<void> {
    let delay = pollIntervalMs;
    while (running) {
      try {
        const n = await recordOnce();
        delay = pollIntervalMs;
        if (n === batchSize) continue; // more waiting
      } catch (err) {
        deps.log.error({ err }, 'recording SCIM changes on the ledger failed; will retry');
        delay = Math.min(delay * 2, 30_000);
      }
      if (!running) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, delay);
      });
    }
  }

  return {
    name: 'scim-ledger-recorder',
    recordOnce,
    async start() {
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}
