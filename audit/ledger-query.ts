// The ledger's query: filters by time, actor, subject, target, action and correlation id, newest
// first (or oldest first), with cursor pagination. The schema is also the API's query string.
import { z } from 'zod';
import { ACTOR_KINDS, type LedgerEntry } from './ledger-types.js';
import { rowToEntry } from './ledger-store.js';
import type { Sql } from './ledger-sql.js';

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z' });
const text = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const ledgerQuerySchema = z
  .object({
    from: isoTime.optional().describe('entries recorded at or after this time'),
    to: isoTime.optional().describe('entries recorded before this time'),
    actorKind: z.enum(ACTOR_KINDS).optional(),
    actorId: text(256).optional(),
    subjectType: text(64).optional(),
    subjectId: text(512).optional(),
    targetType: text(64).optional(),
    targetId: text(512).optional(),
    action: z
      .string()
      .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/, 'must be a dotted action, or a prefix ending in .* (e.g. access.change.*)')
      .max(130)
      .optional()
      .describe('an action, or every action under a prefix: access.change.*'),
    workflowId: text(256).optional(),
    runId: text(256).optional(),
    requestId: text(256).optional(),
    directoryId: text(256).optional(),
    changeId: text(256).optional(),
    order: z.enum(['newest', 'oldest']).default('newest'),
    limit: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500').default(50),
    cursor: z.string().regex(/^\d{1,16}$/, 'must be a cursor returned by a previous page').optional(),
  })
  .strict();

export type LedgerQuery = z.input<typeof ledgerQuerySchema>;

export interface LedgerPage {
  entries: LedgerEntry[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** `doc @> …` matches the GIN index; only the action prefix and time are filtered otherwise. */
export async function queryEntries(sql: Sql, input: LedgerQuery): Promise<LedgerPage> {
  const q = ledgerQuerySchema.parse(input);
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const contains: Record<string, unknown> = {};
  const put = (path: string[], value: string | undefined) => {
    if (value === undefined) return;
    let node = contains;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]!] = value;
  };
  put(['actor', 'kind'], q.actorKind);
  put(['actor', 'id'], q.actorId);
  put(['subject', 'type'], q.subjectType);
  put(['subject', 'id'], q.subjectId);
  put(['target', 'type'], q.targetType);
  put(['target', 'id'], q.targetId);
  for (const key of ['workflowId', 'runId', 'requestId', 'directoryId', 'changeId'] as const) put(['correlation', key], q[key]);
  if (q.action?.endsWith('.*')) {
    where.push(`doc ->> 'action' LIKE ${param(`${q.action.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`)}`);
  } else {
    put(['action'], q.action);
  }
  if (Object.keys(contains).length) where.push(`doc @> ${param(JSON.stringify(contains))}::jsonb`);
  if (q.from) where.push(`recorded_at >= ${param(q.from)}::timestamptz`);
  if (q.to) where.push(`recorded_at < ${param(q.to)}::timestamptz`);
  const newest = q.order === 'newest';
  if (q.cursor !== undefined) where.push(`seq ${newest ? '<' : '>'} ${param(Number(q.cursor))}`);
  const rows = await sql.query<{ seq: string; entry: string; prev_hash: Buffer; hash: Buffer }>(
    `SELECT seq, entry, prev_hash, hash FROM ledger_entry ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq ${newest ? 'DESC' : 'ASC'} LIMIT ${param(q.limit + 1)}`,
    params,
  );
  const page = rows.slice(0, q.limit);
  return {
    entries: page.map(rowToEntry),
    ...(rows.length > q.limit ? { nextCursor: page[page.length - 1]!.seq } : {}),
  };
}
