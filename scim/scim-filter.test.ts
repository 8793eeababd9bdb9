// The filter parser: RFC 7644 grammar through scim2-parse-filter, our tokenizer where the library's
// gets things wrong, schema resolution, typing, limits, and a fuzz that only ever sees 400s.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse as libParse } from 'scim2-parse-filter';
import { GatehouseError } from '../shared/errors.js';
import { parseFilter, type FilterNode } from './scim-filter.js';
import { groupResourceType, userResourceType, SCHEMA_ENTERPRISE_USER } from './scim-schema.js';

const parse = (text: string) => parseFilter(userResourceType, text);

/** A compact rendering of the tree, to compare structure. */
function show(n: FilterNode): string {
  switch (n.kind) {
    case 'and':
    case 'or':
      return `(${n.children.map(show).join(` ${n.kind} `)})`;
    case 'not':
      return `not ${show(n.child)}`;
    case 'const':
      return String(n.value);
    case 'present':
      return `${n.ref.path} pr`;
    case 'compare':
      return `${n.ref.path} ${n.op} ${JSON.stringify(n.value)}`;
    case 'valuePath':
      return `${n.ref.path}[${show(n.filter)}]`;
  }
}

function refusal(text: string, rt = userResourceType): GatehouseError {
  try {
    parseFilter(rt, text);
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error(`expected ${text} to be refused`);
}

describe('filter parsing', () => {
  it('parses every comparison operator and pr', () => {
    for (const op of ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']) {
      expect(show(parse(`title ${op} "x"`))).toBe(`title ${op} "x"`);
    }
    expect(show(parse('title pr'))).toBe('title pr');
  });

  it('treats operators and attribute names case-insensitively, keeping canonical names', () => {
    expect(show(parse('USERNAME EQ "Bjensen" AND Name.GivenName Sw "B"'))).toBe('(userName eq "Bjensen" and name.givenName sw "B")');
  });

  it('gives and precedence over or, and honours grouping and not', () => {
    expect(show(parse('title eq "a" or title eq "b" and userType eq "c"'))).toBe('(title eq "a" or (title eq "b" and userType eq "c"))');
    expect(show(parse('(title eq "a" or title eq "b") and userType eq "c"'))).toBe('((title eq "a" or title eq "b") and userType eq "c")');
    expect(show(parse('not (title eq "a") and userType eq "c"'))).toBe('(not title eq "a" and userType eq "c")');
    expect(show(parse('not (title eq "a" or title eq "b")'))).toBe('not (title eq "a" or title eq "b")');
  });

  it('parses value paths on multi-valued attributes', () => {
    expect(show(parse('emails[type eq "work" and value co "@example.com"]'))).toBe('emails[(emails.type eq "work" and emails.value co "@example.com")]');
    expect(show(parse('emails[type eq "work"] and active eq true'))).toBe('(emails[emails.type eq "work"] and active eq true)');
  });

  it("turns Entra's emails[type eq \"work\"].value eq \"x\" into one condition on the same email", () => {
    expect(show(parse('emails[type eq "work"].value eq "x@example.com"'))).toBe('emails[(emails.type eq "work" and emails.value eq "x@example.com")]');
    // The library alone splits it into two conditions that different emails could satisfy.
    expect(libParse('emails[type eq "work"].value eq "x"')).toMatchObject({ op: 'and', filters: [{ op: '[]' }, { op: 'eq', attrPath: 'emails.value' }] });
    expect(show(parse('emails[type eq "work" or type eq "home"].value pr'))).toBe('emails[((emails.type eq "work" or emails.type eq "home") and emails.value pr)]');
  });

  it('compares a multi-valued attribute by its value sub-attribute', () => {
    expect(show(parse('emails eq "a@example.com"'))).toBe('emails.value eq "a@example.com"');
    expect(show(parseFilter(groupResourceType, 'members eq "x"'))).toBe('members.value eq "x"');
  });

  it('resolves enterprise extension attributes by URN', () => {
    expect(show(parse(`${SCHEMA_ENTERPRISE_USER}:employeeNumber eq "701984"`))).toBe(`${SCHEMA_ENTERPRISE_USER}:employeeNumber eq "701984"`);
    expect(show(parse(`${SCHEMA_ENTERPRISE_USER.toUpperCase()}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`))).toBe(
      `${SCHEMA_ENTERPRISE_USER}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`,
    );
    expect(show(parse('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"'))).toBe('userName eq "x"');
  });

  it('reads meta.lastModified as milliseconds, folding finer digits into the operator', () => {
    const ms = Date.parse('2026-01-31T12:00:00.123Z');
    expect(parse('meta.lastModified gt "2026-01-31T12:00:00.123Z"')).toMatchObject({ kind: 'compare', op: 'gt', value: ms });
    expect(parse('meta.lastModified gt "2026-01-31T14:00:00.123+02:00"')).toMatchObject({ value: ms });
    expect(parse('meta.lastModified ge "2026-01-31T12:00:00.1234567Z"')).toMatchObject({ op: 'gt', value: ms });
    expect(parse('meta.lastModified lt "2026-01-31T12:00:00.1230001Z"')).toMatchObject({ op: 'le', value: ms });
    expect(parse('meta.lastModified eq "2026-01-31T12:00:00.1230001Z"')).toEqual({ kind: 'const', value: false });
    expect(parse('meta.lastModified ge "2026-01-31T12:00:00.1230000Z"')).toMatchObject({ op: 'ge', value: ms });
  });

  it('decodes JSON string escapes, which the library mangles', () => {
    expect(parse('userName eq "a\\\\b"')).toMatchObject({ value: 'a\\b' });
    expect(parse('userName eq "line\\nbreak \\u00e9 \\"q\\""')).toMatchObject({ value: 'line\nbreak é "q"' });
    expect(parse('userName eq "ends with backslash\\\\"')).toMatchObject({ value: 'ends with backslash\\' });
    expect((libParse('userName eq "a\\\\b"') as { compValue: string }).compValue).toBe('a\\\\b');
    expect((libParse('userName eq "\\u00e9"') as { compValue: string }).compValue).toBe('\\u00e9');
    expect(() => libParse('userName eq "a\\\\"')).toThrow();
  });

  it('refuses an unterminated string of newlines at once (the library backtracks exponentially on it)', () => {
    const err = refusal(`userName eq "${'\n'.repeat(3000)}`);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/control character|unterminated/);
  });

  it('accepts booleans as true/false and as strings, and only eq/ne on them', () => {
    expect(parse('active eq true')).toMatchObject({ value: true });
    expect(parse('active eq "False"')).toMatchObject({ value: false });
    expect(refusal('active gt true').message).toMatch(/boolean: only eq and ne/);
    expect(refusal('active eq "yes"').message).toMatch(/true or false/);
  });

  it('refuses what cannot be answered, naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['nosuchattr eq "x"', /not an attribute of User/],
      ['userName eq 5', /is a string: compare it with a quoted string/],
      ['userName eq null', /pr/],
      ['userName eq 1e400', /quoted string/],
      ['name eq "x"', /complex; compare one of its sub-attributes/],
      ['password eq "secret"', /cannot be filtered/],
      ['groups.$ref eq "x"', /cannot be filtered/],
      ['meta.version eq "x"', /cannot be filtered/],
      ['meta.created co "2026"', /dateTime/],
      ['meta.created gt "yesterday"', /ISO 8601/],
      ['meta.created gt "2026-02-30T00:00:00Z"', /ISO 8601/],
      ['userName[value eq "x"]', /multi-valued complex/],
      ['emails[type[value eq "x"]]', /cannot be nested|value path/],
      ['emails[nosuch eq "x"]', /not a sub-attribute of emails/],
      ['urn:example:other:1.0:User:foo eq "x"', /schema this User resource does not have/],
      ['__proto__ eq "x"', /not allowed/],
      ['name.constructor eq "x"', /not allowed/],
      ['userName eq "x" extra', /unexpected/],
      ['(userName eq "x"', /cannot be parsed/],
      ['userName eq "x")', /unexpected/],
      ['userName eq "a\u0000b"', /control character/],
      ['userName eq "\\u0000"', /NUL/],
      ['userName eq "\\ud800"', /not valid Unicode/],
      ['userName eq "bad \\q escape"', /bad escape/],
      ['userName ~ "x"', /unexpected character/],
      ['userName eq True', /cannot be parsed/],
      ['emails[type eq "work"].value', /followed only by|cannot be parsed/],
    ];
    for (const [text, message] of cases) {
      const err = refusal(text);
      expect(err.status, text).toBe(400);
      expect(err.details?.scimType, text).toBe('invalidFilter');
      expect(err.message, text).toMatch(message);
    }
  });

  it('enforces the length, node and depth limits', () => {
    const limits = { maxLength: 200, maxNodes: 5, maxDepth: 3 };
    expect(() => parseFilter(userResourceType, `userName eq "${'a'.repeat(200)}"`, limits)).toThrow(/longer than 200/);
    expect(() => parseFilter(userResourceType, Array.from({ length: 6 }, (_, i) => `title eq "${i}"`).join(' or '), limits)).toThrow(/at most 5/);
    expect(() => parseFilter(userResourceType, '((((title eq "a"))))', limits)).toThrow(/deeper than 3/);
    expect(() => parseFilter(userResourceType, '(((title eq "a")))', limits)).not.toThrow();
  });
});

