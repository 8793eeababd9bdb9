// Publishing and reading access policy versions, and simulating a draft. A publication is stored and
// recorded in the ledger (`policy.published`) in one transaction; every method checks the caller's
// ability first (STYLE.md practice 8).
import { ForbiddenError, subject as asSubject } from '@casl/ability';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender } from '../audit/index.js';
import { actorOfPrincipal } from '../audit/ledger-routes.js';
import type { AdminAbility, Principal } from '../shared/auth/permissions.js';
import { conflict, dependencyUnavailable, invalid, notFound } from '../shared/errors.js';
import { adminRequirement, type AdminRequirement } from './admin-rules.js';
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

/**
 * Published; or nothing changed because this version was already in force; or nothing changed yet
 * because the publication waits for approval as an admin change (issue 12, item 8).
 */
export type PublishResult = { published: boolean; publication: PolicyPublication } | { published: false; awaitingApproval: AdminChangeView };

/** An admin change as its proposer and its approvers see it. */
export interface AdminChangeView {
  id: string;
  action: string;
  status: string;
  summary: string;
  reasons: string[];
  stages: { name: string; quorum: number }[];
  policy: { name: string; versionHash: string };
  proposedBy: { kind: string; id: string; name?: string };
  createdAt: string;
}

/** What a publication waiting for approval carries: exactly what the proposer asked for. */
export interface PublishPayload {
  document: string;
  note?: string;
  /** The version in force when it was proposed: an approved proposal is refused if another was published since. */
  replaces: string;
}

/** Opens the approval gate for an admin change (server/admin). */
export interface AdminChangeProposals {
  proposePublication(input: { caller: PolicyCaller; payload: PublishPayload; summary: string; requirement: AdminRequirement; policy: { name: string; versionHash: string } }): Promise<AdminChangeView>;
}

/** Serialises publications across every server process. */
const PUBLISH_LOCK = "pg_advisory_xact_lock(hashtextextended('gatehouse.policy.publish', 0))";

export interface PublicationInput {
  text: string;
  note?: string | undefined;
  /** Refused unless this version is in force (the caller's guard against a concurrent publication). */
  replaces?: string | undefined;
  /** The version whose administration rules allowed this publication (null: bootstrap, none in force). */
  governedBy: string | null;
  actor: Actor;
  /** Why this publication needs no further approval, for the record: bootstrap, the rule, or the approvals. */
  authority: Record<string, unknown>;
}

/**
 * Publishes a version inside the caller's transaction, under the publication lock, and records it in
 * the ledger. Refused when the version in force is not the one the caller's authority was judged
 * under (so a rule changed meanwhile cannot be skipped). Publishing the version in force changes nothing.
 */
export async function publishInTransaction(em: EntityManager, ledger: LedgerAppender, input: PublicationInput): Promise<PublishResult> {
  const document = parsePolicyDocument(input.text);
  const versionHash = policyVersionHash(document);
  const conn = em.getConnection();
  const ctx = em.getTransactionContext();
  await conn.execute(`SELECT ${PUBLISH_LOCK}`, [], 'all', ctx);
  const [current] = await conn.execute<{ version_hash: string; name: string }[]>(
    'SELECT p.version_hash, v.name FROM policy_publication p JOIN policy_version v USING (version_hash) ORDER BY p.seq DESC LIMIT 1',
    [],
    'all',
    ctx,
  );
  const inForce = current ? `${current.name} ${current.version_hash}` : 'none';
  if (input.replaces !== undefined && current?.version_hash !== input.replaces) {
    throw conflict(`the policy in force is ${inForce}, not ${input.replaces}: someone published since you read it`, 'replaces');
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
  if ((current?.version_hash ?? null) !== input.governedBy) {
    throw conflict(`the policy in force is now ${inForce}, not ${input.governedBy ?? 'none'}, whose rules this publication was judged under: publish again`, 'replaces');
  }
  const inserted = await conn.execute<{ version_hash: string }[]>(
    'INSERT INTO policy_version (version_hash, name, document, source) VALUES (?, ?, ?, ?) ON CONFLICT (version_hash) DO NOTHING RETURNING version_hash',
    [versionHash, document.name, JSON.stringify(document), input.text],
    'all',
    ctx,
  );
  const [row] = await conn.execute<Parameters<typeof toPublication>[0][]>(
    `WITH p AS (
       INSERT INTO policy_publication (version_hash, published_by_kind, published_by_id, published_by_name, note) VALUES (?, ?, ?, ?, ?)
       RETURNING seq, version_hash, published_at, published_by_kind, published_by_id, published_by_name, note)
     SELECT ${PUBLICATION_COLUMNS} FROM p JOIN policy_version v ON v.version_hash = p.version_hash`,
    [versionHash, input.actor.kind, input.actor.id, input.actor.display ?? null, input.note ?? null],
    'all',
    ctx,
  );
  await ledger.append(
    {
      action: 'policy.published',
      actor: input.actor,
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
        ...input.authority,
      },
      policy: { id: document.name, versionHash },
    },
    { em },
  );
  return { publication: toPublication(row!), published: true };
}

export function createPolicyService(deps: { orm: MikroORM; store: PolicyStore; ledger: LedgerAppender; simulation: SimulationSource; proposals?: AdminChangeProposals }) {
  const check = (caller: PolicyCaller, action: 'read' | 'publish' | 'simulate') => ForbiddenError.from(caller.ability).throwUnlessCan(action, asSubject('Policy', {}));

  return {
    /**
     * Publishes a version, or proposes it when the policy in force says publishing needs approval
     * (by default: a second admin). The first publication of all is the one exception, recorded as
     * the bootstrap.
     */
    async publish(caller: PolicyCaller, input: PublishInput): Promise<PublishResult> {
      check(caller, 'publish');
      const document = parsePolicyDocument(input.document);
      const versionHash = policyVersionHash(document);
      if (input.replaces !== undefined && !/^[0-9a-f]{64}$/.test(input.replaces)) throw invalid('replaces', 'must be a policy version hash (64 hex digits)');
      const actor = actorOfPrincipal(caller.principal);
      const publishNow = (governedBy: string | null, authority: Record<string, unknown>) =>
        deps.orm.em.fork().transactional((em) => publishInTransaction(em, deps.ledger, { text: input.document, note: input.note, replaces: input.replaces, governedBy, actor, authority }));

      const current = await deps.store.inForce();
      if (!current) {
        return publishNow(null, { bootstrap: true, authority: 'the first policy of all: nothing was in force to require approval for it (bootstrap)' });
      }
      if (input.replaces !== undefined && current.versionHash !== input.replaces) {
        throw conflict(`the policy in force is ${current.name} ${current.versionHash}, not ${input.replaces}: someone published since you read it`, 'replaces');
      }
      if (current.versionHash === versionHash) {
        const { version: _inForce, ...publication } = current;
        return { publication, published: false };
      }
      const requirement = adminRequirement(current.version.document, 'publishPolicy');
      if (requirement.effect === 'allow') return publishNow(current.versionHash, { authority: requirement.reason });
      if (!deps.proposals) throw dependencyUnavailable('Temporal', `${requirement.reason}, and this process cannot open an approval gate: publish through the API of a running Gatehouse`);
      const pending = await deps.proposals.proposePublication({
        caller,
        payload: { document: input.document, ...(input.note ? { note: input.note } : {}), replaces: current.versionHash },
        summary: `publish policy ${document.name} version ${versionHash}, replacing ${current.name} ${current.versionHash}`,
        requirement,
        policy: { name: current.name, versionHash: current.versionHash },
      });
      return { published: false, awaitingApproval: pending };
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
