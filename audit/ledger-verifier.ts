// `gatehouse audit verify`: walks the whole chain, recomputes every entry hash and the Merkle tree,
// compares the tree heads with the signed checkpoints, checks their signatures offline, and checks
// that the database still enforces append-only. Any tampering is named, with the first bad entry.
import { LEDGER_CHECKS_BODY, LEDGER_LEAVES_ROOT_BODY, LEDGER_SUBTREE_HASH_BODY } from './migrations/Migration20261207230000LedgerHashes.js';
import { LEDGER_ROLE } from './migrations/Migration20261208000000LedgerRole.js';
import type pg from 'pg';
import { GENESIS_HASH, chainHash } from './ledger-entry-codec.js';
import { readHead, type RawEntryRow } from './ledger-store.js';
import { readChainByCopy } from './ledger-copy-reader.js';
import { sqlOnClient, type Sql } from './ledger-sql.js';
import { startMerkleWorker, type MerkleWorkerResult } from './merkle-worker.js';
import { STORED_LEVEL } from './ledger-tree.js';
import { checkCheckpoint, type Checkpoint, type PublicKey } from './checkpoint-note.js';
import { readCheckpoints } from './checkpoint-store.js';

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

/** What the migration made the refusing function say, whitespace aside: anything else may let changes through. */
const REFUSAL_BODY = "BEGIN RAISE EXCEPTION 'the audit ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END";
const squeeze = (text: string) => text.replace(/\s+/g, ' ').trim();

/** The definition each protection trigger must have, exactly: no WHEN condition, no other events or function. */
function expectedTrigger(table: string, suffix: 'no_update_or_delete' | 'no_truncate'): RegExp {
  const on = `ON (?:\\w+\\.)?${table}`;
  const run = 'EXECUTE FUNCTION (?:\\w+\\.)?ledger_refuse_change\\(\\)';
  return suffix === 'no_update_or_delete'
    ? new RegExp(`^CREATE TRIGGER ${table}_${suffix} BEFORE (?:DELETE OR UPDATE|UPDATE OR DELETE) ${on} FOR EACH ROW ${run}$`)
    : new RegExp(`^CREATE TRIGGER ${table}_${suffix} BEFORE TRUNCATE ${on} FOR EACH STATEMENT ${run}$`);
}

/**
 * The database's side of append-only: each trigger present, ALWAYS, exactly as created (a `WHEN
 * (false)` or another function would keep it present and useless), its function still refusing,
 * and no rewrite privilege for the app.
 */
