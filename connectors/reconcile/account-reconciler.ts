// Reconciliation: one streaming search of the target's accounts (with their entitlements), diffed
// against the accounts that should exist. The plan says what to create, what exists unasked, and
// per account what to enable, grant, revoke and change; applying it (through the approval gate
// and the operation journal) is the workflow's job, not this function's.
import { z } from 'zod';
import type { ConnectorWith } from '../spi/connector.js';
import type { Filter } from '../spi/filter.js';
import { attributes as attributesSchema, type Account, type AttributeDelta, type AttributeValue } from '../spi/objects.js';

export const desiredAccount = z.object({
  name: z.string().min(1),
  enabled: z.boolean().optional(),
  /** Entitlement uids the account should hold; absent: entitlements are not reconciled for it. */
  entitlements: z.array(z.string()).optional(),
  /** Only the attributes named here are compared. */
  attributes: attributesSchema.optional(),
});
export type DesiredAccount = z.infer<typeof desiredAccount>;

export interface AccountDrift {
  uid: string;
  name: string;
  enable?: boolean;
  grant: string[];
  revoke: string[];
  attributes: AttributeDelta[];
}

export interface ReconcilePlan {
  /** Accounts the search returned. */
  scanned: number;
  inSync: number;
  missing: DesiredAccount[];
  unexpected: { uid: string; name: string }[];
  drifted: AccountDrift[];
}

export interface ReconcileOptions {
  /** Limits the search to the accounts this reconciliation owns (e.g. a name prefix). */
  filter?: Filter;
  pageSize?: number;
  /** Directories compare names without case; PostgreSQL does not. */
  caseInsensitiveNames?: boolean;
  /** Revoke only these entitlements when unwanted (others are someone else's to manage); default: all. */
  managedEntitlements?: ReadonlySet<string>;
}

const sameValues = (a: readonly AttributeValue[], b: readonly AttributeValue[]) => {
  if (a.length !== b.length) return false;
  const left = a.map(String).sort();
  const right = b.map(String).sort();
  return left.every((v, i) => v === right[i]);
};

function diff(account: Account, want: DesiredAccount, managed: ReadonlySet<string> | undefined): AccountDrift | undefined {
  const drift: AccountDrift = { uid: account.uid, name: account.name, grant: [], revoke: [], attributes: [] };
  if (want.enabled !== undefined && account.enabled !== undefined && want.enabled !== account.enabled) drift.enable = want.enabled;
  if (want.entitlements) {
    const held = new Set(account.entitlements ?? []);
    const wanted = new Set(want.entitlements);
    for (const e of wanted) if (!held.has(e)) drift.grant.push(e);
    for (const e of held) if (!wanted.has(e) && (!managed || managed.has(e))) drift.revoke.push(e);
  }
  for (const [name, values] of Object.entries(want.attributes ?? {})) {
    if (!sameValues(account.attributes[name] ?? [], values)) drift.attributes.push({ attribute: name, op: 'replace', values });
  }
  const changed = drift.enable !== undefined || drift.grant.length || drift.revoke.length || drift.attributes.length;
  return changed ? drift : undefined;
}

export async function reconcileAccounts(connector: ConnectorWith<'searchAccounts'>, desired: Iterable<DesiredAccount>, options: ReconcileOptions = {}): Promise<ReconcilePlan> {
  const key = options.caseInsensitiveNames ? (n: string) => n.toLowerCase() : (n: string) => n;
  const wanted = new Map<string, DesiredAccount>();
  for (const d of desired) wanted.set(key(d.name), d);
  const plan: ReconcilePlan = { scanned: 0, inSync: 0, missing: [], unexpected: [], drifted: [] };
  const needEntitlements = [...wanted.values()].some((d) => d.entitlements);
  for await (const account of connector.searchAccounts({
    ...(options.filter ? { filter: options.filter } : {}),
    includeEntitlements: needEntitlements,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  })) {
    plan.scanned++;
    const k = key(account.name);
    const want = wanted.get(k);
    if (!want) {
      plan.unexpected.push({ uid: account.uid, name: account.name });
      continue;
    }
    wanted.delete(k);
    const drift = diff(account, want, options.managedEntitlements);
    if (drift) plan.drifted.push(drift);
    else plan.inSync++;
  }
  plan.missing = [...wanted.values()];
  return plan;
}
