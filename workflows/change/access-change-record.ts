// The access_change row: one per decided change, written when it is decided and read back by the
// approval gate, the inbox and the apply step. The per-change path and rotations both record theirs
// here, with the ledger entries that name the change.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Ledger, LedgerEntry } from '../../audit/index.js';
import type { AccessChange } from '../../policies/access-change.js';
import type { AppliedChange, CompensationResult, DecidedChange } from './change-types.js';

export interface AccessChangeRow {
  change: AccessChange;
  change_hash: string;
  input_hash: string;
  status: string;
  decision: DecidedChange['decision'];
  participants: DecidedChange['participants'] | null;
  policy_name: string;
  policy_version_hash: string;
  result: (AppliedChange & { compensation?: CompensationResult }) | null;
}

/** The change's row, read inside `em`'s transaction when it has one. */
export async function readAccessChange(em: EntityManager, id: string): Promise<AccessChangeRow | undefined> {
  const [row] = await em
    .getConnection()
    .execute<AccessChangeRow[]>(
      `SELECT change, change_hash, input_hash, status, decision, participants, policy_name, policy_version_hash, result
         FROM access_change WHERE id = ?`,
      [id],
      'all',
      em.getTransactionContext(),
    );
  return row;
}

/** Records a decided change in `em`'s transaction. */
export async function insertAccessChange(
  em: EntityManager,
  r: {
    change: AccessChange;
    changeHash: string;
    inputHash: string;
    status: 'allowed' | 'denied' | 'awaiting-approval';
    decision: { policy: { name: string; versionHash: string } };
    heldEntitlements: string[];
    participants: unknown;
    workflowId: string;
    at: Date;
  },
): Promise<void> {
  const c = r.change;
  await em.getConnection().execute(
    `INSERT INTO access_change (id, change, change_hash, input_hash, kind, subject_type, subject_id, connector_id, entitlement_id, source, requester_kind, requester_id,
       status, decision, held_entitlements, participants, policy_name, policy_version_hash, workflow_id, decided_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      c.id,
      JSON.stringify(c),
      r.changeHash,
      r.inputHash,
      c.kind,
      c.subject.type,
      c.subject.id,
      c.target.connectorId,
      c.target.entitlement?.id ?? null,
      c.source,
      c.requester.kind,
      c.requester.id,
      r.status,
      JSON.stringify(r.decision),
      JSON.stringify(r.heldEntitlements),
      r.participants ? JSON.stringify(r.participants) : null,
      r.decision.policy.name,
      r.decision.policy.versionHash,
      r.workflowId,
      r.at,
      r.at,
    ],
    'run',
    em.getTransactionContext(),
  );
}

/** Every ledger entry that names this change, oldest first. */
export async function ledgerEntriesOfChange(ledger: Pick<Ledger, 'query'>, changeId: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await ledger.query({ changeId, order: 'oldest', limit: 500, ...(cursor ? { cursor } : {}) });
    out.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}
