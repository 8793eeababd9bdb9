// `gatehouse audit verify`: walks the whole chain, recomputes every entry hash and the Merkle tree,
// compares the tree heads with the signed checkpoints, checks their signatures offline, and checks
// that the database still enforces append-only. Any tampering is named, with the first bad entry.
import type pg from 'pg';
import { GENESIS_HASH, chainHash } from './ledger-entry-codec.js';
import { readHead, readRawEntries, type RawEntryRow } from './ledger-store.js';
import { sqlOnClient, type Sql } from './ledger-sql.js';
import { MerkleAccumulator, leafHash } from './merkle.js';
import { STORED_LEVEL } from './ledger-tree.js';
import { checkCheckpoint, type Checkpoint, type PublicKey } from './checkpoint-note.js';

export type ProblemKind =
  | 'entry-missing'
  | 'entry-altered'
  | 'entry-rewritten'
  | 'entry-inserted'
  | 'entries-reordered'
  | 'chain-broken'
  | 'ledger-truncated'
  | 'checkpoint-root-mismatch'
  | 'checkpoint-bad-signature'
  | 'checkpoint-unknown-key'
  | 'checkpoint-malformed'
  | 'tree-store-mismatch'
  | 'protection-missing';

export interface VerificationProblem {
  kind: ProblemKind;
  /** The first entry the problem is about. */
  seq?: number;
  /** The checkpoint the problem is about. */
  treeSize?: number;
  message: string;
}

export interface VerificationReport {
  ok: boolean;
  /** Entries read. */
  entries: number;
  /** Checkpoints found, and how many of them verified (signature and recomputed root). */
  checkpoints: { total: number; verified: number; latestTreeSize?: number };
  /** The first entry that is not what was appended, when there is one. */
  firstBadSeq?: number;
  problems: VerificationProblem[];
  /** Not tampering, but weaker than it should be (e.g. the server connects as the table owner). */
  warnings: string[];
}

export type VerifyProgress = (done: number, total: number) => void;

const MAX_PROBLEMS = 100;
const LEDGER_TABLES = ['ledger_entry', 'ledger_checkpoint', 'ledger_tree_node', 'ledger_instance'];

/** The database's side of append-only: triggers present and ALWAYS, no rewrite privilege for the app. */
async function checkProtections(sql: Sql): Promise<{ problems: VerificationProblem[]; warnings: string[] }> {
  const problems: VerificationProblem[] = [];
  const warnings: string[] = [];
  const triggers = await sql.query<{ table: string; name: string; enabled: string }>(
    `SELECT c.relname AS "table", t.tgname AS name, t.tgenabled AS enabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relname = ANY($1) AND NOT t.tgisinternal`,
    [LEDGER_TABLES],
  );
  for (const table of LEDGER_TABLES) {
    for (const suffix of ['no_update_or_delete', 'no_truncate']) {
      const trigger = triggers.find((t) => t.table === table && t.name === `${table}_${suffix}`);
      if (!trigger) problems.push({ kind: 'protection-missing', message: `trigger ${table}_${suffix} is gone: ${table} can be rewritten` });
      else if (trigger.enabled !== 'A') {
        problems.push({ kind: 'protection-missing', message: `trigger ${table}_${suffix} is ${trigger.enabled === 'D' ? 'disabled' : 'not ENABLE ALWAYS'}: ${table} can be rewritten` });
      }
    }
  }
  const privileges = await sql.query<{ role: string; table: string; privilege: string; granted: boolean }>(
    `SELECT r.role, t.name AS "table", p.privilege, has_table_privilege(r.role, t.name, p.privilege) AS granted
       FROM (SELECT DISTINCT unnest(ARRAY['gatehouse_app', current_user::text])) AS r(role), unnest($1::text[]) AS t(name), unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)`,
    [LEDGER_TABLES],
  );
  const [{ current } = { current: '' }] = await sql.query<{ current: string }>('SELECT current_user AS current');
  for (const p of privileges.filter((x) => x.granted)) {
    if (p.role === 'gatehouse_app') problems.push({ kind: 'protection-missing', message: `the application role gatehouse_app holds ${p.privilege} on ${p.table}` });
    else if (p.role === current) warnings.push(`this connection's role ${current} may ${p.privilege} ${p.table} (only the triggers stop it); connect as the application role`);
  }
  return { problems, warnings: [...new Set(warnings)].slice(0, 3) };
}

/** Names what a broken link between two stored, contiguous entries means, from the later one's content. */
function diagnoseBrokenLink(prev: RawEntryRow, row: RawEntryRow): VerificationProblem {
  let claimed: number | undefined;
  try {
    claimed = (JSON.parse(row.entry) as { seq?: unknown }).seq as number;
  } catch {
    claimed = undefined;
  }
  if (claimed === row.seq) {
    return { kind: 'entry-rewritten', seq: prev.seq, message: `entry ${prev.seq} was rewritten: its hash was recomputed, but entry ${row.seq} still links to the original` };
  }
  if (claimed === prev.seq) {
    return { kind: 'entry-inserted', seq: prev.seq, message: `entry ${prev.seq} was inserted: the entry that was ${prev.seq} now sits at ${row.seq}, and the entries after it moved up` };
  }
  if (typeof claimed === 'number') {
    return { kind: 'entries-reordered', seq: row.seq, message: `the entry at position ${row.seq} is entry ${claimed}: entries were reordered` };
  }
  return { kind: 'chain-broken', seq: row.seq, message: `entry ${row.seq} does not link to entry ${prev.seq}` };
}

