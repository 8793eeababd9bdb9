// Validating, publishing and reading sync flows. A publication is stored and recorded in the ledger
// (`flow.published`) in one transaction; every method checks the caller's ability first.
import { ForbiddenError } from '@casl/ability';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { LedgerAppender } from '../../audit/index.js';
import { actorOfPrincipal } from '../../audit/ledger-routes.js';
import type { AdminAbility, Principal } from '../../shared/auth/permissions.js';
import { conflict, invalid, notFound } from '../../shared/errors.js';
import { isoTime } from '../../shared/timestamps.js';
import { flowVersionHash, parseFlowDocument, type FlowDocument } from './flow-document.js';

export interface FlowCaller {
  principal: Principal;
  ability: AdminAbility;
}

export interface FlowPublication {
  seq: number;
  name: string;
  versionHash: string;
  publishedAt: string;
  publishedBy: { kind: string; id: string; name?: string };
  note?: string;
}

export interface FlowVersion {
  name: string;
  versionHash: string;
  document: FlowDocument;
  source: string;
  createdAt: string;
}

export interface FlowInForce extends FlowPublication {
  version: FlowVersion;
}

interface PublicationRow {
  seq: string;
  flow_name: string;
  version_hash: string;
  published_at: Date | string;
  published_by_kind: string;
  published_by_id: string;
  published_by_name: string | null;
  note: string | null;
}
type InForceRow = PublicationRow & { document: FlowDocument; source: string; created_at: Date | string };

const PUBLICATION_COLUMNS = 'p.seq, p.flow_name, p.version_hash, p.published_at, p.published_by_kind, p.published_by_id, p.published_by_name, p.note';

const toPublication = (r: PublicationRow): FlowPublication => ({
  seq: Number(r.seq),
  name: r.flow_name,
  versionHash: r.version_hash,
  publishedAt: isoTime(r.published_at),
  publishedBy: { kind: r.published_by_kind, id: r.published_by_id, ...(r.published_by_name ? { name: r.published_by_name } : {}) },
  ...(r.note ? { note: r.note } : {}),
});
const toInForce = (r: InForceRow): FlowInForce => ({
  ...toPublication(r),
  version: { name: r.flow_name, versionHash: r.version_hash, document: r.document, source: r.source, createdAt: isoTime(r.created_at) },
});

/** The latest publication of each flow (or of one), with its version. */
const IN_FORCE_SQL = `SELECT DISTINCT ON (p.flow_name) ${PUBLICATION_COLUMNS}, v.document, v.source, v.created_at
  FROM flow_publication p JOIN flow_version v ON v.version_hash = p.version_hash`;

export interface PublishFlowInput {
  document: string;
  note?: string | undefined;
  /** The version hash the caller believes is in force for this flow (null: a new flow); refused when another was published since. */
  replaces?: string | null | undefined;
}

