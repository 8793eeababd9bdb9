// A flow run's work, one page per activity: read the page after the flow's cursor from the source,
// keep what the filter accepts, map, apply the field rules, write to the target by key, then record
// the page on the ledger and move the cursor in one transaction. A crash before that commit reads
// the same page again and writes the same records (upserts by key change nothing the second time),
// so nothing is skipped and nothing applied twice. Only counts and hashes leave the activity: no
// record, no cursor (it holds key values) enters Temporal's history or the ledger.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender } from '../../audit/index.js';
import { compileExpression, type CompiledExpression } from '../../connectors/http/jsonata-expression.js';
import type { ConnectorFactory, OpenedConnector } from '../../connectors/instances/connector-factory.js';
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import { requireCapability, type Connector } from '../../connectors/spi/connector.js';
import { changesAccess, MEMBERSHIPS_CLASS, type JsonValue, type ObjectBatch, type ObjectRecord, type UpsertOutcome } from '../../connectors/spi/records.js';
import { ConnectorError } from '../../connectors/spi/errors.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { GatehouseError, notFound } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import { SecretConflictError } from '../../shared/secrets/secret-store.js';
import { applyFieldRules, FIELD_HASH_KEY_PATH } from './field-rules.js';
import { planRulesOf, type FlowDocument } from './flow-document.js';
import ms from 'ms';
import { openFlowRun } from './flow-run-record.js';
import { createGovernedWrites, type ChangeStarter, type ProposedChange } from './governed-writes.js';
import { DEAD_LETTER_KEY_PATH, openRecord, sealRecord } from './record-seal.js';

export interface FlowRunRef {
  runId: string;
  flowName: string;
  versionHash: string;
}

export interface DeadLetterReplay {
  status: 'open' | 'replayed' | 'discarded' | 'superseded';
  /** Why it is still open (refused again). */
  error?: string;
  /** What the replay did. */
  outcome?: string;
}

/** What a preview found; the records in the sample are shown with the flow's field rules applied. */
export interface FlowPreview {
  flow: string;
  versionHash: string;
  /** What the target's records are: `data`, `membership` (grants through the gate), or another kind that grants access, which a run refuses. */
  targetKind: string;
  read: number;
  /** More records wait after the ones previewed. */
  moreAfter: boolean;
  /** `grant`: an access change the run would hand to the gate, which decides it then. */
  counts: { create: number; update: number; unchanged: number; kept: number; delete: number; grant: number; skipped: number; refused: number };
  /** `delete`: a mirror's record the source no longer has (shown by its key). */
  sample: {
    situation: 'create' | 'update' | 'unchanged' | 'kept' | 'delete' | 'grant' | 'refused';
    record: ObjectRecord;
    /** A draft's preview: the source record beside it, with the flow's field rules applied by field name. */
    source?: ObjectRecord;
    changedFields?: string[];
    error?: string;
  }[];
}

const PREVIEW_SAMPLE = 50;

/** A run's plan, as kept on the run: never a record, only counts and a digest of the diff. */
export interface FlowPlan {
  state: 'awaiting-approval' | 'approved' | 'not-needed' | 'rejected' | 'expired';
  /** SHA-256 over every record's situation and content: what an approver approves. */
  digest: string;
  counts: FlowPreview['counts'];
  read: number;
  /** More records wait after those the plan covers (the next run's). */
  moreAfter: boolean;
  /** Why it needs approval (empty when it does not). */
  reasons: string[];
  proposedAt: string;
  deadlineAt?: string;
  decidedBy?: { kind: string; id: string; name?: string };
  decidedAt?: string;
  reason?: string;
  /** The digest approved before the source or target drifted from it. */
  driftedFrom?: string;
}

/** Where a run's plan stands, for its workflow. `until`: the hash of the cursor the plan ends at. */
export type PlanStep = { status: 'approved'; until: string } | { status: 'awaiting-approval'; digest: string; deadlineMs: number } | { status: 'closed'; reason: string };

/**
 * Whether a mapped value equals the target's: numbers by value (a numeric column reads back as
 * "12.50" or 12.5), everything else by canonical JSON. A preview may list as an update what the
 * target then finds unchanged when the two write a value differently (a time zone, say).
 */
function sameValue(mapped: JsonValue, stored: JsonValue | undefined): boolean {
  if (stored === undefined) return false;
  const asNumber = (v: JsonValue) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const [a, b] = [asNumber(mapped), asNumber(stored)];
  if (a !== undefined && b !== undefined && (typeof mapped === 'number' || typeof stored === 'number')) return a === b;
  return canonicalJson(mapped) === canonicalJson(stored);
}

/** A record a run could not map or write, on its way to the dead letters. */
interface FailedRecord {
  source: ObjectRecord;
  stage: 'map' | 'write';
  error: string;
}

/** What a run did with records, page by page and in total. */
export interface FlowRunCounts {
  read: number;
  /** Records the filter refused or the mapping mapped to nothing. */
  skipped: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Records a mirror deleted from the target because the source no longer has them. */
  deleted: number;
  /** Records set aside as dead letters (the rest of their page went on). */
  deadLettered: number;
}

export interface FlowPageOutcome extends FlowRunCounts {
  /** The source has nothing more after the last page (for now). */
  complete: boolean;
  pages: number;
  /** Access changes handed to the gate, each its own workflow (records of a class that grants access). */
  accessChanges: number;
}

