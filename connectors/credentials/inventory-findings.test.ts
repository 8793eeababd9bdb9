// The findings as a decision table: each fact on its own, the boundaries (exactly the max age,
// exactly the unused window), and the facts nobody knows, which never produce a finding.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ageInDays, findingsOf, type FindingFacts } from './inventory-findings.js';
import type { OwnerView } from './inventory-types.js';

const now = new Date('2026-11-29T12:00:00Z');
const daysAgo = (n: number) => new Date(now.getTime() - n * 86_400_000);
const owner = (status: OwnerView['status']): OwnerView => ({ directoryId: 'd', userId: `u-${status}`, userName: null, displayName: null, status });
const base: FindingFacts = { owners: [owner('active')], lastRotatedAt: daysAgo(1), maxAgeDays: 90, privileged: false, usageKnown: true, lastUsedAt: daysAgo(1), consumers: 1 };
const rules = { now, unusedDays: 90 };

describe('inventory findings', () => {
  it('finds nothing for a fresh, owned, used, unprivileged credential with one consumer', () => {
    expect(findingsOf(base, rules)).toEqual([]);
  });

  it.each([
    ['no owner', { owners: [] }, ['no-owner']],
    ['every owner deleted from the directory', { owners: [owner('gone')] }, ['no-owner', 'owner-gone']],
    ['the only owner deactivated', { owners: [owner('inactive')] }, ['no-owner', 'owner-inactive']],
    ['one owner deactivated, another active', { owners: [owner('inactive'), owner('active')] }, ['owner-inactive']],
    ['one owner gone, another still here', { owners: [owner('gone'), owner('active')] }, ['owner-gone']],
    ['older than its max age', { lastRotatedAt: daysAgo(91) }, ['over-max-age']],
    ['exactly its max age is not yet over it', { lastRotatedAt: daysAgo(90) }, []],
    ['no max-age policy', { lastRotatedAt: daysAgo(900), maxAgeDays: undefined }, []],
    ['never rotated: its age counts from creation', { lastRotatedAt: undefined, createdAt: daysAgo(120) }, ['over-max-age']],
    ['privileged', { privileged: true }, ['privileged']],
    ['not used for longer than the window', { lastUsedAt: daysAgo(91) }, ['unused']],
    ['never used and older than the window', { lastUsedAt: undefined, createdAt: daysAgo(91), lastRotatedAt: daysAgo(1) }, ['unused']],
    ['use the system does not report is never called unused', { usageKnown: false, lastUsedAt: undefined, createdAt: daysAgo(500), lastRotatedAt: daysAgo(1) }, []],
    ['shared by several consumers', { consumers: 3 }, ['shared']],
  ] as [string, Partial<FindingFacts>, string[]][])('%s', (_name, change, expected) => {
    expect(findingsOf({ ...base, ...change }, rules)).toEqual(expected);
  });

  it('never finds over-max-age when the credential is younger than its max age, whatever the numbers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3650 }), fc.integer({ min: 0, max: 3650 }), (maxAge, age) => {
        const found = findingsOf({ ...base, maxAgeDays: maxAge, lastRotatedAt: daysAgo(age) }, rules).includes('over-max-age');
        expect(found).toBe(age > maxAge);
      }),
    );
  });

  it('counts age in whole days, and none for an unknown date', () => {
    expect(ageInDays(daysAgo(3.5), now)).toBe(3);
    expect(ageInDays(undefined, now)).toBeUndefined();
  });
});