export function createFlowService(deps: { orm: MikroORM; ledger: LedgerAppender }) {
  const sql = () => deps.orm.em.getConnection();
  const check = (caller: FlowCaller, action: 'read' | 'publish') => ForbiddenError.from(caller.ability).throwUnlessCan(action, 'Flow');

  /** Names the connector instances a flow uses that do not exist, by the field that names them. */
  async function checkConnectors(doc: FlowDocument): Promise<void> {
    const names = [...new Set([doc.source.connector, doc.target.connector])];
    const rows = await sql().execute<{ name: string }[]>(`SELECT name FROM connector_instance WHERE name IN (${names.map(() => '?').join(', ')})`, names);
    const known = new Set(rows.map((r) => r.name));
    for (const field of ['source', 'target'] as const) {
      if (!known.has(doc[field].connector)) throw invalid(`${field}.connector`, `no connector is named ${doc[field].connector} (gatehouse connector list)`);
    }
  }

  return {
    /** Parses and checks a flow without storing it: the name and version it would publish as. */
    async validate(caller: FlowCaller, text: string): Promise<{ name: string; versionHash: string; document: FlowDocument }> {
      check(caller, 'read');
      const document = parseFlowDocument(text);
      await checkConnectors(document);
      return { name: document.name, versionHash: flowVersionHash(document), document };
    },

    async publish(caller: FlowCaller, input: PublishFlowInput): Promise<{ published: boolean; publication: FlowPublication }> {
      check(caller, 'publish');
      const document = parseFlowDocument(input.document);
      await checkConnectors(document);
      const versionHash = flowVersionHash(document);
      const actor = actorOfPrincipal(caller.principal);
      return deps.orm.em.transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        // One publication of a flow at a time, across every server process.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('gatehouse.flow.publish:' || ?::text, 0))", [document.name], 'all', ctx);
        const [current] = await conn.execute<PublicationRow[]>(`SELECT ${PUBLICATION_COLUMNS} FROM flow_publication p WHERE p.flow_name = ? ORDER BY p.seq DESC LIMIT 1`, [document.name], 'all', ctx);
        if (input.replaces !== undefined && (current?.version_hash ?? null) !== input.replaces) {
          throw conflict(`the flow ${document.name} in force is ${current?.version_hash ?? 'none'}, not ${input.replaces ?? 'none'}: someone published it since you read it`, 'replaces');
        }
        if (current?.version_hash === versionHash) return { published: false, publication: toPublication(current) };
        const inserted = await conn.execute<{ version_hash: string }[]>(
          'INSERT INTO flow_version (version_hash, name, document, source) VALUES (?, ?, ?, ?) ON CONFLICT (version_hash) DO NOTHING RETURNING version_hash',
          [versionHash, document.name, JSON.stringify(document), input.document],
          'all',
          ctx,
        );
        const [row] = await conn.execute<PublicationRow[]>(
          `INSERT INTO flow_publication AS p (flow_name, version_hash, published_by_kind, published_by_id, published_by_name, note) VALUES (?, ?, ?, ?, ?, ?)
           RETURNING ${PUBLICATION_COLUMNS}`,
          [document.name, versionHash, actor.kind, actor.id, actor.display ?? null, input.note ?? null],
          'all',
          ctx,
        );
        await deps.ledger.append(
          {
            action: 'flow.published',
            actor,
            subject: { type: 'flow', id: document.name },
            details: {
              versionHash,
              previous: current?.version_hash ?? null,
              // A version seen before is published again (a rollback); its text is the stored one.
              newVersion: inserted.length > 0,
              source: { connector: document.source.connector, objectClass: document.source.objectClass },
              target: { connector: document.target.connector, objectClass: document.target.objectClass, operation: document.target.operation },
              ...(input.note ? { note: input.note } : {}),
            },
          },
          { em },
        );
        return { published: true, publication: toPublication(row!) };
      });
    },

    async list(caller: FlowCaller): Promise<FlowInForce[]> {
      check(caller, 'read');
      const rows = await sql().execute<InForceRow[]>(`${IN_FORCE_SQL} ORDER BY p.flow_name, p.seq DESC`);
      return rows.map(toInForce);
    },

    /** A flow's version in force and its publications, newest first. */
    async get(caller: FlowCaller, name: string): Promise<{ inForce: FlowInForce; publications: FlowPublication[] }> {
      check(caller, 'read');
      const [row] = await sql().execute<InForceRow[]>(`${IN_FORCE_SQL} WHERE p.flow_name = ? ORDER BY p.flow_name, p.seq DESC`, [name]);
      if (!row) throw notFound('flow', name);
      const publications = await sql().execute<PublicationRow[]>(`SELECT ${PUBLICATION_COLUMNS} FROM flow_publication p WHERE p.flow_name = ? ORDER BY p.seq DESC LIMIT 50`, [name]);
      return { inForce: toInForce(row), publications: publications.map(toPublication) };
    },
  };
}

export type FlowService = ReturnType<typeof createFlowService>;
