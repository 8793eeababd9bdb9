// A flow run's work, one page per activity: read the page after the flow's cursor from the source,
// keep what the filter accepts, map, apply the field rules, write to the target by key, then record
// the page on the ledger and move the cursor in one transaction. A crash before that commit reads
// the same page again and writes the same records (upserts by key change nothing the second time),
// so nothing is skipped and nothing applied twice. Only counts and hashes leave the activity: no
// record, no cursor (it holds key values) enters Temporal's history or the ledger.
import { createHash, randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender } from '../../audit/index.js';
import { compileExpression, type CompiledExpression } from '../../connectors/http/jsonata-expression.js';
import type { ConnectorFactory, OpenedConnector } from '../../connectors/instances/connector-factory.js';
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import { requireCapability, type Connector } from '../../connectors/spi/connector.js';
import { changesAccess, type ObjectBatch, type ObjectRecord } from '../../connectors/spi/records.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { GatehouseError, notFound } from '../../shared/errors.js';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import { SecretConflictError } from '../../shared/secrets/secret-store.js';
import { applyFieldRules, FIELD_HASH_KEY_PATH } from './field-rules.js';
import type { FlowDocument } from './flow-document.js';
import { openFlowRun } from './flow-run-record.js';

export interface FlowRunRef {
  runId: string;
  flowName: string;
  versionHash: string;
}

export interface FlowPageOutcome {
  /** The source has nothing more after the last page (for now). */
  complete: boolean;
  pages: number;
  read: number;
  skipped: number;
  created: number;
  updated: number;
  unchanged: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Pages one activity writes at most, and how long it starts new ones for: the workflow's history stays short, and a retry repeats little. */
const PAGES_PER_ACTIVITY = 20;
const ACTIVITY_BUDGET_MS = 30_000;

/** How long a flow's connector stays open after its last page, for the next one. */
const CONNECTOR_IDLE_MS = 60_000;

export function createFlowActivities(deps: { orm: MikroORM; ledger: LedgerAppender; connectors: ConnectorFactory; secrets: SecretStore; isRunning?: (workflowId: string) => Promise<boolean> }) {
  const sql = () => deps.orm.em.getConnection();
  const documents = new Map<string, { doc: FlowDocument; filter?: CompiledExpression; mapping?: CompiledExpression }>();
  let hashKey: Promise<Buffer> | undefined;

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
    const doc = row.document;
    const compiled = {
      doc,
      ...(doc.filter ? { filter: compileExpression(doc.filter, 'filter') } : {}),
      ...(doc.mapping ? { mapping: compileExpression(doc.mapping, 'mapping') } : {}),
    };
    documents.set(versionHash, compiled);
    return compiled;
  }

  /** The flows' hashing key from Vault, made on first use (check-and-set, so two workers agree on one). */
  function fieldHashKey(): Promise<Buffer> {
    hashKey ??= (async () => {
      const stored = await deps.secrets.readKv(FIELD_HASH_KEY_PATH);
      if (stored?.data.key) return Buffer.from(stored.data.key, 'base64');
      try {
        await deps.secrets.writeKv(FIELD_HASH_KEY_PATH, { key: randomBytes(32).toString('base64') }, { cas: 0 });
      } catch (err) {
        if (!(err instanceof SecretConflictError)) throw err;
      }
      const made = await deps.secrets.readKv(FIELD_HASH_KEY_PATH);
      if (!made?.data.key) throw new GatehouseError('internal', 'the flows\' field hashing key could not be stored in Vault');
      return Buffer.from(made.data.key, 'base64');
    })().catch((err: unknown) => {
      hashKey = undefined;
      throw err;
    });
    return hashKey;
  }

  async function instanceId(name: string, field: string): Promise<string> {
    const [row] = await sql().execute<{ id: string }[]>('SELECT id FROM connector_instance WHERE name = ?', [name]);
    if (!row) throw new GatehouseError('invalid_request', `${field}: no connector is named ${name} any more`, { field });
    return row.id;
  }

