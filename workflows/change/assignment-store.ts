// Gatehouse's record of assignments: which identity holds which account and which entitlement on
// which connector, as Gatehouse applied them. Decisions read it (held entitlements, for separation of
// duties); the apply and compensate steps keep it, in the same transaction as their ledger entry; the
// joiner-mover-leaver workflows diff desired access against it.
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { AccessChange } from '../../policies/access-change.js';
import { entitlementKey } from '../../policies/access-change.js';
import { isoTime } from '../../shared/timestamps.js';

export interface SubjectRef {
  type: 'human' | 'nhi';
  id: string;
}

export interface AccountAssignment {
  connectorId: string;
  connectorName: string;
  subject: SubjectRef;
  directoryId?: string;
  accountUid: string;
  accountName?: string;
  enabled: boolean;
  changeId: string;
  updatedAt: string;
}

export interface EntitlementAssignment {
  connectorId: string;
  connectorName: string;
  subject: SubjectRef;
  entitlementId: string;
  entitlementUid?: string;
  accountUid: string;
  changeId: string;
  grantedAt: string;
}

/** What an apply or compensation did to the target, for the record. */
export type AssignmentEffect =
  | { kind: 'account-created'; accountUid: string }
  | { kind: 'account-enabled'; enabled: boolean; accountUid: string }
  | { kind: 'account-deleted'; accountUid: string }
  | { kind: 'entitlement-granted'; accountUid: string; entitlementUid?: string | undefined }
  | { kind: 'entitlement-revoked' }
  | { kind: 'none' };

interface AccountRow {
  connector_id: string;
  connector_name: string;
  subject_type: 'human' | 'nhi';
  subject_id: string;
  directory_id: string | null;
  account_uid: string;
  account_name: string | null;
  enabled: boolean;
  change_id: string;
  updated_at: Date | string;
}

interface EntitlementRow {
  connector_id: string;
  connector_name: string;
  subject_type: 'human' | 'nhi';
  subject_id: string;
  entitlement_id: string;
  entitlement_uid: string | null;
  account_uid: string;
  change_id: string;
  granted_at: Date | string;
}

const toAccount = (r: AccountRow): AccountAssignment => ({
  connectorId: r.connector_id,
  connectorName: r.connector_name,
  subject: { type: r.subject_type, id: r.subject_id },
  ...(r.directory_id ? { directoryId: r.directory_id } : {}),
  accountUid: r.account_uid,
  ...(r.account_name ? { accountName: r.account_name } : {}),
  enabled: r.enabled,
  changeId: r.change_id,
  updatedAt: isoTime(r.updated_at),
});

const toEntitlement = (r: EntitlementRow): EntitlementAssignment => ({
  connectorId: r.connector_id,
  connectorName: r.connector_name,
  subject: { type: r.subject_type, id: r.subject_id },
  entitlementId: r.entitlement_id,
  ...(r.entitlement_uid ? { entitlementUid: r.entitlement_uid } : {}),
  accountUid: r.account_uid,
  changeId: r.change_id,
  grantedAt: isoTime(r.granted_at),
});

/** Applies one effect to the record, inside the caller's transaction (the one that appends its ledger entry). */
export async function recordAssignmentEffect(em: EntityManager, change: AccessChange, effect: AssignmentEffect): Promise<void> {
  const conn = em.getConnection();
  const ctx = em.getTransactionContext();
  const run = (sql: string, params: unknown[]) => conn.execute(sql, params, 'run', ctx);
  const connectorId = change.target.connectorId;
  const { type, id } = change.subject;
  const now = new Date();
  switch (effect.kind) {
    case 'account-created':
      await run(
        `INSERT INTO identity_account (connector_id, subject_type, subject_id, directory_id, account_uid, account_name, enabled, change_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, true, ?, ?)
         ON CONFLICT (connector_id, subject_type, subject_id) DO UPDATE
           SET account_uid = excluded.account_uid, account_name = excluded.account_name, enabled = true, change_id = excluded.change_id, updated_at = excluded.updated_at`,
        [connectorId, type, id, change.subject.directoryId ?? null, effect.accountUid, change.target.accountName ?? null, change.id, now],
      );
      return;
    case 'account-enabled':
      await run('UPDATE identity_account SET enabled = ?, change_id = ?, updated_at = ? WHERE connector_id = ? AND subject_type = ? AND subject_id = ? AND account_uid = ?', [
        effect.enabled,
        change.id,
        now,
        connectorId,
        type,
        id,
        effect.accountUid,
      ]);
      return;
    case 'account-deleted':
      await run('DELETE FROM identity_entitlement WHERE connector_id = ? AND subject_type = ? AND subject_id = ? AND account_uid = ?', [connectorId, type, id, effect.accountUid]);
      await run('DELETE FROM identity_account WHERE connector_id = ? AND subject_type = ? AND subject_id = ? AND account_uid = ?', [connectorId, type, id, effect.accountUid]);
      return;
    case 'entitlement-granted':
      await run(
        `INSERT INTO identity_entitlement (connector_id, subject_type, subject_id, entitlement_id, entitlement_uid, account_uid, change_id, granted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (connector_id, subject_type, subject_id, entitlement_id) DO UPDATE
           SET entitlement_uid = excluded.entitlement_uid, account_uid = excluded.account_uid, change_id = excluded.change_id, granted_at = excluded.granted_at`,
        [connectorId, type, id, change.target.entitlement!.id, effect.entitlementUid ?? null, effect.accountUid, change.id, now],
      );
      return;
    case 'entitlement-revoked':
      await run('DELETE FROM identity_entitlement WHERE connector_id = ? AND subject_type = ? AND subject_id = ? AND entitlement_id = ?', [connectorId, type, id, change.target.entitlement!.id]);
      return;
    case 'none':
      return;
  }
}

