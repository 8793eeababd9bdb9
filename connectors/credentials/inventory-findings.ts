// The inventory's findings for one item, from facts alone (no clock read, no I/O): who owns it and
// whether they are still here, how old the credential in use is against its max age, whether it
// is privileged, unused, or shared. The OWASP Non-Human Identities Top 10 names the first two
// (improper offboarding, long-lived secrets) as the top risks.
import type { Finding, OwnerView } from './inventory-types.js';

export interface FindingFacts {
  owners: readonly OwnerView[];
  /** When the credential in use was set; undefined when nobody knows. */
  lastRotatedAt?: Date | undefined;
  createdAt?: Date | undefined;
  /** Its own max-age policy, or the default for items without one. */
  maxAgeDays?: number | undefined;
  privileged: boolean;
  /** Whether the system reports use at all; when it does not, "unused" is never claimed. */
  usageKnown: boolean;
  lastUsedAt?: Date | undefined;
  consumers: number;
}

export interface FindingRules {
  now: Date;
  /** Not used for this long (or never, and older than this) is "unused". */
  unusedDays: number;
}

const DAY = 86_400_000;

export function ageInDays(since: Date | undefined, now: Date): number | undefined {
  return since ? Math.max(0, Math.floor((now.getTime() - since.getTime()) / DAY)) : undefined;
}

export function findingsOf(facts: FindingFacts, rules: FindingRules): Finding[] {
  const out: Finding[] = [];
  // An owner who is deactivated or gone cannot answer for it: without an active one, nobody owns it.
  if (!facts.owners.some((o) => o.status === 'active')) out.push('no-owner');
  if (facts.owners.some((o) => o.status === 'inactive')) out.push('owner-inactive');
  if (facts.owners.some((o) => o.status === 'gone')) out.push('owner-gone');
  const since = facts.lastRotatedAt ?? facts.createdAt;
  if (facts.maxAgeDays && since && rules.now.getTime() - since.getTime() > facts.maxAgeDays * DAY) out.push('over-max-age');
  if (facts.privileged) out.push('privileged');
  if (facts.usageKnown) {
    const idleSince = facts.lastUsedAt ?? facts.createdAt;
    if (idleSince && rules.now.getTime() - idleSince.getTime() > rules.unusedDays * DAY) out.push('unused');
  }
  if (facts.consumers > 1) out.push('shared');
  return out;
}
