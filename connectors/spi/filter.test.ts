// The SPI filter: parsed from SCIM syntax, evaluated in memory, and split between what a connector
// pushes to its system and what it checks itself, without changing the answer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accountValues, isLeaf, matchesFilter, parseFilter, splitFilter, type Filter, type LeafFilter } from './filter.js';

const alice = { uid: '10', name: 'Alice', enabled: true, entitlements: ['role:1'], attributes: { mail: ['alice@example.org'], dept: ['eng'] } };

describe('filters', () => {
  it('parses SCIM filter syntax with precedence and grouping', () => {
    expect(parseFilter('name sw "al" and (enabled eq true or not (mail pr))')).toEqual({
      op: 'and',
      filters: [
        { op: 'sw', attribute: 'name', value: 'al' },
        { op: 'or', filters: [{ op: 'eq', attribute: 'enabled', value: true }, { op: 'not', filter: { op: 'pr', attribute: 'mail' } }] },
      ],
    });
  });

  it('refuses what connectors cannot answer, naming the input', () => {
    expect(() => parseFilter('createdAt gt "2020"')).toThrow(expect.objectContaining({ field: 'filter', message: expect.stringContaining('"gt"') }));
    expect(() => parseFilter('name eq', 'query.filter')).toThrow(expect.objectContaining({ field: 'query.filter' }));
    expect(() => parseFilter('mail eq null')).toThrow(/null/);
    expect(() => parseFilter(Array.from({ length: 70 }, (_, i) => `a eq "${i}"`).join(' or '))).toThrow(/more than 64/);
  });

  it('evaluates in memory, ignoring case like SCIM', () => {
    const v = accountValues(alice);
    expect(matchesFilter(v, parseFilter('name eq "alice" and memberOf eq "role:1"'))).toBe(true);
    expect(matchesFilter(v, parseFilter('MAIL ew "@EXAMPLE.ORG"'))).toBe(true);
    expect(matchesFilter(v, parseFilter('dept ne "eng"'))).toBe(false);
    expect(matchesFilter(v, parseFilter('phone pr'))).toBe(false);
  });

  const leaf = fc.record({
    op: fc.constantFrom('eq' as const, 'ne' as const, 'sw' as const, 'co' as const),
    attribute: fc.constantFrom('name', 'mail', 'dept', 'memberOf'),
    value: fc.constantFrom('alice', 'al', 'eng', 'role:1', 'x'),
  });
  const tree: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((t) => ({
    f: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.record({ op: fc.constantFrom('and' as const, 'or' as const), filters: fc.array(t('f'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ op: fc.constant('not' as const), filter: t('f') }),
    ),
  })).f;

  it('splits any filter so that pushed AND residual is the original', () => {
    const canPush = (l: LeafFilter) => l.attribute !== 'memberOf';
    fc.assert(
      fc.property(tree, fc.constantFrom('Alice', 'Bob'), (filter, name) => {
        const v = accountValues({ ...alice, name });
        const { pushed, residual } = splitFilter(filter, canPush);
        const split = (pushed ? matchesFilter(v, pushed) : true) && (residual ? matchesFilter(v, residual) : true);
        expect(split).toBe(matchesFilter(v, filter));
        const mentions = (f: Filter | undefined): boolean => {
          if (!f) return false;
          if (isLeaf(f)) return f.attribute === 'memberOf';
          return f.op === 'not' ? mentions(f.filter) : f.filters.some(mentions);
        };
        expect(mentions(pushed)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
