// Ledger entries as OCSF events, for auditors whose tools read OCSF: identity events map to the
// Identity & Access Management classes (3001 Account Change, 3005 User Access Management, 3006
// Group Management, 3004 Entity Management for approvals, decisions and other managed entities);
// anything else is a Base Event. Each event carries the exact hashed entry in `raw_data`.
import type { LedgerEntry, LedgerRef } from './ledger-types.js';

export const OCSF_VERSION = '1.3.0';

const IAM = { category_uid: 3, category_name: 'Identity & Access Management' };

interface Mapping {
  classUid: number;
  className: string;
  activityId: number;
  activityName: string;
  statusId?: 1 | 2;
  primary: Record<string, unknown>;
}

const lastVerb = (action: string) => action.slice(action.lastIndexOf('.') + 1);

function ocsfRef(ref: LedgerRef | undefined): Record<string, unknown> | undefined {
  if (!ref) return undefined;
  return { uid: ref.id, type: ref.type, ...(ref.display ? { name: ref.display } : {}) };
}

function user(ref: LedgerRef | undefined): Record<string, unknown> | undefined {
  return ref ? { uid: ref.id, type: ref.type, ...(ref.display ? { name: ref.display } : {}) } : undefined;
}

const GRANTS = new Set(['grant', 'add', 'assign', 'create']);
const REVOKES = new Set(['revoke', 'remove', 'unassign', 'delete']);

function accountChange(entry: LedgerEntry): Mapping | undefined {
  const verbs: Record<string, [number, string]> = {
    created: [1, 'Create'],
    activated: [2, 'Enable'],
    enabled: [2, 'Enable'],
    reactivated: [2, 'Enable'],
    deactivated: [5, 'Disable'],
    disabled: [5, 'Disable'],
    suspended: [5, 'Disable'],
    deleted: [6, 'Delete'],
    locked: [9, 'Lock'],
  };
  const [id, name] = verbs[lastVerb(entry.action)] ?? [99, 'Other'];
  return { classUid: 3001, className: 'Account Change', activityId: id, activityName: name, statusId: 1, primary: { user: user(entry.subject) } };
}

function groupManagement(entry: LedgerEntry): Mapping {
  const verb = lastVerb(entry.action);
  const verbs: Record<string, [number, string]> = {
    created: [6, 'Create'],
    deleted: [5, 'Delete'],
    added: [3, 'Add User'],
    removed: [4, 'Remove User'],
  };
  const [id, name] = verbs[verb] ?? [99, 'Other'];
  const member = entry.target?.type === 'identity' || entry.target?.type === 'user' ? user(entry.target) : undefined;
  return { classUid: 3006, className: 'Group Management', activityId: id, activityName: name, statusId: 1, primary: { group: ocsfRef(entry.subject), ...(member ? { user: member } : {}) } };
}

function userAccess(entry: LedgerEntry): Mapping {
  const verb = lastVerb(entry.action);
  const operation = String((entry.details?.operation ?? entry.details?.op ?? '') as string).toLowerCase();
  let grant = GRANTS.has(operation) ? true : REVOKES.has(operation) ? false : undefined;
  // A compensation undoes the operation it names.
  if (verb === 'compensated' && grant !== undefined) grant = !grant;
  const [id, name] = grant === true ? [1, 'Assign Privileges'] : grant === false ? [2, 'Revoke Privileges'] : [99, 'Other'];
  const privilege = entry.details?.entitlement ?? entry.details?.privilege ?? entry.details?.role ?? entry.target?.id;
  return {
    classUid: 3005,
    className: 'User Access Management',
    activityId: id,
    activityName: name,
    statusId: verb === 'failed' ? 2 : 1,
    primary: { user: user(entry.subject), privileges: privilege === undefined ? [] : [String(privilege)], ...(entry.target ? { resources: [ocsfRef(entry.target)] } : {}) },
  };
}

function entityManagement(entry: LedgerEntry): Mapping {
  const verb = lastVerb(entry.action);
  const [id, name] =
    verb === 'created' || verb === 'published' || verb === 'planned' || verb === 'requested'
      ? [1, 'Create']
      : verb === 'deleted' || verb === 'revoked'
        ? [4, 'Delete']
        : [3, 'Update'];
  return {
    classUid: 3004,
    className: 'Entity Management',
    activityId: id,
    activityName: name,
    statusId: verb === 'denied' || verb === 'failed' ? 2 : 1,
    primary: { entity: ocsfRef(entry.subject ?? entry.target) ?? { type: entry.action.split('.')[0] }, ...(verb === 'approved' || verb === 'denied' ? { comment: `${verb} ${entry.subject?.id ?? ''}`.trim() } : {}) },
  };
}

function mappingOf(entry: LedgerEntry): Mapping | undefined {
  const a = entry.action;
  if (/^(scim|identity)\.user\./.test(a)) return accountChange(entry);
  if (/^(scim|identity)\.group\./.test(a)) return groupManagement(entry);
  if (/^access\.change\.(applied|failed|compensated)$/.test(a)) return userAccess(entry);
  if (/^(access\.|approval\.|policy\.|secret\.|credential\.|connector\.|directory\.|export\.|token\.)/.test(a)) return entityManagement(entry);
  return undefined;
}

const ACTOR_TYPES: Record<string, [number, string]> = {
  human: [1, 'User'],
  system: [3, 'System'],
  idp: [99, 'Identity Provider'],
  workflow: [99, 'Workflow'],
  nhi: [99, 'Non-Human Identity'],
};

/** The OCSF event for an entry; `canonicalJson` is the exact text its hash covers. */
export function toOcsf(entry: LedgerEntry, canonicalJson: string): Record<string, unknown> {
  const m = mappingOf(entry);
  const [actorTypeId, actorType] = ACTOR_TYPES[entry.actor.kind] ?? [0, 'Unknown'];
  const base = m ? { ...IAM, class_uid: m.classUid, class_name: m.className } : { category_uid: 0, category_name: 'Uncategorized', class_uid: 0, class_name: 'Base Event' };
  const activityId = m?.activityId ?? 99;
  const activityName = m?.activityName ?? 'Other';
  const c = entry.correlation;
  const correlation = c?.workflowId ?? c?.changeId ?? c?.requestId;
  return {
    ...base,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: base.class_uid * 100 + activityId,
    type_name: `${base.class_name}: ${activityName}`,
    severity_id: 1,
    severity: 'Informational',
    status_id: m?.statusId ?? 0,
    status: m?.statusId === 1 ? 'Success' : m?.statusId === 2 ? 'Failure' : 'Unknown',
    time: Date.parse(entry.timestamp),
    message: `${entry.action} by ${entry.actor.kind} ${entry.actor.id}`,
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Gatehouse', vendor_name: 'Gatehouse' },
      log_name: 'gatehouse-ledger',
      uid: String(entry.seq),
      original_time: entry.timestamp,
      ...(correlation ? { correlation_uid: correlation } : {}),
    },
    actor: { user: { uid: entry.actor.id, type_id: actorTypeId, type: actorType, ...(entry.actor.display ? { name: entry.actor.display } : {}) } },
    ...(m?.primary ?? {}),
    raw_data: canonicalJson,
    unmapped: { gatehouse: { seq: entry.seq, prev_hash: entry.prevHash, hash: entry.hash } },
  };
}