export async function verifyLedger(
  deps: { pool: pg.Pool; origin: string; publicKeys: () => Promise<PublicKey[]>; checkpoints: () => Promise<Checkpoint[]> },
  options: { onProgress?: VerifyProgress } = {},
): Promise<VerificationReport> {
  const problems: VerificationProblem[] = [];
  const report = (p: VerificationProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const client = await deps.pool.connect();
  try {
    const sql = sqlOnClient(client);
    const protections = await checkProtections(sql);
    protections.problems.forEach(report);

    const [keys, checkpoints, head] = await Promise.all([deps.publicKeys(), deps.checkpoints(), readHead(sql)]);
    const signed = new Set<number>();
    for (const cp of checkpoints) {
      const problem = checkCheckpoint(cp, keys, deps.origin);
      if (problem) report({ ...problem, treeSize: cp.treeSize });
      else signed.add(cp.treeSize);
    }

    const stored = new Map<string, Buffer>();
    for (const row of await sql.query<{ level: number; idx: string; hash: Buffer }>('SELECT level, idx, hash FROM ledger_tree_node')) {
      stored.set(`${row.level}/${row.idx}`, row.hash);
    }
    const acc = new MerkleAccumulator((level, index, hash) => {
      if (level < STORED_LEVEL) return;
      const kept = stored.get(`${level}/${index}`);
      if (kept && !kept.equals(hash)) {
        report({ kind: 'tree-store-mismatch', seq: index * 2 ** level, message: `the stored subtree over entries ${index * 2 ** level}..${(index + 1) * 2 ** level - 1} differs from the one recomputed from the entries` });
      }
    });

    let rootsMatched = 0;
    let cpAt = 0;
    let expected = 0;
    let prev: RawEntryRow | undefined;
    let prevFlagged = false;
    let read = 0;
    const total = head.size;
    for await (const page of readRawEntries(sql, 0, Number.MAX_SAFE_INTEGER)) {
      for (const row of page) {
        let flagged = false;
        const gap = row.seq !== expected;
        if (gap) {
          report({ kind: 'entry-missing', seq: expected, message: row.seq - expected === 1 ? `entry ${expected} is missing (deleted)` : `entries ${expected}..${row.seq - 1} are missing (deleted)` });
          flagged = true;
        }
        const computed = chainHash(row.prevHash, row.entry);
        if (!computed.equals(row.hash)) {
          report({ kind: 'entry-altered', seq: row.seq, message: `entry ${row.seq} was changed: its content no longer hashes to its stored hash` });
          flagged = true;
        } else if (!gap) {
          const linked = prev ? row.prevHash.equals(prev.hash) : row.prevHash.equals(GENESIS_HASH);
          if (!linked && !prevFlagged) {
            report(prev ? diagnoseBrokenLink(prev, row) : { kind: 'chain-broken', seq: row.seq, message: `entry ${row.seq} is the first entry but does not start from the genesis hash` });
            flagged = true;
          } else if (!linked) flagged = true;
        }
        acc.push(leafHash(computed));
        const size = row.seq + 1;
        while (cpAt < checkpoints.length && checkpoints[cpAt]!.treeSize <= size) {
          const cp = checkpoints[cpAt++]!;
          const root = cp.treeSize === size && acc.size === size ? acc.root().toString('hex') : undefined;
          if (root === cp.rootHash) {
            if (signed.has(cp.treeSize)) rootsMatched++;
          } else {
            const since = checkpoints.slice(0, cpAt - 1).reverse().find((c) => c.treeSize < cp.treeSize);
            report({
              kind: 'checkpoint-root-mismatch',
              treeSize: cp.treeSize,
              seq: since?.treeSize ?? 0,
              message: `the entries do not hash to the root signed at tree size ${cp.treeSize} (${cp.timestamp}): something in entries ${since?.treeSize ?? 0}..${cp.treeSize - 1} differs from what was signed`,
            });
          }
        }
        prev = row;
        prevFlagged = flagged;
        expected = size;
        read++;
      }
      options.onProgress?.(read, total);
    }
    for (const cp of checkpoints.slice(cpAt)) {
      report({ kind: 'ledger-truncated', seq: expected, treeSize: cp.treeSize, message: `the ledger ends at entry ${expected - 1} but the checkpoint at tree size ${cp.treeSize} was signed over ${cp.treeSize} entries: entries ${expected}..${cp.treeSize - 1} were removed` });
    }
    // Precise findings first (they name the entry); a root mismatch only bounds where to look.
    const precise = new Set<ProblemKind>(['entry-missing', 'entry-altered', 'entry-rewritten', 'entry-inserted', 'entries-reordered', 'chain-broken', 'ledger-truncated']);
    const rank = (p: VerificationProblem) =>
      p.kind === 'protection-missing' ? 0 : p.kind.startsWith('checkpoint-') && p.kind !== 'checkpoint-root-mismatch' ? 1 : precise.has(p.kind) ? 2 : p.kind === 'checkpoint-root-mismatch' ? 3 : 4;
    problems.sort((a, b) => rank(a) - rank(b) || (a.seq ?? a.treeSize ?? 0) - (b.seq ?? b.treeSize ?? 0));
    const located = problems.filter((p) => precise.has(p.kind));
    const bounded = problems.filter((p) => p.kind === 'checkpoint-root-mismatch');
    const firstBad = (located.length ? located : bounded).map((p) => p.seq!);
    return {
      ok: problems.length === 0,
      entries: read,
      checkpoints: { total: checkpoints.length, verified: rootsMatched, ...(checkpoints.length ? { latestTreeSize: checkpoints[checkpoints.length - 1]!.treeSize } : {}) },
      ...(firstBad.length ? { firstBadSeq: Math.min(...firstBad) } : {}),
      problems,
      warnings: protections.warnings,
    };
  } finally {
    client.release();
  }
}
