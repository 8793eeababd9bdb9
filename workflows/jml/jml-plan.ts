// The joiner-mover-leaver plan: what a person should hold (birthright) against what Gatehouse applied
// for them, as an ordered list of changes. Pure. Order matters and is part of the promise:
// accounts first, then grants, then revokes (a mover gets the new before losing the old), then
// accounts no longer wanted are disabled; a leaver's accounts are disabled first (the quickest cut),
// then every entitlement is revoked. Only access the birthright path gave is taken away on a move;
// what people requested stays until a leaver loses everything.
import type { DesiredAccess } from '../../policies/birthright.js';
import type { AccountAssignment, EntitlementAssignment } from '../change/assignment-store.js';
import type { AccessPlan, PlanStep } from './jml-types.js';

/** An assignment with the source of the change that made it (`jml`, `manual-request`, ...). */
export type Sourced<T> = T & { source?: string };

export interface PlanInput {
  active: boolean;
  desired: DesiredAccess;
  /** Connector instance ids by policy name; a name missing here is a connector Gatehouse does not have. */
  connectorIds: ReadonlyMap<string, string>;
  current: { accounts: Sourced<AccountAssignment>[]; entitlements: Sourced<EntitlementAssignment>[] };
}

/** Sources whose grants the birthright path owns (and so may take back on a move). */
const BIRTHRIGHT_SOURCES = new Set(['jml', 'reconcile']);

export function planAccess(input: PlanInput): Pick<AccessPlan, 'kind' | 'steps' | 'problems'> {
  const { current } = input;
  const steps: PlanStep[] = [];
  const problems = [...input.desired.problems];

  if (!input.active) {
    for (const a of current.accounts.filter((x) => x.enabled)) {
      steps.push({ kind: 'disable', connectorId: a.connectorId, connectorName: a.connectorName, ...(a.accountName ? { accountName: a.accountName } : {}), because: ['leaver'] });
    }
    for (const e of current.entitlements) {
      steps.push({ kind: 'revoke', connectorId: e.connectorId, connectorName: e.connectorName, entitlementId: e.entitlementId, because: ['leaver'] });
    }
    return { kind: 'leaver', steps, problems };
  }

  const accountOn = new Map(current.accounts.map((a) => [a.connectorId, a]));
  const wantedConnectors = new Set<string>();
  let reenabled = false;
  for (const want of input.desired.accounts) {
    const connectorId = input.connectorIds.get(want.connector);
    if (!connectorId) {
      problems.push({ connector: want.connector, message: `the policy's birthright names connector ${want.connector}, which Gatehouse does not have` });
      continue;
    }
    wantedConnectors.add(connectorId);
    const held = accountOn.get(connectorId);
    if (!held) {
      steps.push({ kind: 'create-account', connectorId, connectorName: want.connector, accountName: want.accountName, attributes: want.attributes, because: want.rules });
    } else if (!held.enabled) {
      reenabled = true;
      steps.push({ kind: 'enable', connectorId, connectorName: want.connector, accountName: held.accountName ?? want.accountName, because: want.rules });
    }
  }

  const heldKeys = new Set(current.entitlements.map((e) => `${e.connectorId}\n${e.entitlementId}`));
  const wantedKeys = new Set<string>();
  for (const want of input.desired.entitlements) {
    const connectorId = input.connectorIds.get(want.connector);
    if (!connectorId) continue; // reported with its account above
    const key = `${connectorId}\n${want.entitlementId}`;
    wantedKeys.add(key);
    if (!heldKeys.has(key)) {
      const account = input.desired.accounts.find((a) => a.connector === want.connector);
      steps.push({ kind: 'grant', connectorId, connectorName: want.connector, entitlementId: want.entitlementId, ...(account ? { accountName: accountOn.get(connectorId)?.accountName ?? account.accountName } : {}), because: want.rules });
    }
  }

  const remaining = new Map<string, number>();
  for (const e of current.entitlements) {
    if (!wantedKeys.has(`${e.connectorId}\n${e.entitlementId}`) && BIRTHRIGHT_SOURCES.has(e.source ?? '')) {
      steps.push({ kind: 'revoke', connectorId: e.connectorId, connectorName: e.connectorName, entitlementId: e.entitlementId, because: ['no birthright rule gives it any more'] });
    } else {
      remaining.set(e.connectorId, (remaining.get(e.connectorId) ?? 0) + 1);
    }
  }
  for (const a of current.accounts) {
    if (wantedConnectors.has(a.connectorId) || !a.enabled || !BIRTHRIGHT_SOURCES.has(a.source ?? '') || remaining.get(a.connectorId)) continue;
    steps.push({ kind: 'disable', connectorId: a.connectorId, connectorName: a.connectorName, ...(a.accountName ? { accountName: a.accountName } : {}), because: ['no birthright rule gives an account on this connector any more'] });
  }

  const kind = !steps.length ? 'no-change' : !current.accounts.length ? 'joiner' : reenabled ? 'rejoiner' : 'mover';
  return { kind, steps, problems };
}