describe('filter parsing under fuzzing', () => {
  const attrs = ['userName', 'title', 'active', 'emails', 'emails.value', 'emails.type', 'name.givenName', 'meta.lastModified', 'id', 'externalId', 'groups.value', 'x', '__proto__', `${SCHEMA_ENTERPRISE_USER}:department`];
  const ops = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr', 'xx'];
  const values = fc.oneof(fc.string().map((s) => JSON.stringify(s)), fc.constantFrom('true', 'false', 'null', '5', '-1.5e3', '"2026-01-01T00:00:00Z"', 'True', '"'));
  const atom = fc.tuple(fc.constantFrom(...attrs), fc.constantFrom(...ops), values).map(([a, o, v]) => (o === 'pr' ? `${a} pr` : `${a} ${o} ${v}`));
  const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      atom,
      fc.tuple(tie('e'), fc.constantFrom('and', 'or', 'AND', 'Or'), tie('e')).map(([a, o, b]) => `${a} ${o} ${b}`),
      tie('e').map((e) => `not (${e})`),
      tie('e').map((e) => `(${e})`),
      fc.tuple(fc.constantFrom('emails', 'members', 'name'), tie('e')).map(([a, e]) => `${a}[${e}]`),
    ),
  })).e;

  it('either parses or refuses with a 400 invalidFilter, for structured input', () => {
    fc.assert(
      fc.property(expr, (text) => {
        try {
          parseFilter(userResourceType, text);
        } catch (err) {
          expect(err).toBeInstanceOf(GatehouseError);
          expect((err as GatehouseError).status).toBe(400);
          expect((err as GatehouseError).details?.scimType).toBe('invalidFilter');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('either parses or refuses with a 400 invalidFilter, for arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.stringMatching(/^[a-z.[\]() "=:\\-]{0,80}$/)), (text) => {
        for (const rt of [userResourceType, groupResourceType]) {
          try {
            parseFilter(rt, text);
          } catch (err) {
            expect(err).toBeInstanceOf(GatehouseError);
            expect((err as GatehouseError).status).toBe(400);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
