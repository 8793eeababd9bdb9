// How an AccessChange becomes one connector operation, and how an applied change is undone. Pure:
// the apply and compensate activities resolve uids first and pass them in.
import type { AccessChange } from '../../policies/access-change.js';
import type { ConnectorOperation } from '../../connectors/operations/connector-operations.js';
import { GatehouseError, invalid } from '../../shared/errors.js';

/** The uids the target knows the account and entitlement by, resolved before the operation is built. */
export interface ResolvedUids {
  accountUid?: string | undefined;
  entitlementUid?: string | undefined;
}

/** What an apply did, as the compensation needs it. */
export interface AppliedEffect {
  operation: ConnectorOperation['kind'];
  /** False when the target already was as asked: there is nothing of ours to undo. */
  changed: boolean;
  accountUid?: string | undefined;
  entitlementUid?: string | undefined;
}

export type Inverse = { kind: 'operation'; operation: ConnectorOperation } | { kind: 'nothing'; reason: string } | { kind: 'impossible'; reason: string };

type Values = (string | number | boolean)[];

/** update-account's attribute deltas: each attribute's values are replaced (an empty list clears it). */
function attributeValues(attributes: Record<string, unknown> | undefined): Record<string, Values> {
  const out: Record<string, Values> = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    const list = Array.isArray(value) ? value : value === null ? [] : [value];
    list.forEach((v, i) => {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw invalid(`change.attributes.${name}[${i}]`, 'must be a string, number or boolean');
    });
    out[name] = list as Values;
  }
  return out;
}

const need = (value: string | undefined, field: string, why: string): string => {
  if (!value) throw invalid(field, why);
  return value;
};

export function toConnectorOperation(change: AccessChange, uids: ResolvedUids): ConnectorOperation {
  const account = () => need(uids.accountUid, 'change.target.account', 'the subject holds no account on this connector on record: this change acts only on the subject\'s own account (create one first)');
  const entitlement = () => need(uids.entitlementUid, 'change.target.entitlement', 'names no entitlement this connector knows');
  switch (change.kind) {
    case 'create-account':
      return {
        kind: 'createAccount',
        account: { name: need(change.target.accountName, 'change.target.accountName', 'is required to create an account'), attributes: attributeValues(change.attributes), enabled: true },
      };
    case 'update-account': {
      const deltas = Object.entries(attributeValues(change.attributes)).map(([attribute, values]) => ({ attribute, op: 'replace' as const, values }));
      if (!deltas.length) throw invalid('change.attributes', 'must name at least one attribute to update');
      return { kind: 'updateAccount', accountUid: account(), deltas };
    }
    case 'disable':
      return { kind: 'disableAccount', accountUid: account() };
    case 'enable':
      return { kind: 'enableAccount', accountUid: account() };
    case 'delete-account':
      return { kind: 'deleteAccount', accountUid: account() };
    case 'grant':
      return { kind: 'grant', accountUid: account(), entitlementUid: entitlement() };
    case 'revoke':
      return { kind: 'revoke', accountUid: account(), entitlementUid: entitlement() };
    case 'issue-credential':
    case 'rotate-credential':
      // Credentials are written to Vault and the target together, with their own rollback.
      throw new GatehouseError('invalid_request', `${change.kind} is applied by the credential rotation workflow, not through the change path`, { field: 'change.kind' });
  }
}

/**
 * The operation that undoes an applied change. Only what this change did is undone: a grant of an
 * entitlement the account already held (changed: false) is left alone, since revoking it would
 * take away access that existed before.
 */
export function inverseOf(change: AccessChange, applied: AppliedEffect): Inverse {
  if (!applied.changed) return { kind: 'nothing', reason: 'the target already was as the change asked, so it changed nothing to undo' };
  const accountUid = applied.accountUid;
  switch (applied.operation) {
    case 'createAccount':
      return accountUid ? { kind: 'operation', operation: { kind: 'deleteAccount', accountUid } } : { kind: 'impossible', reason: 'the created account has no uid on record' };
    case 'grant':
      return accountUid && applied.entitlementUid
        ? { kind: 'operation', operation: { kind: 'revoke', accountUid, entitlementUid: applied.entitlementUid } }
        : { kind: 'impossible', reason: 'the grant has no account or entitlement uid on record' };
    case 'revoke':
      return accountUid && applied.entitlementUid
        ? { kind: 'operation', operation: { kind: 'grant', accountUid, entitlementUid: applied.entitlementUid } }
        : { kind: 'impossible', reason: 'the revoke has no account or entitlement uid on record' };
    case 'disableAccount':
      return accountUid ? { kind: 'operation', operation: { kind: 'enableAccount', accountUid } } : { kind: 'impossible', reason: 'the account has no uid on record' };
    case 'enableAccount':
      return accountUid ? { kind: 'operation', operation: { kind: 'disableAccount', accountUid } } : { kind: 'impossible', reason: 'the account has no uid on record' };
    case 'deleteAccount':
      return { kind: 'impossible', reason: `a deleted account cannot be restored (${change.target.accountName ?? accountUid ?? 'its account'} on ${change.target.connectorName ?? change.target.connectorId})` };
    case 'updateAccount':
      return { kind: 'impossible', reason: 'an attribute update keeps no earlier values to restore' };
    case 'createEntitlement':
    case 'deleteEntitlement':
      return { kind: 'impossible', reason: 'making or removing an entitlement on the target is not an access change this path undoes' };
  }
}