async function checkProtections(sql: Sql): Promise<{ problems: VerificationProblem[]; warnings: string[] }> {
  const problems: VerificationProblem[] = [];
  const warnings: string[] = [];
  const triggers = await sql.query<{ table: string; name: string; enabled: string; definition: string; fn: string; language: string; body: string }>(
    `SELECT c.relname AS "table", t.tgname AS name, t.tgenabled AS enabled, pg_get_triggerdef(t.oid) AS definition,
            p.proname AS fn, l.lanname AS language, p.prosrc AS body
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_language l ON l.oid = p.prolang
      WHERE c.relname = ANY($1) AND NOT t.tgisinternal`,
    [LEDGER_TABLES],
  );
  const badFunctions = new Set<string>();
  for (const table of LEDGER_TABLES) {
    for (const suffix of ['no_update_or_delete', 'no_truncate'] as const) {
      const trigger = triggers.find((t) => t.table === table && t.name === `${table}_${suffix}`);
      if (!trigger) problems.push({ kind: 'protection-missing', message: `trigger ${table}_${suffix} is gone: ${table} can be rewritten` });
      else if (trigger.enabled !== 'A') {
        problems.push({ kind: 'protection-missing', message: `trigger ${table}_${suffix} is ${trigger.enabled === 'D' ? 'disabled' : 'not ENABLE ALWAYS'}: ${table} can be rewritten` });
      } else if (!expectedTrigger(table, suffix).test(trigger.definition)) {
        problems.push({ kind: 'protection-missing', message: `trigger ${table}_${suffix} is not as created (${trigger.definition.slice(0, 200)}): ${table} can be rewritten` });
      } else if (trigger.language !== 'plpgsql' || squeeze(trigger.body) !== REFUSAL_BODY) {
        badFunctions.add(trigger.fn);
      }
    }
  }
  // The bounds on what the ledger role may insert (Migration20261207130000LedgerBounds).
  for (const table of ['ledger_checkpoint', 'ledger_tree_node']) {
    const name = `${table}_within_ledger`;
    const trigger = triggers.find((t) => t.table === table && t.name === name);
    const expected = new RegExp(`^CREATE TRIGGER ${name} BEFORE INSERT ON (?:\\w+\\.)?${table} FOR EACH ROW EXECUTE FUNCTION (?:\\w+\\.)?ledger_check_bounds\\(\\)$`);
    if (!trigger) problems.push({ kind: 'protection-missing', message: `trigger ${name} is gone: ${table} takes rows beyond the ledger` });
    else if (trigger.enabled !== 'A') problems.push({ kind: 'protection-missing', message: `trigger ${name} is ${trigger.enabled === 'D' ? 'disabled' : 'not ENABLE ALWAYS'}: ${table} takes rows beyond the ledger` });
    else if (!expected.test(trigger.definition)) problems.push({ kind: 'protection-missing', message: `trigger ${name} is not as created (${trigger.definition.slice(0, 200)}): ${table} takes rows beyond the ledger` });
    else if (trigger.language !== 'plpgsql' || squeeze(trigger.body) !== squeeze(LEDGER_CHECKS_BODY)) badFunctions.add(trigger.fn);
  }
  // The functions the checks compute roots with (Migration20261207230000LedgerHashes).
  const helpers = await sql.query<{ fn: string; language: string; body: string }>(
    "SELECT p.proname AS fn, l.lanname AS language, p.prosrc AS body FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname IN ('ledger_subtree_hash', 'ledger_leaves_root')",
  );
  for (const [fn, body] of [['ledger_subtree_hash', LEDGER_SUBTREE_HASH_BODY], ['ledger_leaves_root', LEDGER_LEAVES_ROOT_BODY]] as const) {
    const found = helpers.filter((h) => h.fn === fn);
    if (found.length !== 1 || found[0]!.language !== 'plpgsql' || squeeze(found[0]!.body) !== squeeze(body)) badFunctions.add(fn);
  }
  for (const fn of badFunctions) {
    problems.push({ kind: 'protection-missing', message: `the function ${fn}() that guards the ledger's tables was replaced: they are no longer protected as created` });
  }
  const privileges = await sql.query<{ role: string; table: string; privilege: string; granted: boolean }>(
    `SELECT r.role, t.name AS "table", p.privilege, has_table_privilege(r.role, t.name, p.privilege) AS granted
       FROM (SELECT DISTINCT unnest(ARRAY['gatehouse_app', '${LEDGER_ROLE}', current_user::text])) AS r(role), unnest($1::text[]) AS t(name), unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE', 'INSERT']) AS p(privilege)
      ORDER BY r.role, t.name, p.privilege`,
    [LEDGER_TABLES],
  );
  const [{ current } = { current: '' }] = await sql.query<{ current: string }>('SELECT current_user AS current');
  // Only the application role appends entries, and only the ledger role writes checkpoints and subtrees.
  const mayInsert = (role: string, table: string) =>
    (role === 'gatehouse_app' && table === 'ledger_entry') || (role === LEDGER_ROLE && (table === 'ledger_checkpoint' || table === 'ledger_tree_node'));
  for (const p of privileges.filter((x) => x.granted && !(x.privilege === 'INSERT' && mayInsert(x.role, x.table)))) {
    if (p.role === 'gatehouse_app') problems.push({ kind: 'protection-missing', message: `the application role gatehouse_app holds ${p.privilege} on ${p.table}` });
    else if (p.role === LEDGER_ROLE) problems.push({ kind: 'protection-missing', message: `the ledger role ${LEDGER_ROLE} holds ${p.privilege} on ${p.table}` });
    else if (p.role === current && p.privilege !== 'INSERT') warnings.push(`this connection's role ${current} may ${p.privilege} ${p.table} (only the triggers stop it); connect as the application role`);
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

/** Two stored rows in full (with prev_hash), for naming a problem. */
async function readFullRows(sql: Sql, prevSeq: number, seq: number): Promise<[RawEntryRow | undefined, RawEntryRow | undefined]> {
  const rows = await sql.query<{ seq: string; prev_hash: Buffer; hash: Buffer; entry: string }>('SELECT seq, prev_hash, hash, entry FROM ledger_entry WHERE seq = ANY($1)', [[prevSeq, seq]]);
  const of = (s: number) => {
    const r = rows.find((x) => Number(x.seq) === s);
    return r && { seq: s, prevHash: r.prev_hash, hash: r.hash, entry: r.entry };
  };
  return [of(prevSeq), of(seq)];
}

interface Walk {
  /** Gaps found (entries missing). */
  missing: VerificationProblem[];
  /** Rows whose hash does not follow from the row before, named afterwards from the full rows. */
  suspects: { seq: number; prevSeq: number; gap: boolean }[];
  /** Entries whose stored prev_hash column is not the stored hash of the entry before (or genesis). */
  prevColumn: number[];
  /** For each checkpoint reached, whether the leaves so far were exactly entries 0..size-1. */
  reached: { cp: Checkpoint; aligned: boolean }[];
  read: number;
  expected: number;
  tree: MerkleWorkerResult;
}

/**
 * One pass over the chain in seq order: each entry must hash, after the stored hash of the row
 * before, to its stored hash; the stored hashes go to the tree thread.
 */
async function walkChain(client: pg.ClientBase, size: number, checkpoints: Checkpoint[], stored: Map<string, Buffer>, onProgress?: VerifyProgress): Promise<Walk> {
  const tree = startMerkleWorker({ sizes: checkpoints.map((c) => c.treeSize), stored, storedLevel: STORED_LEVEL });
  const walk: Omit<Walk, 'tree'> = { missing: [], suspects: [], prevColumn: [], reached: [], read: 0, expected: 0 };
  let cpAt = 0;
  let prevSeq = -1;
  try {
    for await (const { seqs, hashes, linked, prevColumnOk } of readChainByCopy(client, 0, size, GENESIS_HASH)) {
      for (let i = 0; i < seqs.length; i++) {
        const seq = seqs[i]!;
        if (seq < walk.expected) {
          walk.missing.push({ kind: 'chain-broken', seq, message: `entry ${seq} appears more than once` });
          continue;
        }
        const gap = seq !== walk.expected;
        if (gap && walk.missing.length < MAX_PROBLEMS) {
          walk.missing.push({ kind: 'entry-missing', seq: walk.expected, message: seq - walk.expected === 1 ? `entry ${walk.expected} is missing (deleted)` : `entries ${walk.expected}..${seq - 1} are missing (deleted)` });
        }
        // The stored prev_hash column repeats the hash before it (a copy the chain check does not rely on).
        const checkable = seq === 0 || seq === prevSeq + 1;
        if (checkable && !prevColumnOk[i] && walk.prevColumn.length < MAX_PROBLEMS) walk.prevColumn.push(seq);
        if (gap || !linked[i]) walk.suspects.push({ seq, prevSeq, gap });
        walk.read++;
        while (cpAt < checkpoints.length && checkpoints[cpAt]!.treeSize <= seq + 1) {
          const cp = checkpoints[cpAt++]!;
          walk.reached.push({ cp, aligned: cp.treeSize === seq + 1 && walk.read === seq + 1 });
        }
        prevSeq = seq;
        walk.expected = seq + 1;
      }
      // The tree commits to the stored hashes; the chain check above ties each to its content.
      tree.push(hashes);
      onProgress?.(walk.read, size);
    }
    return { ...walk, tree: await tree.finish() };
  } finally {
    await tree.terminate();
  }
}

export async function verifyLedger(
  deps: { pool: pg.Pool; origin: string; publicKeys: () => Promise<PublicKey[]> },
  options: { onProgress?: VerifyProgress } = {},
): Promise<VerificationReport> {
  const problems: VerificationProblem[] = [];
  const report = (p: VerificationProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const client = await deps.pool.connect();
  try {
    // One snapshot for everything read, so appends and checkpoints made meanwhile cannot look
    // like a truncated ledger or a missing entry.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const sql = sqlOnClient(client);
    const protections = await checkProtections(sql);
    protections.problems.forEach(report);

    const keys = await deps.publicKeys();
    const head = await readHead(sql);
    const checkpoints = await readCheckpoints(sql, deps.origin);
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
    const walk = await walkChain(client, head.size, checkpoints, stored, options.onProgress);
    const { reached, suspects, read, expected } = walk;
    walk.missing.forEach(report);
    // Name each suspect from both rows in full. A row right after a flagged one only follows
    // from it (a moved or rewritten row breaks two links), so it is not reported again.
    let flaggedSeq = -2;
    for (const suspect of suspects.slice(0, MAX_PROBLEMS * 2)) {
      const [prevRow, full] = await readFullRows(sql, suspect.prevSeq, suspect.seq);
      let flagged = suspect.gap;
      if (!chainHash(full!.prevHash, full!.entry).equals(full!.hash)) {
        report({ kind: 'entry-altered', seq: suspect.seq, message: `entry ${suspect.seq} was changed: its content no longer hashes to its stored hash` });
        flagged = true;
      } else if (!suspect.gap) {
        if (flaggedSeq !== suspect.prevSeq) {
          report(prevRow ? diagnoseBrokenLink(prevRow, full!) : { kind: 'chain-broken', seq: suspect.seq, message: `entry ${suspect.seq} is the first entry but does not start from the genesis hash` });
        }
        flagged = true;
      }
      if (flagged) flaggedSeq = suspect.seq;
    }
    if (suspects.length > MAX_PROBLEMS * 2) report({ kind: 'chain-broken', seq: suspects[MAX_PROBLEMS * 2]!.seq, message: `${suspects.length - MAX_PROBLEMS * 2} more entries do not link to the entry before them` });
    for (const { cp, aligned } of reached) {
      if (aligned && walk.tree.roots.get(cp.treeSize) === cp.rootHash) continue;
      const since = checkpoints.filter((c) => c.treeSize < cp.treeSize).pop();
      report({
        kind: 'checkpoint-root-mismatch',
        treeSize: cp.treeSize,
        seq: since?.treeSize ?? 0,
        message: `the entries do not hash to the root signed at tree size ${cp.treeSize} (${cp.timestamp}): something in entries ${since?.treeSize ?? 0}..${cp.treeSize - 1} differs from what was signed`,
      });
    }
    for (const { level, index } of walk.tree.mismatches) {
      report({ kind: 'tree-store-mismatch', seq: index * 2 ** level, message: `the stored subtree over entries ${index * 2 ** level}..${(index + 1) * 2 ** level - 1} differs from the one recomputed from the entries` });
    }
    const rootsMatched = reached.filter(({ cp }) => signed.has(cp.treeSize) && !problems.some((p) => p.kind === 'checkpoint-root-mismatch' && p.treeSize === cp.treeSize)).length;
    const reported = new Set(problems.map((p) => p.seq));
    for (const seq of walk.prevColumn) {
      if (!reported.has(seq) && !reported.has(seq - 1)) report({ kind: 'chain-broken', seq, message: `entry ${seq}'s stored prevHash is not the hash of entry ${seq - 1} (the column was changed)` });
    }
    for (const cp of checkpoints.slice(reached.length)) {
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
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}