  /** Filter, mapping and field rules; a record the filter refuses, or the mapping maps to nothing, is skipped. */
  async function transform(version: Awaited<ReturnType<typeof flowVersion>>, records: ObjectRecord[]): Promise<{ out: ObjectRecord[]; skipped: number }> {
    const key = await fieldHashKey();
    const out: ObjectRecord[] = [];
    let skipped = 0;
    for (const [i, record] of records.entries()) {
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
        throw new GatehouseError('invalid_request', `mapping: record ${i + 1} of the page mapped to ${Array.isArray(mapped) ? 'a list' : `a ${typeof mapped}`}, not an object of fields`, { field: 'mapping' });
      }
      out.push(applyFieldRules(mapped as ObjectRecord, version.doc.fields, key));
    }
    return { out, skipped };
  }

  async function readPage(doc: FlowDocument, sourceId: string, from: string | null): Promise<ObjectBatch> {
    return withConnector(sourceId, async (connector, instance) => {
      const reader = requireCapability(connector, 'readObjects', instance.name);
      for await (const batch of reader.readObjects(doc.source.objectClass, { ...(from ? { cursor: from } : {}), pageSize: doc.source.pageSize })) return batch;
      return { records: [], cursor: from ?? '', complete: true };
    });
  }

  /** Transforms and writes one page read from `from`, then records it and moves the cursor past it. */
  async function writePage(input: FlowRunRef, version: Awaited<ReturnType<typeof flowVersion>>, targetId: string, from: string | null, page: ObjectBatch): Promise<Omit<FlowPageOutcome, 'complete' | 'pages'>> {
    const { doc } = version;
    const { out, skipped } = await transform(version, page.records);
    const written = await withConnector(targetId, async (connector, instance) => {
      const classes = await requireCapability(connector, 'readObjects', instance.name).objectClasses();
      const target = classes.find((c) => c.name === doc.target.objectClass);
      if (!target) throw new GatehouseError('invalid_request', `target.objectClass: connector ${instance.name} has no object class ${doc.target.objectClass}`, { field: 'target.objectClass' });
      if (changesAccess(target.kind)) {
        throw new GatehouseError(
          'invalid_request',
          `target.objectClass: ${doc.target.objectClass} holds ${target.kind} records, so writing it changes access; flows write such classes only through the access gate, which is not built yet, so nothing was written`,
          { field: 'target.objectClass' },
        );
      }
      if (!target.writable) {
        throw new GatehouseError('invalid_request', `target.objectClass: ${doc.target.objectClass} is not writable in the configuration of connector ${instance.name}; nothing was written`, { field: 'target.objectClass' });
      }
      if (!out.length) return { created: 0, updated: 0, unchanged: 0 };
      const writer = requireCapability(connector, 'writeObjects', instance.name);
      return writer.upsertObjects(doc.target.objectClass, out, { idempotencyKey: `flow:${input.flowName}:${input.runId}:${sha256(from ?? '')}` }, { createOnly: doc.target.operation === 'create-only' });
    });

    const outcome = { read: page.records.length, skipped, ...written };
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
      await conn.execute(
        `UPDATE flow_run SET batches = batches + 1, read = read + ?, skipped = skipped + ?, created = created + ?, updated = updated + ?, unchanged = unchanged + ? WHERE id = ?`,
        [outcome.read, outcome.skipped, outcome.created, outcome.updated, outcome.unchanged, input.runId],
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
            writtenHash: sha256(canonicalJson(out)),
          },
          correlation: { workflowId: `flow:${input.flowName}` },
        },
        { em },
      );
    });
    return outcome;
  }

  return {
    /**
     * Pages from the flow's cursor, each written and recorded on its own, for up to PAGES_PER_ACTIVITY
     * pages or ACTIVITY_BUDGET_MS; the next page is read while the current one is written.
     */
    async runFlowPages(input: FlowRunRef): Promise<FlowPageOutcome> {
      return asConnectorActivity(async () => {
        const version = await flowVersion(input.versionHash);
        const { doc } = version;
        const [state] = await sql().execute<{ cursor: string | null }[]>('SELECT cursor FROM flow_state WHERE flow_name = ?', [input.flowName]);
        let from = state?.cursor ?? null;
        const [sourceId, targetId] = await Promise.all([instanceId(doc.source.connector, 'source.connector'), instanceId(doc.target.connector, 'target.connector')]);
        const total: FlowPageOutcome = { complete: false, pages: 0, read: 0, skipped: 0, created: 0, updated: 0, unchanged: 0 };
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
          from = page.cursor;
          if (page.complete || !next) return { ...total, complete: page.complete };
          reading = next;
        }
      });
    },

    /** A scheduled run's start: opened against the version in force then, or skipped while another run is going. */
    async openScheduledFlowRun(input: { runId: string; flowName: string }): Promise<{ run: FlowRunRef & { attempts: number } } | { skipped: string }> {
      try {
        const workflowId = Context.current().info.workflowExecution?.workflowId;
        const opened = await openFlowRun(deps, { id: input.runId, flowName: input.flowName, actor: { kind: 'system', id: 'schedule', display: 'flow schedule' }, trigger: 'schedule', ...(workflowId ? { workflowId } : {}) });
        return { run: { runId: opened.id, flowName: input.flowName, versionHash: opened.versionHash, attempts: opened.document.errors.retries + 1 } };
      } catch (err) {
        if (err instanceof GatehouseError && (err.code === 'conflict' || err.code === 'not_found')) return { skipped: err.message };
        throw err;
      }
    },

    async finishFlowRun(input: FlowRunRef & { status: 'succeeded' | 'failed'; error?: string }): Promise<void> {
      await deps.orm.em.transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        const [run] = await conn.execute<{ batches: number; read: number; skipped: number; created: number; updated: number; unchanged: number; started_by_kind: string; started_by_id: string; started_by_name: string | null }[]>(
          `UPDATE flow_run SET status = ?, ended_at = now(), error = ? WHERE id = ? AND status = 'running'
           RETURNING batches, read, skipped, created, updated, unchanged, started_by_kind, started_by_id, started_by_name`,
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
