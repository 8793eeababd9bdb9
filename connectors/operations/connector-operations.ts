// The one way a change reaches a target through a connector: the operation is journaled under its
// idempotency key before the target is touched (promise 5), the capability is checked, and the
// outcome is recorded. A key that already succeeded answers from the journal without calling the
// target again; a key reused for a different change is refused; an attempt that ended without a
// definite answer (a crash, a lost connection) is retried in recovery, where "it is already done"
// from the target counts as done. Activities call `apply` and map failures with toActivityFailure.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Actor, Correlation, LedgerAppender } from '../../audit/index.js';
import { GatehouseError, conflict, invalid } from '../../shared/errors.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import type { ConnectorFactory } from '../instances/connector-factory.js';
import { requireCapability, type Connector } from '../spi/connector.js';
import { ConnectorError } from '../spi/errors.js';
import { attributeDelta, newAccount, newEntitlement } from '../spi/objects.js';

const uid = z.string().min(1).max(512);

export const connectorOperation = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('createAccount'), account: newAccount }).strict(),
  z.object({ kind: z.literal('updateAccount'), accountUid: uid, deltas: z.array(attributeDelta).min(1) }).strict(),
  z.object({ kind: z.literal('enableAccount'), accountUid: uid }).strict(),
  z.object({ kind: z.literal('disableAccount'), accountUid: uid }).strict(),
  z.object({ kind: z.literal('deleteAccount'), accountUid: uid }).strict(),
  z.object({ kind: z.literal('grant'), accountUid: uid, entitlementUid: uid }).strict(),
  z.object({ kind: z.literal('revoke'), accountUid: uid, entitlementUid: uid }).strict(),
  z.object({ kind: z.literal('createEntitlement'), entitlement: newEntitlement }).strict(),
  z.object({ kind: z.literal('deleteEntitlement'), entitlementUid: uid }).strict(),
]);
export type ConnectorOperation = z.input<typeof connectorOperation>;

export const operationResult = z.object({
  /** False when the target already was as asked. */
  changed: z.boolean(),
  /** The account's uid (for createAccount, the new account's). */
  accountUid: z.string().optional(),
  /** For createEntitlement, the new entitlement's uid. */
  entitlementUid: z.string().optional(),
  /** True when the journal answered: an earlier attempt with this key succeeded, the target was not called. */
  replayed: z.boolean(),
});
export type OperationResult = z.infer<typeof operationResult>;

export interface ApplyRequest {
  instanceId: string;
  /** The business key of the change (a change id); at most 200 characters. */
  idempotencyKey: string;
  operation: ConnectorOperation;
  /** Only for createAccount: the initial password, read from Vault by the calling activity. */
  credential?: { password: string };
  /** Who asks (the workflow, usually); named in the ledger entry of the outcome. */
  actor: Actor;
  /** Joins the ledger entry to the run and the change it belongs to. */
  correlation?: Correlation;
}

interface JournalRow {
  request_hash: string;
  status: 'started' | 'succeeded' | 'failed';
  outcome: { changed: boolean; accountUid?: string; entitlementUid?: string } | null;
}

/** Identifies a change for its key: SHA-256 over its RFC 8785 form. Never covers a credential. */
export function operationHash(operation: ConnectorOperation): string {
  return createHash('sha256').update(canonicalJson(connectorOperation.parse(operation))).digest('hex');
}

/** A failure that says for certain the target was not changed; anything else leaves the outcome open. */
const definite = (err: unknown) => (err instanceof ConnectorError && err.code !== 'Retryable') || (err instanceof GatehouseError && err.status < 500);

/** What the ledger says about an operation: its kind and the objects it touched, never a credential. */
function operationDetails(op: z.output<typeof connectorOperation>): Record<string, unknown> {
  switch (op.kind) {
    case 'createAccount':
      return { operation: op.kind, accountName: op.account.name, attributes: Object.keys(op.account.attributes).sort() };
    case 'updateAccount':
      return { operation: op.kind, accountUid: op.accountUid, attributes: op.deltas.map((d) => d.attribute).sort() };
    case 'grant':
    case 'revoke':
      return { operation: op.kind, accountUid: op.accountUid, entitlementUid: op.entitlementUid };
    case 'createEntitlement':
      return { operation: op.kind, entitlementName: op.entitlement.name };
    case 'deleteEntitlement':
      return { operation: op.kind, entitlementUid: op.entitlementUid };
    default:
      return { operation: op.kind, accountUid: op.accountUid };
  }
}