export function createAssignmentStore(deps: { orm: MikroORM }) {
  const sql = () => deps.orm.em.fork().getConnection();
  return {
    /** Entitlement keys (`<connector name>:<entitlement id>`) the subject holds on every connector. */
    async heldEntitlementKeys(subject: SubjectRef): Promise<string[]> {
      const rows = await sql().execute<{ name: string; entitlement_id: string }[]>(
        `SELECT c.name, e.entitlement_id FROM identity_entitlement e JOIN connector_instance c ON c.id = e.connector_id
          WHERE e.subject_type = ? AND e.subject_id = ? ORDER BY c.name, e.entitlement_id`,
        [subject.type, subject.id],
      );
      return rows.map((r) => entitlementKey(r.name, r.entitlement_id));
    },

    /** The subject's account on a connector, when Gatehouse created or adopted one. */
    async account(connectorId: string, subject: SubjectRef): Promise<AccountAssignment | undefined> {
      const [row] = await sql().execute<AccountRow[]>(
        `SELECT a.*, c.name AS connector_name FROM identity_account a JOIN connector_instance c ON c.id = a.connector_id
          WHERE a.connector_id = ? AND a.subject_type = ? AND a.subject_id = ?`,
        [connectorId, subject.type, subject.id],
      );
      return row ? toAccount(row) : undefined;
    },

    /** Everything one subject holds, on every connector. */
    async assignmentsOf(subject: SubjectRef): Promise<{ accounts: AccountAssignment[]; entitlements: EntitlementAssignment[] }> {
      const accounts = await sql().execute<AccountRow[]>(
        `SELECT a.*, c.name AS connector_name FROM identity_account a JOIN connector_instance c ON c.id = a.connector_id
          WHERE a.subject_type = ? AND a.subject_id = ? ORDER BY c.name`,
        [subject.type, subject.id],
      );
      const entitlements = await sql().execute<EntitlementRow[]>(
        `SELECT e.*, c.name AS connector_name FROM identity_entitlement e JOIN connector_instance c ON c.id = e.connector_id
          WHERE e.subject_type = ? AND e.subject_id = ? ORDER BY c.name, e.entitlement_id`,
        [subject.type, subject.id],
      );
      return { accounts: accounts.map(toAccount), entitlements: entitlements.map(toEntitlement) };
    },

    /** Every assignment on one connector (for reconciliation), in pages by subject. */
    async entitlementsOnConnector(connectorId: string, page: { limit: number; after?: { subjectType: string; subjectId: string; entitlementId: string } }): Promise<EntitlementAssignment[]> {
      const after = page.after;
      const rows = await sql().execute<EntitlementRow[]>(
        `SELECT e.*, c.name AS connector_name FROM identity_entitlement e JOIN connector_instance c ON c.id = e.connector_id
          WHERE e.connector_id = ? ${after ? 'AND (e.subject_type, e.subject_id, e.entitlement_id) > (?, ?, ?)' : ''}
          ORDER BY e.subject_type, e.subject_id, e.entitlement_id LIMIT ?`,
        after ? [connectorId, after.subjectType, after.subjectId, after.entitlementId, page.limit] : [connectorId, page.limit],
      );
      return rows.map(toEntitlement);
    },
  };
}

export type AssignmentStore = ReturnType<typeof createAssignmentStore>;
