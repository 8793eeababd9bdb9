// Publishing and reading access policy versions, and simulating a draft. A publication is stored and
// recorded in the ledger (`policy.published`) in one transaction; every method checks the caller's
// ability first (STYLE.md practice 8).
import { ForbiddenError, subject as asSubject } from '@casl/ability';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { LedgerAppender } from '../audit/index.js';
import { actorOfPrincipal } from '../audit/ledger-routes.js';
import type { AdminAbility, Principal } from '../shared/auth/permissions.js';
import { conflict, invalid, notFound } from '../shared/errors.js';
import { compilePolicy } from './compile-policy.js';
import { parsePolicyDocument, policyVersionHash } from './policy-document.js';
import { PUBLICATION_COLUMNS, toPublication, type PolicyPublication, type PolicyStore, type PolicyVersion } from './policy-store.js';
import { simulatePolicy, type SimulationReport, type SimulationSource } from './policy-simulation.js';

/** Who is asking, as the server authenticated them. */
export interface PolicyCaller {
  principal: Principal;
  ability: AdminAbility;
}

export interface PublishInput {
  /** The YAML (or JSON) document. */
  document: string;
  note?: string | undefined;
  /** The version hash the caller believes is in force; refused when another was published since. */
  replaces?: string | undefined;
}

export interface PublishResult {
  publication: PolicyPublication;
  /** False when this version was already in force: nothing was published. */
  published: boolean;
}

/** Serialises publications across every server process. */
const PUBLISH_LOCK = "pg_advisory_xact_lock(hashtextextended('gatehouse.policy.publish', 0))";

export function createPolicyService(deps: { orm: MikroORM; store: PolicyStore; ledger: LedgerAppender; simulation: SimulationSource }) {
  const check = (caller: PolicyCaller, action: 'read' | 'publish' | 'simulate') => ForbiddenError.from(caller.ability).throwUnlessCan(action, asSubject('Policy', {}));

  return {
    async publish(caller: PolicyCaller, input: PublishInput): Promise<PublishResult> {
      check(caller, 'publish');
      const document = parsePolicyDocument(input.document);
      const versionHash = policyVersionHash(document);
      if (input.replaces !== undefined && !/^[0-9a-f]{64}$/.test(input.replaces)) throw invalid('replaces', 'must be a policy version hash (64 hex digits)');
      const actor = actorOfPrincipal(caller.principal);

      return deps.orm.em.fork().transactional(async (em) => {
        const conn = em.getConnection();
        const ctx = em.getTransactionContext();
        await conn.execute(`SELECT ${PUBLISH_LOCK}`, [], 'all', ctx);
        const [current] = await conn.execute<{ version_hash: string; name: string }[]>(
          'SELECT p.version_hash, v.name FROM policy_publication p JOIN policy_version v USING (version_hash) ORDER BY p.seq DESC LIMIT 1',
          [],
          'all',
          ctx,
        );
        if (input.replaces !== undefined && current?.version_hash !== input.replaces) {
          throw conflict(`the policy in force is ${current ? `${current.name} ${current.version_hash}` : 'none'}, not ${input.replaces}: someone published since you read it`, 'replaces');
        }
        if (current?.version_hash === versionHash) {
          const [row] = await conn.execute<Parameters<typeof toPublication>[0][]>(
            `SELECT ${PUBLICATION_COLUMNS} FROM policy_publication p JOIN policy_version v ON v.version_hash = p.version_hash ORDER BY p.seq DESC LIMIT 1`,
            [],
            'all',
            ctx,
          );
          return { publication: toPublication(row!), published: false };
        }
        const inserted = await conn.execute<{ version_hash: string }[]>(
          'INSERT INTO policy_version (version_hash, name, document, source) VALUES (?, ?, ?, ?) ON CONFLICT (version_hash) DO NOTHING RETURNING version_hash',
          [versionHash, document.name, JSON.stringify(document), input.document],
          'all',
          ctx,
        );
        const [row] = await conn.execute<Parameters<typeof toPublication>[0][]>(
          `WITH p AS (
             INSERT INTO policy_publication (version_hash, published_by_kind, published_by_id, published_by_name, note) VALUES (?, ?, ?, ?, ?)
             RETURNING seq, version_hash, published_at, published_by_kind, published_by_id, published_by_name, note)
           SELECT ${PUBLICATION_COLUMNS} FROM p JOIN policy_version v ON v.version_hash = p.version_hash`,
          [versionHash, actor.kind, actor.id, actor.display ?? null, input.note ?? null],
          'all',
          ctx,
        );
        await deps.ledger.append(
          {
            action: 'policy.published',
            actor,
            subject: { type: 'policy', id: document.name },
            details: {
              versionHash,
              previous: current ? { name: current.name, versionHash: current.version_hash } : null,
              // A version seen before is published again (a rollback); its text is the stored one.
              newVersion: inserted.length > 0,
              rules: document.rules.length,
              separationOfDuties: document.separationOfDuties.length,
              targets: document.targets.length,
              ...(input.note ? { note: input.note } : {}),
            },
            policy: { id: document.name, versionHash },
          },
          { em },
        );
        return { publication: toPublication(row!), published: true };
      });
    },

    async inForce(caller: PolicyCaller): Promise<(PolicyPublication & { version: PolicyVersion }) | undefined> {
      check(caller, 'read');
      return deps.store.inForce();
    },

    async version(caller: PolicyCaller, versionHash: string): Promise<PolicyVersion> {
      check(caller, 'read');
      const version = await deps.store.version(versionHash);
      if (!version) throw notFound('policy version', versionHash);
      return version;
    },

    async publications(caller: PolicyCaller, options: { limit: number; beforeSeq?: number }): Promise<PolicyPublication[]> {
      check(caller, 'read');
      return deps.store.publications(options);
    },

    /** How a draft would decide today's assignments and pending requests, compared with the policy in force. */
    async simulate(caller: PolicyCaller, input: { document: string; limit?: number }): Promise<SimulationReport> {
      check(caller, 'simulate');
      const draftDoc = parsePolicyDocument(input.document);
      const draft = compilePolicy(draftDoc, policyVersionHash(draftDoc));
      const inForce = await deps.store.compiledInForce();
      return simulatePolicy({ draft, inForce, source: deps.simulation, limit: input.limit ?? 10_000 });
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
