// Access policy versions in PostgreSQL: the version in force (the latest publication), any version by
// its hash, and the publication history. Compiled policies are kept per version hash, since a version
// never changes once stored.
import type { MikroORM } from '@mikro-orm/postgresql';
import { compilePolicy, type CompiledPolicy } from './compile-policy.js';
import { policyDocumentSchema, type PolicyDocument } from './policy-document.js';
import { isoTime } from '../shared/timestamps.js';

export interface PolicyVersion {
  name: string;
  versionHash: string;
  document: PolicyDocument;
  /** The YAML as first published. */
  source: string;
  createdAt: string;
}

export interface PolicyPublication {
  seq: number;
  name: string;
  versionHash: string;
  publishedAt: string;
  publishedBy: { kind: string; id: string; name?: string };
  note?: string;
}

interface PublicationRow {
  seq: string;
  name: string;
  version_hash: string;
  published_at: Date | string;
  published_by_kind: string;
  published_by_id: string;
  published_by_name: string | null;
  note: string | null;
}

export const PUBLICATION_COLUMNS = `p.seq, v.name, p.version_hash, p.published_at, p.published_by_kind, p.published_by_id, p.published_by_name, p.note`;

export function toPublication(r: PublicationRow): PolicyPublication {
  return {
    seq: Number(r.seq),
    name: r.name,
    versionHash: r.version_hash,
    publishedAt: isoTime(r.published_at),
    publishedBy: { kind: r.published_by_kind, id: r.published_by_id, ...(r.published_by_name ? { name: r.published_by_name } : {}) },
    ...(r.note ? { note: r.note } : {}),
  };
}

/** How many compiled versions a process keeps; a deployment has few versions in use at once. */
const COMPILED_CACHE_SIZE = 16;

export function createPolicyStore(deps: { orm: MikroORM }) {
  const sql = () => deps.orm.em.fork().getConnection();
  const compiled = new Map<string, CompiledPolicy>();

  const compile = (version: PolicyVersion): CompiledPolicy => {
    let hit = compiled.get(version.versionHash);
    if (!hit) {
      hit = compilePolicy(version.document, version.versionHash);
      if (compiled.size >= COMPILED_CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
      compiled.set(version.versionHash, hit);
    }
    return hit;
  };

  const toVersion = (r: { name: string; version_hash: string; document: unknown; source: string; created_at: Date | string }): PolicyVersion => ({
    name: r.name,
    versionHash: r.version_hash,
    // Stored documents were checked when published; parsing again fills defaults added since.
    document: policyDocumentSchema.parse(r.document),
    source: r.source,
    createdAt: isoTime(r.created_at),
  });

  async function version(versionHash: string): Promise<PolicyVersion | undefined> {
    const [row] = await sql().execute<{ name: string; version_hash: string; document: unknown; source: string; created_at: Date | string }[]>(
      'SELECT name, version_hash, document, source, created_at FROM policy_version WHERE version_hash = ?',
      [versionHash],
    );
    return row ? toVersion(row) : undefined;
  }

  return {
    /** The publication in force, or undefined before the first publication. */
    async inForce(): Promise<(PolicyPublication & { version: PolicyVersion }) | undefined> {
      const [row] = await sql().execute<(PublicationRow & { document: unknown; source: string; created_at: Date | string })[]>(
        `SELECT ${PUBLICATION_COLUMNS}, v.document, v.source, v.created_at
           FROM policy_publication p JOIN policy_version v ON v.version_hash = p.version_hash
          ORDER BY p.seq DESC LIMIT 1`,
      );
      if (!row) return undefined;
      return { ...toPublication(row), version: toVersion(row) };
    },

    /** The compiled policy in force, or undefined before the first publication. */
    async compiledInForce(): Promise<CompiledPolicy | undefined> {
      const [row] = await sql().execute<{ version_hash: string }[]>('SELECT version_hash FROM policy_publication ORDER BY seq DESC LIMIT 1');
      if (!row) return undefined;
      const cached = compiled.get(row.version_hash);
      if (cached) return cached;
      const found = await version(row.version_hash);
      return found ? compile(found) : undefined;
    },

    version,

    /** Publications, newest first. */
    async publications(options: { limit: number; beforeSeq?: number }): Promise<PolicyPublication[]> {
      const rows = await sql().execute<PublicationRow[]>(
        `SELECT ${PUBLICATION_COLUMNS} FROM policy_publication p JOIN policy_version v ON v.version_hash = p.version_hash
          ${options.beforeSeq !== undefined ? 'WHERE p.seq < ?' : ''} ORDER BY p.seq DESC LIMIT ?`,
        options.beforeSeq !== undefined ? [options.beforeSeq, options.limit] : [options.limit],
      );
      return rows.map(toPublication);
    },

    compile,
  };
}

export type PolicyStore = ReturnType<typeof createPolicyStore>;