/** What writing a page to the target did. */
interface TargetWrite extends UpsertOutcome {
  failed: FailedRecord[];
  /** Access changes started, one per membership record not yet held. */
  proposed: ProposedChange[];
  /** The target class's key fields (a data class). */
  targetKey?: string[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Pages one activity writes at most, and how long it starts new ones for: the workflow's history stays short, and a retry repeats little. */
const PAGES_PER_ACTIVITY = 20;
const ACTIVITY_BUDGET_MS = 30_000;

/** How long a flow's connector stays open after its last page, for the next one. */
const CONNECTOR_IDLE_MS = 60_000;

export function createFlowActivities(deps: {
  orm: MikroORM;
  ledger: LedgerAppender;
  connectors: ConnectorFactory;
  secrets: SecretStore;
  /** Starts the workflow of an access change a run proposed (`flow-change:<id>`). */
  startChange: ChangeStarter;
  isRunning?: (workflowId: string) => Promise<boolean>;
}) {
  const sql = () => deps.orm.em.getConnection();
  const governed = createGovernedWrites({ orm: deps.orm });
  const documents = new Map<string, { doc: FlowDocument; filter?: CompiledExpression; mapping?: CompiledExpression }>();

  // A run's pages follow each other on this worker: their connectors stay open between pages (a new
  // login and the class definitions for every page would cost more than the page). One is opened again
  // when its instance changes (its revision or the Vault version of its secrets), after a failure, and
  // after CONNECTOR_IDLE_MS without use.
  const open = new Map<string, { key: string; opened: Promise<OpenedConnector>; idle?: NodeJS.Timeout }>();
  const discard = (id: string) => {
    const entry = open.get(id);
    if (!entry) return;
    open.delete(id);
    clearTimeout(entry.idle);
    void entry.opened.then((o) => o.connector.close()).catch(() => undefined);
  };
  async function withConnector<T>(id: string, work: (connector: Connector, instance: OpenedConnector['instance']) => Promise<T>): Promise<T> {
    const [row] = await sql().execute<{ revision: number; secret_version: number | null }[]>('SELECT revision, secret_version FROM connector_instance WHERE id = ?', [id]);
    if (!row) throw notFound('connector', id);
    const key = `${row.revision}:${row.secret_version ?? ''}`;
    if (open.get(id)?.key !== key) discard(id);
    let entry = open.get(id);
    if (!entry) {
      entry = { key, opened: deps.connectors.open(id) };
      open.set(id, entry);
    }
    clearTimeout(entry.idle);
    try {
      const { connector, instance } = await entry.opened;
      return await work(connector, instance);
    } catch (err) {
      discard(id);
      throw err;
    } finally {
      const current = open.get(id);
      if (current) {
        current.idle = setTimeout(() => discard(id), CONNECTOR_IDLE_MS);
        current.idle.unref();
      }
    }
  }

  async function flowVersion(versionHash: string) {
    const cached = documents.get(versionHash);
    if (cached) return cached;
    const [row] = await sql().execute<{ document: FlowDocument }[]>('SELECT document FROM flow_version WHERE version_hash = ?', [versionHash]);
    if (!row) throw notFound('flow version', versionHash);
    return compileVersion(versionHash, row.document);
  }

  function compileVersion(versionHash: string, doc: FlowDocument) {
    // Drafts come and go (each edit in the mapping editor is one): the cache stays small.
    if (documents.size >= 200) documents.clear();
    const compiled = {
      doc,
      ...(doc.filter ? { filter: compileExpression(doc.filter, 'filter') } : {}),
      ...(doc.mapping ? { mapping: compileExpression(doc.mapping, 'mapping') } : {}),
    };
    documents.set(versionHash, compiled);
    return compiled;
  }

  /** One of the flows' keys from Vault, made on first use (check-and-set, so two workers agree on one). */
  const keys = new Map<string, Promise<Buffer>>();
  function flowKey(path: string): Promise<Buffer> {
    let key = keys.get(path);
    if (!key) {
      key = (async () => {
        const stored = await deps.secrets.readKv(path);
        if (stored?.data.key) return Buffer.from(stored.data.key, 'base64');
        try {
          await deps.secrets.writeKv(path, { key: randomBytes(32).toString('base64') }, { cas: 0 });
        } catch (err) {
          if (!(err instanceof SecretConflictError)) throw err;
        }
        const made = await deps.secrets.readKv(path);
        if (!made?.data.key) throw new GatehouseError('internal', `the flows' key ${path} could not be stored in Vault`);
        return Buffer.from(made.data.key, 'base64');
      })();
      keys.set(path, key);
      key.catch(() => keys.delete(path));
    }
    return key;
  }

  async function instanceId(name: string, field: string): Promise<string> {
    const [row] = await sql().execute<{ id: string }[]>('SELECT id FROM connector_instance WHERE name = ?', [name]);
    if (!row) throw new GatehouseError('invalid_request', `${field}: no connector is named ${name} any more`, { field });
    return row.id;
  }

  /**
   * Filter, mapping and field rules, record by record. A record the filter refuses, or the mapping
   * maps to nothing, is skipped; one whose mapping fails is set aside (a dead letter), and the rest go on.
   */
  async function transform(version: Awaited<ReturnType<typeof flowVersion>>, records: ObjectRecord[]): Promise<{ out: { source: ObjectRecord; mapped: ObjectRecord }[]; skipped: number; failed: FailedRecord[] }> {
    const key = await flowKey(FIELD_HASH_KEY_PATH);
    const out: { source: ObjectRecord; mapped: ObjectRecord }[] = [];
    const failed: FailedRecord[] = [];
    let skipped = 0;
    for (const record of records) {
      try {
        if (version.filter && !(await version.filter.evaluate(record))) {
          skipped++;
          continue;
        }
        const mapped = version.mapping ? await version.mapping.evaluate(record) : record;
        if (mapped === undefined || mapped === null) {
          skipped++;
          continue;
        }
        if (typeof mapped !== 'object' || Array.isArray(mapped)) {
          // The value itself is not named: it came from the source and may be anything.
          throw new GatehouseError('invalid_request', `mapping: the record mapped to ${Array.isArray(mapped) ? 'a list' : `a ${typeof mapped}`}, not an object of fields`, { field: 'mapping' });
        }
        out.push({ source: record, mapped: applyFieldRules(mapped as ObjectRecord, version.doc.fields, key) });
      } catch (err) {
        if (!(err instanceof GatehouseError) || err.code !== 'invalid_request') throw err;
        failed.push({ source: record, stage: 'map', error: err.message });
      }
    }
    return { out, skipped, failed };
  }

  /**
   * Writes the records, all at once when the target takes them; when it refuses the batch (Rejected or
   * AlreadyExists: a constraint, a value it will not take), the batch is halved until each refused record stands
   * alone, and those are set aside. Anything else (a lost connection) fails the page, to be retried.
   */
  async function writeIsolating(
    write: (records: ObjectRecord[]) => Promise<UpsertOutcome>,
    items: { source: ObjectRecord; mapped: ObjectRecord }[],
  ): Promise<UpsertOutcome & { failed: FailedRecord[] }> {
    const total = { created: 0, updated: 0, unchanged: 0, failed: [] as FailedRecord[] };
    const attempt = async (part: typeof items): Promise<void> => {
      if (!part.length) return;
      try {
        const done = await write(part.map((p) => p.mapped));
        total.created += done.created;
        total.updated += done.updated;
        total.unchanged += done.unchanged;
      } catch (err) {
        // A record the target will not take (a constraint, a value, a duplicate of a unique field); not a failure of the target itself.
        if (!(err instanceof ConnectorError) || (err.code !== 'Rejected' && err.code !== 'AlreadyExists')) throw err;
        if (part.length === 1) return void total.failed.push({ source: part[0]!.source, stage: 'write', error: err.message });
        const half = Math.ceil(part.length / 2);
        await attempt(part.slice(0, half));
        await attempt(part.slice(half));
      }
    };
    await attempt(items);
    return total;
  }

  async function readPage(doc: FlowDocument, sourceId: string, from: string | null): Promise<ObjectBatch & { key: string[]; snapshot: boolean }> {
    return withConnector(sourceId, async (connector, instance) => {
      const reader = requireCapability(connector, 'readObjects', instance.name);
      const cls = (await reader.objectClasses()).find((c) => c.name === doc.source.objectClass);
      if (!cls) throw new GatehouseError('invalid_request', `source.objectClass: connector ${instance.name} has no object class ${doc.source.objectClass}`, { field: 'source.objectClass' });
      for await (const batch of reader.readObjects(doc.source.objectClass, { ...(from ? { cursor: from } : {}), pageSize: doc.source.pageSize })) return { ...batch, key: cls.key, snapshot: !cls.cursor };
      return { records: [], cursor: from ?? '', complete: true, key: cls.key, snapshot: !cls.cursor };
    });
  }

  /** The SHA-256 of a source record's key values: how a dead letter is matched with a later version of its record. */
  const recordKey = (record: ObjectRecord, key: string[]) => sha256(canonicalJson(key.map((k) => record[k] ?? null)));

  /**
   * Memberships records become grants through the access gate: planned (who is meant, whether they
   * hold it already), then each grant not held is started as its own workflow. They are started before
   * the page is recorded: a page written again after a crash proposes the same change ids, and a
   * change already started is not started twice.
   */
  async function proposeMemberships(input: FlowRunRef, doc: FlowDocument, connector: Connector, target: { id: string; name: string }, from: string | null, items: { source: ObjectRecord; mapped: ObjectRecord }[], keyOf: (source: ObjectRecord) => string): Promise<TargetWrite> {
    requireCapability(connector, 'grantRevoke', target.name);
    const plan = await governed.planMemberships({
      flowName: input.flowName,
      versionHash: input.versionHash,
      from,
      connector: target,
      source: `${doc.source.connector}/${doc.source.objectClass}`,
      items: items.map((i) => ({ ...i, recordKey: keyOf(i.source) })),
    });
    for (let i = 0; i < plan.proposed.length; i += 20) await Promise.all(plan.proposed.slice(i, i + 20).map((p) => deps.startChange(p.change)));
    return {
      created: 0,
      updated: 0,
      unchanged: plan.unchanged.length,
      failed: plan.refused.map((r) => ({ source: r.item.source, stage: 'write' as const, error: r.error })),
      proposed: plan.proposed.map(({ change, recordKey }) => ({ change, recordKey })),
    };
  }

  /**
   * Writes mapped records to the flow's target class: a connector's memberships through the access
   * gate, any other class that grants access not at all, a data class by key.
   */
  async function writeTarget(input: FlowRunRef, doc: FlowDocument, targetId: string, from: string | null, items: { source: ObjectRecord; mapped: ObjectRecord }[], keyOf: (source: ObjectRecord) => string): Promise<TargetWrite> {
    return withConnector(targetId, async (connector, instance) => {
      if (doc.target.objectClass === MEMBERSHIPS_CLASS) return proposeMemberships(input, doc, connector, { id: targetId, name: instance.name }, from, items, keyOf);
      const classes = await requireCapability(connector, 'readObjects', instance.name).objectClasses();
      const target = classes.find((c) => c.name === doc.target.objectClass);
      if (!target) throw new GatehouseError('invalid_request', `target.objectClass: connector ${instance.name} has no object class ${doc.target.objectClass}`, { field: 'target.objectClass' });
      if (changesAccess(target.kind)) {
        throw new GatehouseError(
          'invalid_request',
          `target.objectClass: ${doc.target.objectClass} holds ${target.kind} records, so writing it changes access; a flow changes access only through the access gate, by writing a connector's ${MEMBERSHIPS_CLASS} (its grants), so nothing was written`,
          { field: 'target.objectClass' },
        );
      }
      if (!target.writable) {
        throw new GatehouseError('invalid_request', `target.objectClass: ${doc.target.objectClass} is not writable in the configuration of connector ${instance.name}; nothing was written`, { field: 'target.objectClass' });
      }
      if (!items.length) return { created: 0, updated: 0, unchanged: 0, failed: [], proposed: [], targetKey: target.key };
      const writer = requireCapability(connector, 'writeObjects', instance.name);
      const written = await writeIsolating(
        (records) => writer.upsertObjects(doc.target.objectClass, records, { idempotencyKey: `flow:${input.flowName}:${input.runId}:${sha256(from ?? '')}` }, { createOnly: doc.target.operation === 'create-only' }),
        items,
      );
      return { ...written, proposed: [], targetKey: target.key };
    });
  }

  /** The SHA-256 of a mapped record's target key values: how a mirror knows which target records its pass saw. */
  const targetKeyHash = (record: ObjectRecord, key: string[]) => sha256(canonicalJson(key.map((k) => record[k] ?? null)));
  const mirrorNeedsSnapshot = () =>
    new GatehouseError('invalid_request', 'target.operation: mirror needs a snapshot source (an object class without a cursor): an incremental read cannot tell a deleted record from an unchanged one', { field: 'target.operation' });
  /** Set among a pass's seen keys when a record could not be mapped: its target key is unknown, so the pass deletes nothing. */
  const UNMAPPED = 'unmapped';

  /** Every record key the target class holds, by the hash a mirror's seen set uses. */
  async function targetKeys(doc: FlowDocument, targetId: string): Promise<{ key: string[]; byHash: Map<string, ObjectRecord> }> {
    return withConnector(targetId, async (connector, instance) => {
      const reader = requireCapability(connector, 'readObjects', instance.name);
      const cls = (await reader.objectClasses()).find((c) => c.name === doc.target.objectClass);
      if (!cls) throw new GatehouseError('invalid_request', `target.objectClass: connector ${instance.name} has no object class ${doc.target.objectClass}`, { field: 'target.objectClass' });
      const byHash = new Map<string, ObjectRecord>();
      for await (const batch of reader.readObjects(doc.target.objectClass, { pageSize: 5000 })) {
        for (const r of batch.records) byHash.set(targetKeyHash(r, cls.key), Object.fromEntries(cls.key.map((k) => [k, r[k] ?? null])));
        if (batch.complete) break;
      }
      return { key: cls.key, byHash };
    });
  }

  /** The keys a mirror's pass has seen in earlier pages (and whether one of its records could not be mapped). */
  async function seenSoFar(flowName: string): Promise<Set<string>> {
    const rows = await sql().execute<{ key_hash: string }[]>('SELECT key_hash FROM flow_mirror_seen WHERE flow_name = ?', [flowName]);
    return new Set(rows.map((r) => r.key_hash));
  }

  /**
   * A mirror pass's end: what the target holds that the pass did not see. Nothing when a record of
   * the pass could not be mapped (its key is unknown, so it might be any of them): `skipped` says why.
   */
  async function mirrorDeletes(flowName: string, doc: FlowDocument, targetId: string, seenNow: string[]): Promise<{ keys: ObjectRecord[]; skipped?: string }> {
    const seen = await seenSoFar(flowName);
    for (const h of seenNow) seen.add(h);
    if (seen.has(UNMAPPED)) return { keys: [], skipped: 'a record of the pass could not be mapped, so what the source no longer has cannot be told; nothing was deleted' };
    const target = await targetKeys(doc, targetId);
    return { keys: [...target.byHash].filter(([h]) => !seen.has(h)).map(([, k]) => k) };
  }

  /** Ties the access changes a page (or a replay) started to the run, in the page's transaction. */
  async function recordProposed(em: EntityManager, input: FlowRunRef, proposed: ProposedChange[]) {
    if (!proposed.length) return;
    await em.getConnection().execute(
      `INSERT INTO flow_change (change_id, flow_name, run_id, record_key)
       SELECT (p ->> 'changeId')::uuid, ?, ?::uuid, p ->> 'recordKey' FROM jsonb_array_elements(?::jsonb) p
       ON CONFLICT (change_id) DO NOTHING`,
      [input.flowName, input.runId, JSON.stringify(proposed.map((p) => ({ changeId: p.change.id, recordKey: p.recordKey })))],
      'all',
      em.getTransactionContext(),
    );
  }

  /** Transforms and writes one page read from `from`, then records it (and its dead letters) and moves the cursor past it. */
  async function writePage(input: FlowRunRef, version: Awaited<ReturnType<typeof flowVersion>>, targetId: string, from: string | null, page: ObjectBatch & { key: string[]; snapshot: boolean }): Promise<Omit<FlowPageOutcome, 'complete' | 'pages'>> {
    const { doc } = version;
    const transformed = await transform(version, page.records);
    const written = await writeTarget(input, doc, targetId, from, transformed.out, (r) => recordKey(r, page.key));
    const failed = [...transformed.failed, ...written.failed];
    const refused = new Set(written.failed.map((f) => f.source));
    // Only a flow with open dead letters has any to supersede (a run is the only writer of its flow's dead letters).
    const [{ pending } = { pending: false }] = await sql().execute<{ pending: boolean }[]>("SELECT EXISTS (SELECT 1 FROM flow_dead_letter WHERE flow_name = ? AND status = 'open') AS pending", [input.flowName]);
    const writtenKeys = pending ? transformed.out.filter((o) => !refused.has(o.source)).map((o) => recordKey(o.source, page.key)) : [];
    const [hashKey, sealKey] = failed.length ? await Promise.all([flowKey(FIELD_HASH_KEY_PATH), flowKey(DEAD_LETTER_KEY_PATH)]) : [undefined, undefined];

    // A mirror: the keys this page saw; at the pass's end, what the target has beyond them is deleted
    // before the page is recorded (a retried last page deletes what is left, and counts only that).
    const mirror = doc.target.operation === 'mirror';
    let seenNow: string[] = [];
    let deleted = 0;
    let mirrorSkipped: string | undefined;
    if (mirror) {
      if (!page.snapshot) throw mirrorNeedsSnapshot();
      seenNow = transformed.out.map((o) => targetKeyHash(o.mapped, written.targetKey!));
      if (transformed.failed.length) seenNow.push(UNMAPPED);
      if (page.complete) {
        const gone = await mirrorDeletes(input.flowName, doc, targetId, seenNow);
        mirrorSkipped = gone.skipped;
        if (gone.keys.length) {
          deleted = await withConnector(targetId, async (connector, instance) => {
            const writer = requireCapability(connector, 'writeObjects', instance.name);
            let n = 0;
            for (let i = 0; i < gone.keys.length; i += 1000) n += (await writer.deleteObjects(doc.target.objectClass, gone.keys.slice(i, i + 1000), { idempotencyKey: `flow:${input.flowName}:${input.runId}:mirror:${i}` })).deleted;
            return n;
          });
        }
      }
    }

    const outcome = { read: page.records.length, skipped: transformed.skipped, created: written.created, updated: written.updated, unchanged: written.unchanged, deleted, deadLettered: failed.length, accessChanges: written.proposed.length };
    await deps.orm.em.transactional(async (em) => {
      const conn = em.getConnection();
      const ctx = em.getTransactionContext();
      // The cursor moves only from where this page was read: another run moving it meanwhile is refused, not overwritten.
      const moved = await conn.execute<{ flow_name: string }[]>(
        `INSERT INTO flow_state AS s (flow_name, cursor) VALUES (?, ?)
         ON CONFLICT (flow_name) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now() WHERE s.cursor IS NOT DISTINCT FROM ?
         RETURNING flow_name`,
        [input.flowName, page.cursor, from],
        'all',
        ctx,
      );
      if (!moved.length) throw new GatehouseError('conflict', `flow ${input.flowName}: its cursor moved while this run read a page; the run stops so nothing is written twice`);
      for (const f of failed) {
        await conn.execute(
          `INSERT INTO flow_dead_letter (id, flow_name, run_id, version_hash, stage, record_key, error, redacted, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [randomUUID(), input.flowName, input.runId, input.versionHash, f.stage, recordKey(f.source, page.key), f.error.slice(0, 2000), JSON.stringify(applyFieldRules(f.source, doc.fields, hashKey!)), sealRecord(f.source, sealKey!)],
          'all',
          ctx,
        );
      }
      // A record written now makes its earlier dead letters moot: replaying them would put old data back.
      if (writtenKeys.length) {
        await conn.execute(
          `UPDATE flow_dead_letter SET status = 'superseded', resolved_at = now(), reason = ? WHERE flow_name = ? AND status = 'open' AND record_key IN (SELECT jsonb_array_elements_text(?::jsonb))`,
          [`a later version of the record was written by run ${input.runId}`, input.flowName, JSON.stringify(writtenKeys)],
          'all',
          ctx,
        );
      }
      await recordProposed(em, input, written.proposed);
      if (mirror && page.complete) {
        await conn.execute('DELETE FROM flow_mirror_seen WHERE flow_name = ?', [input.flowName], 'all', ctx);
      } else if (mirror && seenNow.length) {
        await conn.execute(
          'INSERT INTO flow_mirror_seen (flow_name, key_hash) SELECT ?, h FROM jsonb_array_elements_text(?::jsonb) h ON CONFLICT DO NOTHING',
          [input.flowName, JSON.stringify([...new Set(seenNow)])],
          'all',
          ctx,
        );
      }
      await conn.execute(
        `UPDATE flow_run SET batches = batches + 1, read = read + ?, skipped = skipped + ?, created = created + ?, updated = updated + ?, unchanged = unchanged + ?, deleted = deleted + ?, dead_lettered = dead_lettered + ?, access_changes = access_changes + ? WHERE id = ?`,
        [outcome.read, outcome.skipped, outcome.created, outcome.updated, outcome.unchanged, outcome.deleted, outcome.deadLettered, outcome.accessChanges, input.runId],
        'all',
        ctx,
      );
      await deps.ledger.append(
        {
          action: 'flow.page.written',
          actor: { kind: 'workflow', id: `flow:${input.flowName}` },
          subject: { type: 'flow', id: input.flowName },
          target: { type: 'connector', id: doc.target.connector },
          details: {
            runId: input.runId,
            versionHash: input.versionHash,
            objectClass: doc.target.objectClass,
            ...outcome,
            // Cursors hold key values, and records hold data: the ledger keeps their hashes.
            cursorFrom: from === null ? null : sha256(from),
            cursorTo: sha256(page.cursor),
            writtenHash: sha256(canonicalJson(transformed.out.filter((o) => !refused.has(o.source)).map((o) => o.mapped))),
            ...(mirrorSkipped ? { mirrorSkipped } : {}),
          },
          correlation: { workflowId: `flow:${input.flowName}` },
        },
        { em },
      );
    });
    return outcome;
  }

  /** The records after `from`, page by page, up to `limit` (whole pages: a plan's last page ends where a run's does). */
  async function readAfter(doc: FlowDocument, sourceId: string, from: string | null, limit: number, wholePages = false): Promise<{ records: ObjectRecord[]; complete: boolean; cursor: string | null }> {
    const records: ObjectRecord[] = [];
    let cursor = from;
    let complete = false;
    while (records.length < limit && !complete) {
      const pageSize = wholePages ? doc.source.pageSize : Math.min(doc.source.pageSize, limit - records.length);
      const page = await readPage({ ...doc, source: { ...doc.source, pageSize } }, sourceId, cursor);
      if (doc.target.operation === 'mirror' && !page.snapshot) throw mirrorNeedsSnapshot();
      records.push(...page.records);
      complete = page.complete;
      cursor = page.cursor;
    }
    return { records, complete, cursor };
  }

  /**
   * What writing these records would do, record by record, against the target as it is now: create,
   * update (with the fields that change), unchanged, kept (create-only), grant (an access change for
   * the gate), or refused (with why). Records shown with the field rules applied. Writes nothing.
   */
  async function diffRecords(input: {
    flowName: string;
    versionHash: string;
    version: Awaited<ReturnType<typeof flowVersion>>;
    targetId: string;
    from: string | null;
    records: ObjectRecord[];
    /** The records reach the end of the source's pass: a mirror then also says what it would delete. */
    complete: boolean;
    /** Show each source record beside what it maps to (a draft's preview, for the mapping editor). */
    withSource?: boolean;
  }): Promise<{ targetKind: string; counts: FlowPreview['counts']; entries: FlowPreview['sample'] }> {
    const { doc } = input.version;
    const transformed = await transform(input.version, input.records);
    const rulesKey = input.withSource ? await flowKey(FIELD_HASH_KEY_PATH) : undefined;
    const src = (source: ObjectRecord) => (rulesKey ? { source: applyFieldRules(source, doc.fields, rulesKey) } : {});
    const counts = { create: 0, update: 0, unchanged: 0, kept: 0, delete: 0, grant: 0, skipped: transformed.skipped, refused: transformed.failed.length };
    const entries: FlowPreview['sample'] = [];
    let targetKind: string;
    if (doc.target.objectClass === MEMBERSHIPS_CLASS) {
      // The grants the run would hand to the gate; what the gate would decide is the policy's, at run time.
      const plan = await withConnector(input.targetId, async (connector, instance) => {
        requireCapability(connector, 'grantRevoke', instance.name);
        return governed.planMemberships({ flowName: input.flowName, versionHash: input.versionHash, from: input.from, connector: { id: input.targetId, name: instance.name }, source: `${doc.source.connector}/${doc.source.objectClass}`, items: transformed.out.map((o) => ({ ...o, recordKey: '' })) });
      });
      targetKind = 'membership';
      counts.grant = plan.proposed.length;
      counts.unchanged = plan.unchanged.length;
      counts.refused += plan.refused.length;
      for (const p of plan.proposed) entries.push({ situation: 'grant', record: p.item.mapped, ...src(p.item.source) });
      for (const u of plan.unchanged) entries.push({ situation: 'unchanged', record: u.mapped, ...src(u.source) });
      for (const r of plan.refused) entries.push({ situation: 'refused', record: r.item.mapped, error: r.error, ...src(r.item.source) });
    } else {
      const existing = await withConnector(input.targetId, async (connector, instance) => {
        const reader = requireCapability(connector, 'readObjects', instance.name);
        const target = (await reader.objectClasses()).find((c) => c.name === doc.target.objectClass);
        if (!target) throw new GatehouseError('invalid_request', `target.objectClass: connector ${instance.name} has no object class ${doc.target.objectClass}`, { field: 'target.objectClass' });
        const keyOf = (r: ObjectRecord) => Object.fromEntries(target.key.map((k) => [k, r[k] ?? null]));
        const found = transformed.out.length ? await reader.getObjects(doc.target.objectClass, transformed.out.map((o) => keyOf(o.mapped))) : [];
        return { key: target.key, kind: target.kind, byKey: new Map(found.map((r) => [canonicalJson(target.key.map((k) => r[k] ?? null)), r])) };
      });
      targetKind = existing.kind;
      for (const { source, mapped } of transformed.out) {
        const current = existing.byKey.get(canonicalJson(existing.key.map((k) => mapped[k] ?? null)));
        const changed = current ? Object.keys(mapped).filter((f) => !sameValue(mapped[f]!, current[f])) : [];
        const situation = !current ? 'create' : !changed.length ? 'unchanged' : doc.target.operation === 'create-only' ? 'kept' : 'update';
        counts[situation]++;
        entries.push({ situation, record: mapped, ...(situation === 'update' || situation === 'kept' ? { changedFields: changed } : {}), ...src(source) });
      }
      if (doc.target.operation === 'mirror' && input.complete) {
        const seenNow = transformed.out.map((o) => targetKeyHash(o.mapped, existing.key));
        if (transformed.failed.length) seenNow.push(UNMAPPED);
        const gone = await mirrorDeletes(input.flowName, doc, input.targetId, seenNow);
        counts.delete = gone.keys.length;
        for (const k of gone.keys) entries.push({ situation: 'delete', record: k });
      }
    }
    if (transformed.failed.length) {
      const hashKey = await flowKey(FIELD_HASH_KEY_PATH);
      for (const f of transformed.failed) entries.push({ situation: 'refused', record: applyFieldRules(f.source, doc.fields, hashKey), error: f.error, ...src(f.source) });
    }
    return { targetKind, counts, entries };
  }

  return {
    /**
     * Pages from the flow's cursor, each written and recorded on its own, for up to PAGES_PER_ACTIVITY
     * pages or ACTIVITY_BUDGET_MS; the next page is read while the current one is written.
     */
    async runFlowPages(input: FlowRunRef & { until?: string }): Promise<FlowPageOutcome> {
      return asConnectorActivity(async () => {
        const version = await flowVersion(input.versionHash);
        const { doc } = version;
        const [state] = await sql().execute<{ cursor: string | null }[]>('SELECT cursor FROM flow_state WHERE flow_name = ?', [input.flowName]);
        let from = state?.cursor ?? null;
        const [sourceId, targetId] = await Promise.all([instanceId(doc.source.connector, 'source.connector'), instanceId(doc.target.connector, 'target.connector')]);
        const total: FlowPageOutcome = { complete: false, pages: 0, read: 0, skipped: 0, created: 0, updated: 0, unchanged: 0, deleted: 0, deadLettered: 0, accessChanges: 0 };
        const started = Date.now();
        Context.current().heartbeat({ pages: 0 });
        let reading = readPage(doc, sourceId, from);
        for (;;) {
          const page = await reading;
          const more = !page.complete && total.pages + 1 < PAGES_PER_ACTIVITY && Date.now() - started < ACTIVITY_BUDGET_MS;
          const next = more ? readPage(doc, sourceId, page.cursor) : undefined;
          let outcome: Awaited<ReturnType<typeof writePage>>;
          try {
            outcome = await writePage(input, version, targetId, from, page);
          } catch (err) {
            await next?.catch(() => undefined);
            throw err;
          }
          // A worker that dies is noticed by the missing heartbeat, and the pages after the cursor run elsewhere.
          Context.current().heartbeat({ pages: total.pages + 1 });
          total.pages++;
          total.read += outcome.read;
          total.skipped += outcome.skipped;
          total.created += outcome.created;
          total.updated += outcome.updated;
          total.unchanged += outcome.unchanged;
          total.deleted += outcome.deleted;
          total.deadLettered += outcome.deadLettered;
          total.accessChanges += outcome.accessChanges;
          from = page.cursor;
          // A planned run writes what its plan covered: the rest is the next run's.
          if (input.until && sha256(page.cursor) === input.until) {
            await next?.catch(() => undefined);
            return { ...total, complete: true };
          }
          if (page.complete || !next) return { ...total, complete: page.complete };
          reading = next;
        }
      });
    },

    /**
     * Works out the run's plan (what it would do with the records after the cursor, up to the plan's
     * maxRecords) and whether a person must approve it. An approved plan whose digest still matches
     * goes ahead; one the live diff has drifted from is proposed again (`flow.plan.drifted`).
     */
    async planFlowRun(input: FlowRunRef): Promise<PlanStep> {
      return asConnectorActivity(async () => {
        const version = await flowVersion(input.versionHash);
        const { doc } = version;
        const rules = planRulesOf(doc);
        if (!rules) throw new GatehouseError('internal', `flow ${input.flowName} version ${input.versionHash} has no plan rules`);
        const [run] = await sql().execute<{ status: string; plan: FlowPlan | null }[]>('SELECT status, plan FROM flow_run WHERE id = ?', [input.runId]);
        if (!run) throw notFound('flow run', input.runId);
        const current = run.plan;
        if (current?.state === 'rejected') return { status: 'closed', reason: `its plan was rejected by ${current.decidedBy?.name ?? current.decidedBy?.id ?? 'an approver'}: ${current.reason ?? 'no reason given'}` };
        if (current?.state === 'expired') return { status: 'closed', reason: `its plan was not decided before ${current.deadlineAt}` };

        const [state] = await sql().execute<{ cursor: string | null }[]>('SELECT cursor FROM flow_state WHERE flow_name = ?', [input.flowName]);
        const from = state?.cursor ?? null;
        const [sourceId, targetId] = await Promise.all([instanceId(doc.source.connector, 'source.connector'), instanceId(doc.target.connector, 'target.connector')]);
        const read = await readAfter(doc, sourceId, from, rules.maxRecords, true);
        if (doc.target.operation === 'mirror' && !read.complete) {
          return { status: 'closed', reason: `a mirror's plan covers its whole pass, and the source has more than plan.maxRecords (${rules.maxRecords}) records: raise plan.maxRecords` };
        }
        const diff = await diffRecords({ flowName: input.flowName, versionHash: input.versionHash, version, targetId, from, records: read.records, complete: read.complete });
        const digest = sha256(
          canonicalJson({
            versionHash: input.versionHash,
            from: sha256(from ?? ''),
            entries: diff.entries.map((e) => [e.situation, sha256(canonicalJson(e.record)), e.changedFields ?? [], e.error ?? '']),
          }),
        );
        const until = sha256(read.cursor ?? '');
        if (current?.state === 'approved' && current.digest === digest) return { status: 'approved', until };

        const { counts } = diff;
        const reasons: string[] = [];
        if (rules.approval === 'always') reasons.push('the flow has every plan approved');
        if (counts.grant > rules.maxAccessChanges) reasons.push(`${counts.grant} access changes, more than the ${rules.maxAccessChanges} a run makes without approval`);
        if (counts.delete > rules.maxDeletes) reasons.push(`${counts.delete} records to delete, more than the ${rules.maxDeletes} a run deletes without approval`);
        if (rules.maxWrites !== undefined && counts.create + counts.update > rules.maxWrites) reasons.push(`${counts.create + counts.update} records to create or update, more than the ${rules.maxWrites} a run writes without approval`);
        if (current?.state === 'awaiting-approval' && current.digest === digest) return { status: 'awaiting-approval', digest, deadlineMs: Math.max(1000, Date.parse(current.deadlineAt!) - Date.now()) };

        const now = new Date();
        const deadlineMs = ms(rules.deadline as ms.StringValue);
        const drifted = current?.state === 'approved' ? current.digest : undefined;
        const plan: FlowPlan = {
          state: reasons.length ? 'awaiting-approval' : 'not-needed',
          digest,
          counts,
          read: read.records.length,
          moreAfter: !read.complete,
          reasons,
          proposedAt: now.toISOString(),
          ...(reasons.length ? { deadlineAt: new Date(now.getTime() + deadlineMs).toISOString() } : {}),
          ...(drifted ? { driftedFrom: drifted } : {}),
        };
        await deps.orm.em.transactional(async (em) => {
          await em.getConnection().execute("UPDATE flow_run SET plan = ? WHERE id = ? AND status = 'running'", [JSON.stringify(plan), input.runId], 'all', em.getTransactionContext());
          if (!reasons.length && !drifted) return;
          await deps.ledger.append(
            {
              action: drifted ? 'flow.plan.drifted' : 'flow.plan.proposed',
              actor: { kind: 'workflow', id: `flow:${input.flowName}` },
              subject: { type: 'flow', id: input.flowName },
              details: { runId: input.runId, versionHash: input.versionHash, digest, read: plan.read, ...counts, reasons, ...(drifted ? { approvedDigest: drifted } : {}) },
              correlation: { workflowId: `flow:${input.flowName}` },
            },
            { em },
          );
        });
        return reasons.length ? { status: 'awaiting-approval', digest, deadlineMs } : { status: 'approved', until };
      });
    },

    /** A plan nobody decided before its deadline: closed as expired, on the ledger. */
    async expireFlowPlan(input: FlowRunRef & { digest: string }): Promise<void> {
      await deps.orm.em.transactional(async (em) => {
        const closed = await em.getConnection().execute<{ id: string }[]>(
          `UPDATE flow_run SET plan = plan || jsonb_build_object('state', 'expired') WHERE id = ? AND plan ->> 'state' = 'awaiting-approval' AND plan ->> 'digest' = ? RETURNING id`,
          [input.runId, input.digest],
          'all',
          em.getTransactionContext(),
        );
        if (!closed.length) return;
        await deps.ledger.append(
          { action: 'flow.plan.expired', actor: { kind: 'workflow', id: `flow:${input.flowName}` }, subject: { type: 'flow', id: input.flowName }, details: { runId: input.runId, digest: input.digest } },
          { em },
        );
      });
    },

    /**
     * What the next run would do with the next `limit` records after the flow's cursor, without
     * writing anything or moving the cursor: each record's situation (create, update with the fields
     * that change, unchanged, kept by create-only, skipped by the filter, refused by the mapping), the
     * counts, and a sample shown with the field rules applied. Recorded on the ledger by counts.
     */
    async previewFlow(input: { flowName: string; limit: number; actor: Actor; draft?: { document: FlowDocument; versionHash: string } }): Promise<FlowPreview> {
      return asConnectorActivity(async () => {
        // A draft needs no publication: it samples the source from its start, each record beside its result.
        let flow: { version_hash: string };
        if (input.draft) {
          flow = { version_hash: input.draft.versionHash };
        } else {
          const [published] = await sql().execute<{ version_hash: string }[]>('SELECT version_hash FROM flow_publication WHERE flow_name = ? ORDER BY seq DESC LIMIT 1', [input.flowName]);
          if (!published) throw notFound('flow', input.flowName);
          flow = published;
        }
        const version = input.draft ? compileVersion(input.draft.versionHash, input.draft.document) : await flowVersion(flow.version_hash);
        const { doc } = version;
        const [state] = await sql().execute<{ cursor: string | null }[]>('SELECT cursor FROM flow_state WHERE flow_name = ?', [input.flowName]);
        const [sourceId, targetId] = await Promise.all([instanceId(doc.source.connector, 'source.connector'), instanceId(doc.target.connector, 'target.connector')]);
        // A draft samples the source from its start (what the mapping editor shows); a published flow previews its next run.
        const from = input.draft ? null : (state?.cursor ?? null);
        const { records, complete } = await readAfter(doc, sourceId, from, input.limit);
        const diff = await diffRecords({ flowName: input.flowName, versionHash: flow.version_hash, version, targetId, from, records, complete: complete && !input.draft, withSource: !!input.draft });
        const { counts, targetKind } = diff;
        const sample = diff.entries.slice(0, PREVIEW_SAMPLE);
        await deps.ledger.append({
          action: 'flow.previewed',
          actor: input.actor,
          subject: { type: 'flow', id: input.flowName },
          details: { versionHash: flow.version_hash, ...(input.draft ? { draft: true } : {}), read: records.length, ...counts },
        });
        return { flow: input.flowName, versionHash: flow.version_hash, targetKind, read: records.length, moreAfter: !complete, counts, sample };
      });
    },

    /**
     * Runs one dead letter through the flow's version in force again (a fixed mapping, a target that
     * takes it now). Replayed: resolved, on the ledger. Refused again: it stays open with the new reason.
     */
    async replayDeadLetter(input: { deadLetterId: string; flowName: string; actor: Actor }): Promise<DeadLetterReplay> {
      return asConnectorActivity(async () => {
        const [letter] = await sql().execute<{ status: string; sealed: Buffer; record_key: string }[]>('SELECT status, sealed, record_key FROM flow_dead_letter WHERE id = ? AND flow_name = ?', [input.deadLetterId, input.flowName]);
        if (!letter) throw notFound('dead letter', input.deadLetterId);
        if (letter.status !== 'open') return { status: letter.status as DeadLetterReplay['status'] };
        const [flow] = await sql().execute<{ version_hash: string }[]>('SELECT version_hash FROM flow_publication WHERE flow_name = ? ORDER BY seq DESC LIMIT 1', [input.flowName]);
        const version = await flowVersion(flow!.version_hash);
        const source = openRecord(letter.sealed, await flowKey(DEAD_LETTER_KEY_PATH));
        const transformed = await transform(version, [source]);
        const targetId = await instanceId(version.doc.target.connector, 'target.connector');
        // A replay's access changes are tied to the dead letter, in the place of a run.
        const ref: FlowRunRef = { runId: input.deadLetterId, flowName: input.flowName, versionHash: flow!.version_hash };
        const written: TargetWrite = transformed.failed.length
          ? { created: 0, updated: 0, unchanged: 0, failed: transformed.failed, proposed: [] }
          : await writeTarget(ref, version.doc, targetId, null, transformed.out, () => letter.record_key);
        const refusal = written.failed[0];
        return deps.orm.em.transactional(async (em) => {
          const conn = em.getConnection();
          const ctx = em.getTransactionContext();
          if (refusal) {
            await conn.execute("UPDATE flow_dead_letter SET attempts = attempts + 1, error = ? WHERE id = ? AND status = 'open'", [refusal.error.slice(0, 2000), input.deadLetterId], 'all', ctx);
            return { status: 'open' as const, error: refusal.error };
          }
          const outcome = transformed.skipped
            ? 'skipped by the flow in force'
            : written.proposed.length
              ? `handed to the access gate as change ${written.proposed[0]!.change.id}`
              : `written (${written.created} created, ${written.updated} updated, ${written.unchanged} unchanged)`;
          const closed = await conn.execute<{ id: string }[]>(
            `UPDATE flow_dead_letter SET status = 'replayed', attempts = attempts + 1, resolved_at = now(), resolved_by_kind = ?, resolved_by_id = ?, resolved_by_name = ?, reason = ?
             WHERE id = ? AND status = 'open' RETURNING id`,
            [input.actor.kind, input.actor.id, input.actor.display ?? null, `replayed under version ${flow!.version_hash}: ${outcome}`, input.deadLetterId],
            'all',
            ctx,
          );
          if (!closed.length) return { status: 'open' as const, error: 'it was resolved meanwhile' };
          await recordProposed(em, ref, written.proposed);
          await deps.ledger.append(
            {
              action: 'flow.deadletter.replayed',
              actor: input.actor,
              subject: { type: 'flow', id: input.flowName },
              target: { type: 'connector', id: version.doc.target.connector },
              details: { deadLetterId: input.deadLetterId, versionHash: flow!.version_hash, skipped: transformed.skipped, created: written.created, updated: written.updated, unchanged: written.unchanged, accessChanges: written.proposed.map((p) => p.change.id) },
            },
            { em },
          );
          return { status: 'replayed' as const, outcome };
        });
      });
    },

    /** A scheduled run's start: opened against the version in force then, or skipped while another run is going. */
    async openScheduledFlowRun(input: { runId: string; flowName: string }): Promise<{ run: FlowRunRef & { attempts: number; planned: boolean } } | { skipped: string }> {
      try {
        const workflowId = Context.current().info.workflowExecution?.workflowId;
        const opened = await openFlowRun(deps, { id: input.runId, flowName: input.flowName, actor: { kind: 'system', id: 'schedule', display: 'flow schedule' }, trigger: 'schedule', ...(workflowId ? { workflowId } : {}) });
        return { run: { runId: opened.id, flowName: input.flowName, versionHash: opened.versionHash, attempts: opened.document.errors.retries + 1, planned: !!planRulesOf(opened.document) } };
      } catch (err) {
        if (err instanceof GatehouseError && (err.code === 'conflict' || err.code === 'not_found')) return { skipped: err.message };
        throw err;
      }
    },

    async finishFlowRun(input: FlowRunRef & { status: 'succeeded' | 'failed'; error?: string }): Promise<void> {
      await deps.orm.em.transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const [run] = await conn.execute<{ batches: number; read: number; skipped: number; created: number; updated: number; unchanged: number; deleted: number; access_changes: number; started_by_kind: string; started_by_id: string; started_by_name: string | null }[]>(
          `UPDATE flow_run SET status = ?, ended_at = now(), error = ? WHERE id = ? AND status = 'running'
           RETURNING batches, read, skipped, created, updated, unchanged, deleted, access_changes, started_by_kind, started_by_id, started_by_name`,
          [input.status, input.error?.slice(0, 2000) ?? null, input.runId],
          'all',
          ctx,
        );
        if (!run) return; // finished already (a retried activity)
        const startedBy: Actor = { kind: run.started_by_kind as Actor['kind'], id: run.started_by_id, ...(run.started_by_name ? { display: run.started_by_name } : {}) };
        await deps.ledger.append(
          {
            action: input.status === 'succeeded' ? 'flow.run.succeeded' : 'flow.run.failed',
            actor: { kind: 'workflow', id: `flow:${input.flowName}` },
            subject: { type: 'flow', id: input.flowName },
            details: {
              runId: input.runId,
              versionHash: input.versionHash,
              startedBy,
              pages: run.batches,
              read: run.read,
              skipped: run.skipped,
              created: run.created,
              updated: run.updated,
              unchanged: run.unchanged,
              deleted: run.deleted,
              accessChanges: run.access_changes,
              ...(input.error ? { error: input.error.slice(0, 500) } : {}),
            },
            correlation: { workflowId: `flow:${input.flowName}` },
          },
          { em },
        );
      });
    },
  };
}

export type FlowActivities = ReturnType<typeof createFlowActivities>;