export function createConnectorOperations(deps: { orm: MikroORM; factory: ConnectorFactory; ledger: LedgerAppender }) {
  const sql = () => deps.orm.em.fork().getConnection();
  /** Moves the journal row forward and appends the ledger entry in one transaction: both or neither. */
  const record = (update: { sql: string; params: unknown[] }, entry: Parameters<LedgerAppender['append']>[0]) =>
    deps.orm.em.fork().transactional(async (em: EntityManager) => {
      await em.getConnection().execute(update.sql, update.params, 'run', em.getTransactionContext());
      await deps.ledger.append(entry, { em });
    });

  async function run(connector: Connector, op: z.output<typeof connectorOperation>, key: string, recovering: boolean, credential?: { password: string }) {
    const ctx = { idempotencyKey: key };
    switch (op.kind) {
      case 'createAccount': {
        try {
          const created = await requireCapability(connector, 'createAccount').createAccount(op.account, ctx, credential);
          return { changed: true, accountUid: created.uid };
        } catch (err) {
          // An earlier attempt with this key was in flight when it stopped: the account it would
          // have made is this one.
          if (recovering && err instanceof ConnectorError && err.code === 'AlreadyExists' && connector.capabilities.has('searchAccounts')) {
            for await (const a of requireCapability(connector, 'searchAccounts').searchAccounts({ filter: { op: 'eq', attribute: 'name', value: op.account.name } })) {
              return { changed: true, accountUid: a.uid };
            }
          }
          throw err;
        }
      }
      case 'updateAccount': {
        const updated = await requireCapability(connector, 'updateAccount').updateAccount(op.accountUid, op.deltas, ctx);
        return { changed: true, accountUid: updated.uid };
      }
      case 'enableAccount':
      case 'disableAccount':
        return { ...(await requireCapability(connector, 'enableDisable').setAccountEnabled(op.accountUid, op.kind === 'enableAccount', ctx)), accountUid: op.accountUid };
      case 'deleteAccount':
        try {
          await requireCapability(connector, 'deleteAccount').deleteAccount(op.accountUid, ctx);
          return { changed: true, accountUid: op.accountUid };
        } catch (err) {
          if (recovering && err instanceof ConnectorError && err.code === 'UnknownUid') return { changed: true, accountUid: op.accountUid };
          throw err;
        }
      case 'grant':
        return { ...(await requireCapability(connector, 'grantRevoke').grant(op.accountUid, op.entitlementUid, ctx)), accountUid: op.accountUid };
      case 'revoke':
        return { ...(await requireCapability(connector, 'grantRevoke').revoke(op.accountUid, op.entitlementUid, ctx)), accountUid: op.accountUid };
      case 'createEntitlement':
        try {
          const created = await requireCapability(connector, 'manageEntitlements').createEntitlement(op.entitlement, ctx);
          return { changed: true, entitlementUid: created.uid };
        } catch (err) {
          // As for accounts: an earlier attempt under this key made the one that is now in the way.
          if (recovering && err instanceof ConnectorError && err.code === 'AlreadyExists' && connector.capabilities.has('searchEntitlements')) {
            for await (const e of requireCapability(connector, 'searchEntitlements').searchEntitlements({ filter: { op: 'eq', attribute: 'name', value: op.entitlement.name } })) {
              return { changed: true, entitlementUid: e.uid };
            }
          }
          throw err;
        }
      case 'deleteEntitlement':
        try {
          await requireCapability(connector, 'manageEntitlements').deleteEntitlement(op.entitlementUid, ctx);
          return { changed: true, entitlementUid: op.entitlementUid };
        } catch (err) {
          if (recovering && err instanceof ConnectorError && err.code === 'UnknownUid') return { changed: true, entitlementUid: op.entitlementUid };
          throw err;
        }
    }
  }

  return {
    async apply(request: ApplyRequest): Promise<OperationResult> {
      const parsed = connectorOperation.safeParse(request.operation);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw invalid(['operation', ...issue.path.map(String)].join('.'), issue.message);
      }
      const op = parsed.data;
      const key = request.idempotencyKey;
      if (!key || key.length > 200) throw invalid('idempotencyKey', 'must be 1 to 200 characters');
      if (request.credential && op.kind !== 'createAccount') throw invalid('credential', 'is only taken by createAccount');
      const requestHash = operationHash(op);
      const where = [request.instanceId, key];

      const claimed = await sql().execute<{ attempts: number }[]>(
        `INSERT INTO connector_operation (instance_id, idempotency_key, operation, request_hash, status)
         VALUES (?, ?, ?, ?, 'started') ON CONFLICT (instance_id, idempotency_key) DO NOTHING RETURNING attempts`,
        [request.instanceId, key, op.kind, requestHash],
      );
      let recovering = false;
      if (!claimed.length) {
        const [existing] = await sql().execute<JournalRow[]>('SELECT request_hash, status, outcome FROM connector_operation WHERE instance_id = ? AND idempotency_key = ?', where);
        if (!existing) throw new GatehouseError('internal', 'the connector operation journal lost a row it had just refused to duplicate');
        if (existing.request_hash !== requestHash) throw conflict(`idempotency key ${key} was already used for a different change on this connector`, 'idempotencyKey');
        if (existing.status === 'succeeded') return { ...existing.outcome!, replayed: true };
        recovering = existing.status === 'started';
        await sql().execute(
          `UPDATE connector_operation SET status = 'started', attempts = attempts + 1, started_at = now(), finished_at = NULL, error_code = NULL, error_message = NULL
            WHERE instance_id = ? AND idempotency_key = ?`,
          where,
        );
      }

      const ledgerBase = {
        actor: request.actor,
        target: { type: 'connector', id: request.instanceId },
        ...(request.correlation ? { correlation: request.correlation } : {}),
      };
      let outcome: { changed: boolean; accountUid?: string; entitlementUid?: string };
      try {
        outcome = await deps.factory.withConnector(request.instanceId, (connector) => run(connector, op, key, recovering, request.credential));
      } catch (err) {
        const code = err instanceof ConnectorError ? err.code : err instanceof GatehouseError ? `gatehouse:${err.code}` : 'unexpected';
        // A definite refusal is 'failed' (nothing changed; a retry may try again). Otherwise the row
        // stays 'started', so the retry knows an earlier attempt may have reached the target.
        const status = definite(err) ? 'failed' : 'started';
        await record(
          {
            sql: `UPDATE connector_operation SET status = ?, error_code = ?, error_message = ?, finished_at = now() WHERE instance_id = ? AND idempotency_key = ?`,
            params: [status, code, (err as Error).message?.slice(0, 1000) ?? String(err), ...where],
          },
          {
            ...ledgerBase,
            action: status === 'failed' ? 'connector.operation.failed' : 'connector.operation.interrupted',
            details: { ...operationDetails(op), idempotencyKey: key, errorCode: code, message: (err as Error).message?.slice(0, 500) ?? String(err) },
          },
        ).catch(() => undefined);
        throw err;
      }
      // The target changed: should this record fail, the row stays 'started' and a retry finishes it.
      await record(
        { sql: `UPDATE connector_operation SET status = 'succeeded', outcome = ?::jsonb, finished_at = now() WHERE instance_id = ? AND idempotency_key = ?`, params: [JSON.stringify(outcome), ...where] },
        { ...ledgerBase, action: 'connector.operation.applied', details: { ...operationDetails(op), ...(outcome.accountUid ? { accountUid: outcome.accountUid } : {}), ...(outcome.entitlementUid ? { entitlementUid: outcome.entitlementUid } : {}), changed: outcome.changed, idempotencyKey: key } },
      );
      return { ...outcome, replayed: false };
    },
  };
}

export type ConnectorOperations = ReturnType<typeof createConnectorOperations>;
