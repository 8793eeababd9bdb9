// PATCH semantics on the stored document: the dialects identity providers send, the RFC's rules for
// add/replace/remove, refusals (readOnly, immutable, hostile paths), and a fuzz in which every
// result is a valid resource and every refusal a 400 that leaves the input untouched.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GatehouseError } from '../shared/errors.js';
import { DEFAULT_FILTER_LIMITS } from './scim-filter.js';
import { MAX_MEMBERS_PER_PATCH, applyPatch, applyPatchYielding, parsePatchRequest, type PatchOperation } from './scim-patch.js';
import { normalizeResource, type StoredResource } from './scim-resource.js';
import { MAX_VALUES_PER_ATTRIBUTE, sameJson } from './scim-values.js';
import { MSG_PATCH, SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_USER, groupResourceType, userResourceType } from './scim-schema.js';

const ID = '2819c223-7f76-453a-919d-413861904646';
const options = { id: ID, limits: DEFAULT_FILTER_LIMITS };
const request = (...Operations: unknown[]) => parsePatchRequest({ schemas: [MSG_PATCH], Operations }, 1000);
const patchUser = (resource: StoredResource, ...ops: unknown[]) => applyPatch(userResourceType, resource, request(...ops), options).resource;

const alice = (): StoredResource => ({
  externalId: 'ext-1',
  userName: 'alice@example.com',
  name: { givenName: 'Alice', familyName: 'Smith' },
  active: true,
  emails: [
    { value: 'alice@example.com', type: 'work', primary: true },
    { value: 'alice@home.example', type: 'home' },
  ],
});

function refusal(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).status).toBe(400);
    return err as GatehouseError;
  }
  throw new Error('expected a refusal');
}

describe('PATCH request message', () => {
  it('accepts operation names in any case', () => {
    expect(request({ op: 'Replace', path: 'title', value: 'x' }, { OP: 'ADD', Path: 'nickName', Value: 'y' }, { op: 'remove', path: 'title' }).map((o) => o.op)).toEqual(['replace', 'add', 'remove']);
  });

  it('refuses malformed messages, naming the field', () => {
    expect(refusal(() => parsePatchRequest({ Operations: [] }, 10)).message).toMatch(/schemas: must include/);
    expect(refusal(() => parsePatchRequest({ schemas: [MSG_PATCH], Operations: {} }, 10)).message).toMatch(/Operations: must be a non-empty array/);
    expect(refusal(() => request({ op: 'move', path: 'title' })).message).toMatch(/Operations\[0\]\.op: must be add, replace or remove/);
    expect(refusal(() => request({ op: 'add', path: 'title' })).message).toMatch(/Operations\[0\]\.value: is required for add/);
    expect(refusal(() => request({ op: 'add', path: 5, value: 1 })).message).toMatch(/path: must be a string/);
    expect(refusal(() => request({ op: 'add', path: 'title', value: 1, from: 'x' })).message).toMatch(/from: is not part of a PATCH operation/);
    expect(refusal(() => parsePatchRequest({ schemas: [MSG_PATCH], Operations: Array.from({ length: 11 }, () => ({ op: 'remove', path: 'title' })) }, 10)).message).toMatch(/at most 10/);
  });
});

describe('PATCH on users', () => {
  it("deactivates with Okta's pathless replace", () => {
    expect(patchUser(alice(), { op: 'replace', value: { active: false } }).active).toBe(false);
  });

  it('accepts the strings "True" and "False" for booleans (Entra)', () => {
    expect(patchUser(alice(), { op: 'Replace', path: 'active', value: 'False' }).active).toBe(false);
    expect(patchUser({ ...alice(), active: false }, { op: 'replace', value: { active: 'True' } }).active).toBe(true);
    expect(patchUser(alice(), { op: 'Replace', path: 'emails[type eq "work"].primary', value: 'false' }).emails).toEqual([
      { value: 'alice@example.com', type: 'work', primary: false },
      { value: 'alice@home.example', type: 'home' },
    ]);
  });

  it('takes plain, dotted and URN keys in a pathless value (Entra with aadOptscim062020)', () => {
    const out = patchUser(alice(), {
      op: 'replace',
      value: { displayName: 'Bjfe', 'name.givenName': 'Kkom', 'name.familyName': 'Unua', [`${SCHEMA_ENTERPRISE_USER}:employeeNumber`]: 'Aklq' },
    });
    expect(out).toMatchObject({ displayName: 'Bjfe', name: { givenName: 'Kkom', familyName: 'Unua' }, [SCHEMA_ENTERPRISE_USER]: { employeeNumber: 'Aklq' } });
  });

  it('takes a whole extension object in a pathless value, and a bare extension URN as path', () => {
    const out = patchUser(alice(), { op: 'add', value: { [SCHEMA_ENTERPRISE_USER]: { department: 'R&D', manager: { value: 'm-1' } } } });
    expect(out[SCHEMA_ENTERPRISE_USER]).toEqual({ department: 'R&D', manager: { value: 'm-1' } });
    expect(patchUser(out, { op: 'remove', path: SCHEMA_ENTERPRISE_USER })[SCHEMA_ENTERPRISE_USER]).toBeUndefined();
  });

  it("sets the enterprise manager from Entra's bare id", () => {
    const out = patchUser(alice(), { op: 'Add', path: `${SCHEMA_ENTERPRISE_USER}:manager`, value: 'boss-id' });
    expect(out[SCHEMA_ENTERPRISE_USER]).toEqual({ manager: { value: 'boss-id' } });
  });

  it('replaces the sub-attribute of values matched by a value path', () => {
    const out = patchUser(alice(), { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' }, { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' });
    expect(out.emails).toEqual([
      { value: 'updatedEmail@microsoft.com', type: 'work', primary: true },
      { value: 'alice@home.example', type: 'home' },
    ]);
    expect(out.name).toEqual({ givenName: 'Alice', familyName: 'updatedFamilyName' });
  });

  it('adds the value a filter describes when a value path matches nothing, for replace and add (what Entra expects)', () => {
    const bare = { userName: 'bob' };
    expect(patchUser(bare, { op: 'Replace', path: 'emails[type eq "work"].value', value: 'bob@example.com' }).emails).toEqual([{ type: 'work', value: 'bob@example.com' }]);
    expect(patchUser(bare, { op: 'Add', path: 'addresses[type eq "work"].country', value: 'ML' }).addresses).toEqual([{ type: 'work', country: 'ML' }]);
    expect(patchUser(bare, { op: 'add', path: 'phoneNumbers[type eq "mobile" and primary eq true]', value: { value: '+1 555' } }).phoneNumbers).toEqual([{ type: 'mobile', primary: true, value: '+1 555' }]);
    expect(refusal(() => patchUser(bare, { op: 'replace', path: 'emails[type co "wo"].value', value: 'x' })).details?.scimType).toBe('noTarget');
  });

  it('sets a single-valued attribute with add, and merges complex ones', () => {
    expect(patchUser(alice(), { op: 'Add', path: 'nickName', value: 'Babs' }).nickName).toBe('Babs');
    expect(patchUser(alice(), { op: 'add', path: 'title', value: 'CTO' }, { op: 'add', path: 'title', value: 'CEO' }).title).toBe('CEO');
    expect(patchUser(alice(), { op: 'add', path: 'name', value: { middleName: 'J' } }).name).toEqual({ givenName: 'Alice', familyName: 'Smith', middleName: 'J' });
    expect(patchUser(alice(), { op: 'replace', path: 'name', value: { givenName: 'Ali' } }).name).toEqual({ givenName: 'Ali', familyName: 'Smith' });
  });

  it('appends to multi-valued attributes without duplicates, and replaces them whole', () => {
    const phone = { value: '+1 555 0100', type: 'work' };
    const once = patchUser(alice(), { op: 'add', path: 'phoneNumbers', value: [phone] });
    expect(patchUser(once, { op: 'add', path: 'phoneNumbers', value: [phone] }).phoneNumbers).toEqual([phone]);
    expect(patchUser(alice(), { op: 'replace', path: 'emails', value: [{ value: 'only@example.com' }] }).emails).toEqual([{ value: 'only@example.com' }]);
    expect(patchUser(alice(), { op: 'add', path: 'roles', value: { value: 'admin' } }).roles).toEqual([{ value: 'admin' }]);
  });

  it('makes a newly primary value the only primary one', () => {
    const out = patchUser(alice(), { op: 'add', path: 'emails', value: [{ value: 'new@example.com', type: 'other', primary: true }] });
    expect(out.emails).toEqual([
      { value: 'alice@example.com', type: 'work', primary: false },
      { value: 'alice@home.example', type: 'home' },
      { value: 'new@example.com', type: 'other', primary: true },
    ]);
    const viaPath = patchUser(alice(), { op: 'replace', path: 'emails[type eq "home"].primary', value: true });
    expect((viaPath.emails as { primary?: boolean }[]).map((e) => e.primary)).toEqual([false, true]);
  });

  it('removes attributes, matched values, and sub-attributes of matched values', () => {
    expect(patchUser(alice(), { op: 'remove', path: 'name.givenName' }).name).toEqual({ familyName: 'Smith' });
    expect(patchUser(alice(), { op: 'remove', path: 'emails[type eq "home"]' }).emails).toEqual([{ value: 'alice@example.com', type: 'work', primary: true }]);
    expect(patchUser(alice(), { op: 'remove', path: 'emails[type eq "home"].type' }).emails).toEqual([{ value: 'alice@example.com', type: 'work', primary: true }, { value: 'alice@home.example' }]);
    expect(patchUser(alice(), { op: 'remove', path: 'emails' }).emails).toBeUndefined();
    expect(patchUser(alice(), { op: 'remove', path: 'emails[type eq "nothing"]' })).toEqual(alice());
    expect(patchUser(alice(), { op: 'remove', path: 'emails', value: [{ value: 'ALICE@home.example' }] }).emails).toEqual([{ value: 'alice@example.com', type: 'work', primary: true }]);
    expect(patchUser(alice(), { op: 'replace', path: 'title', value: null }).title).toBeUndefined();
  });

  it('accepts and discards the password', () => {
    expect(patchUser(alice(), { op: 'replace', value: { password: 't1meMachine' } })).toEqual(alice());
  });

  it('ignores echoed server fields in a pathless value (Okta sends the id) but refuses to change them', () => {
    expect(patchUser(alice(), { op: 'replace', value: { id: ID, schemas: [SCHEMA_USER], meta: { resourceType: 'User' }, title: 'x' } }).title).toBe('x');
    expect(refusal(() => patchUser(alice(), { op: 'replace', value: { id: 'another-id' } })).details?.scimType).toBe('mutability');
  });

  it('refuses writes to readOnly attributes', () => {
    for (const path of ['id', 'meta.created', 'groups', 'groups[value eq "x"].display']) {
      const err = refusal(() => patchUser(alice(), { op: 'add', path, value: 'x' }));
      expect(err.details?.scimType, path).toBe('mutability');
    }
  });

  it('refuses removing a required attribute, and bad values, naming the field', () => {
    expect(refusal(() => patchUser(alice(), { op: 'remove', path: 'userName' })).message).toMatch(/userName: is required/);
    expect(refusal(() => patchUser(alice(), { op: 'replace', path: 'userName', value: '' })).message).toMatch(/userName: is required/);
    expect(refusal(() => patchUser(alice(), { op: 'replace', path: 'active', value: 'yes' })).message).toMatch(/must be true or false/);
    expect(refusal(() => patchUser(alice(), { op: 'replace', path: 'title', value: 42 })).message).toMatch(/must be a string/);
    expect(refusal(() => patchUser(alice(), { op: 'replace', path: 'userName', value: 'x'.repeat(513) })).message).toMatch(/longer than 512/);
    expect(refusal(() => patchUser(alice(), { op: 'replace', path: 'title', value: 'a\u0000b' })).message).toMatch(/NUL/);
    expect(refusal(() => patchUser(alice(), { op: 'add', path: 'emails', value: [{ value: 'x', nope: 1 }] })).details?.scimType).toBe('invalidSyntax');
    expect(refusal(() => patchUser(alice(), { op: 'remove' })).details?.scimType).toBe('noTarget');
    expect(refusal(() => patchUser(alice(), { op: 'add', path: 'nosuch', value: 1 })).details?.scimType).toBe('invalidPath');
    expect(refusal(() => patchUser(alice(), { op: 'add', path: 'emails[type eq "work"', value: 1 })).details?.scimType).toBe('invalidPath');
    expect(refusal(() => patchUser(alice(), { op: 'add', path: 'emails[nosuch eq "work"].value', value: 1 })).details?.scimType).toBe('invalidPath');
  });

  it('refuses __proto__, constructor and prototype anywhere, and pollutes nothing', () => {
    const hostile: unknown[] = [
      { op: 'add', path: '__proto__.polluted', value: 'yes' },
      { op: 'add', path: 'name.__proto__', value: { polluted: 'yes' } },
      { op: 'add', path: 'constructor.prototype.polluted', value: 'yes' },
      { op: 'replace', path: 'emails[type eq "work"].__proto__', value: { polluted: 'yes' } },
      { op: 'add', value: JSON.parse('{"__proto__": {"polluted": "yes"}}') },
      { op: 'add', value: { 'constructor.prototype.polluted': 'yes' } },
      { op: 'add', path: 'name', value: JSON.parse('{"__proto__": {"polluted": "yes"}}') },
      { op: 'add', path: `${SCHEMA_ENTERPRISE_USER}:prototype`, value: 'x' },
    ];
    for (const op of hostile) {
      const before = alice();
      const err = refusal(() => patchUser(before, op));
      expect(err.message, JSON.stringify(op)).toMatch(/not allowed/);
      expect(['invalidPath', 'invalidSyntax', 'invalidValue']).toContain(err.details?.scimType);
      expect(before).toEqual(alice());
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('does not change the resource it was given', () => {
    const before = alice();
    patchUser(before, { op: 'replace', path: 'emails[type eq "work"].value', value: 'x@example.com' }, { op: 'remove', path: 'name' });
    expect(before).toEqual(alice());
  });
});

describe('PATCH on many values', () => {
  const emails = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ value: `e${from + i}@example.com`, type: 'other' }));
  const withEmails = (n: number): StoredResource => ({ ...alice(), emails: emails(n) });

  it('refuses more values than the cap in one attribute, naming it, by add, replace, a pathless value and POST', () => {
    const over = MAX_VALUES_PER_ATTRIBUTE + 1;
    const cap = new RegExp(`^emails: has ${over} values; at most ${MAX_VALUES_PER_ATTRIBUTE} are allowed`);
    expect(refusal(() => patchUser(alice(), { op: 'add', path: 'emails', value: emails(over) })).message).toMatch(cap);
    expect(refusal(() => patchUser(alice(), { op: 'replace', path: 'emails', value: emails(over) })).message).toMatch(cap);
    expect(refusal(() => patchUser(alice(), { op: 'add', value: { emails: emails(over) } })).message).toMatch(cap);
    // What is there already counts: 250 held plus 7 new is one too many.
    expect(refusal(() => patchUser(withEmails(250), { op: 'add', path: 'emails', value: emails(7, 1000) })).message).toMatch(cap);
    expect(refusal(() => normalizeResource(userResourceType, { schemas: [SCHEMA_USER], userName: 'a', emails: emails(over) })).message).toMatch(cap);
    expect(refusal(() => normalizeResource(userResourceType, { schemas: [SCHEMA_USER], userName: 'a', roles: Array.from({ length: over }, (_, i) => ({ value: `r${i}` })) })).message).toMatch(/^roles: has 257 values/);
    // At the cap is fine, and re-adding what is there adds nothing.
    const full = patchUser(withEmails(250), { op: 'add', path: 'emails', value: emails(MAX_VALUES_PER_ATTRIBUTE, 0) });
    expect(full.emails).toHaveLength(MAX_VALUES_PER_ATTRIBUTE);
    expect(patchUser(full, { op: 'add', path: 'emails', value: emails(MAX_VALUES_PER_ATTRIBUTE, 0) }).emails).toHaveLength(MAX_VALUES_PER_ATTRIBUTE);
  });

  it('gives the event loop turns during a long PATCH, with the same result as applying it at once', async () => {
    const ops = request(...Array.from({ length: 120 }, (_, i) => ({ op: 'add', path: 'emails', value: [{ value: `m${i % 40}@example.com`, type: i % 2 ? 'work' : 'home' }] })));
    let turns = 0;
    const tick = () => setImmediate(() => {
      turns++;
      if (turns < 100) tick();
    });
    tick();
    const yielded = await applyPatchYielding(userResourceType, alice(), ops, options);
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(yielded).toEqual(applyPatch(userResourceType, alice(), ops, options));
    await expect(applyPatchYielding(userResourceType, alice(), request({ op: 'add', path: 'emails', value: emails(MAX_VALUES_PER_ATTRIBUTE + 1) }), options)).rejects.toThrow(/at most 256/);
  });

  it('adds and removes exactly as comparing every pair would (key order, duplicates, Entra\'s value match in any case)', () => {
    const email = fc.record({ value: fc.constantFrom('a@x', 'A@x', 'b@x', 'c@x'), type: fc.constantFrom('work', 'home') }, { requiredKeys: ['value'] })
      .chain((e) => fc.boolean().map((flip) => (flip ? (Object.fromEntries(Object.entries(e).reverse()) as typeof e) : e)));
    const lower = (v: unknown) => (v as { value: string }).value.toLowerCase();
    fc.assert(
      fc.property(fc.uniqueArray(email, { selector: (e) => JSON.stringify([e.value, e.type]), maxLength: 6 }), fc.array(email, { maxLength: 6 }), (held, given) => {
        const start: StoredResource = { userName: 'u', ...(held.length ? { emails: held } : {}) };
        const added: unknown[] = [...held];
        for (const g of given) if (!added.some((e) => sameJson(e, g))) added.push(g);
        expect(patchUser(start, { op: 'add', path: 'emails', value: given }).emails ?? []).toEqual(added);
        const kept = held.filter((e) => !given.some((g) => lower(g) === lower(e)));
        expect(patchUser(start, { op: 'remove', path: 'emails', value: given }).emails ?? []).toEqual(kept);
      }),
      { numRuns: 500 },
    );
  });
});

describe('PATCH on group members', () => {
  const group = { displayName: 'Engineering' };
  const patchGroup = (...ops: unknown[]) => applyPatch(groupResourceType, group, request(...ops), { ...options, id: 'g-1' });

  it('turns every member form into member changes, not document edits', () => {
    const r = patchGroup(
      { op: 'Add', path: 'members', value: [{ $ref: null, value: 'u1' }, { value: 'u2', display: 'Bob' }] },
      { op: 'Remove', path: 'members', value: [{ $ref: null, value: 'u1' }] },
      { op: 'remove', path: 'members[value eq "u2"]' },
      { op: 'replace', path: 'members', value: [{ value: 'u3' }] },
      { op: 'replace', value: { members: [{ value: 'u4' }], displayName: 'Eng' } },
      { op: 'add', value: { members: [{ value: 'u5', type: 'user' }] } },
      { op: 'replace', path: 'members[value eq "u5"].display', value: 'Eve' },
      { op: 'remove', path: 'members' },
    );
    expect(r.resource).toEqual({ displayName: 'Eng' });
    expect(r.memberChanges.map((c) => c.kind)).toEqual(['add', 'remove', 'removeWhere', 'replaceAll', 'replaceAll', 'add', 'setDisplay', 'removeAll']);
    expect(r.memberChanges[0]).toEqual({ kind: 'add', members: [{ value: 'u1' }, { value: 'u2', display: 'Bob' }] });
    expect(r.memberChanges[1]).toEqual({ kind: 'remove', ids: ['u1'] });
    expect(r.memberChanges[5]).toEqual({ kind: 'add', members: [{ value: 'u5', type: 'User' }] });
  });

  it('replace on a member value path that matches nothing adds the member the filter names', () => {
    const r = patchGroup({ op: 'replace', path: 'members[value eq "u9"]', value: { display: 'Nine' } });
    expect(r.memberChanges[0]).toMatchObject({ kind: 'replaceWhere', addIfNone: { value: 'u9', display: 'Nine' } });
  });

  it('refuses changes to immutable and server-set member fields, and members without an id', () => {
    expect(refusal(() => patchGroup({ op: 'replace', path: 'members[value eq "u1"].value', value: 'u2' })).details?.scimType).toBe('mutability');
    expect(refusal(() => patchGroup({ op: 'replace', path: 'members.$ref', value: 'x' })).details?.scimType).toBe('mutability');
    expect(refusal(() => patchGroup({ op: 'add', path: 'members', value: [{ display: 'no id' }] })).message).toMatch(/Operations\[0\]\.value\[0\]\.value: is required/);
    expect(refusal(() => patchGroup({ op: 'add', path: 'members', value: [{ value: 'u1', type: 'Robot' }] })).message).toMatch(/"User" or "Group"/);
  });
});

describe('PATCH on many members', () => {
  const members = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ value: `00000000-0000-4000-8000-${String(from + i).padStart(12, '0')}` }));
  const patchGroup = (...ops: unknown[]) => applyPatch(groupResourceType, { displayName: 'G' }, parsePatchRequest({ schemas: [MSG_PATCH], Operations: ops }, 1000), options);

  it('takes up to the cap of member values in one PATCH, counted over every operation, and refuses more naming members', () => {
    expect(patchGroup({ op: 'add', path: 'members', value: members(MAX_MEMBERS_PER_PATCH) }).memberChanges).toHaveLength(1);
    const half = MAX_MEMBERS_PER_PATCH / 2;
    expect(patchGroup({ op: 'add', path: 'members', value: members(half) }, { op: 'remove', path: 'members', value: members(half, half) }).memberChanges).toHaveLength(2);
    const over = refusal(() => patchGroup({ op: 'add', path: 'members', value: members(half) }, { op: 'replace', path: 'members', value: members(half + 1, half) }));
    expect(over.message).toMatch(new RegExp(`^members: a PATCH may name at most ${MAX_MEMBERS_PER_PATCH} members`));
    expect(refusal(() => patchGroup(...members(MAX_MEMBERS_PER_PATCH + 1).map((m) => ({ op: 'add', path: 'members', value: m })).slice(0, 1000), { op: 'add', path: 'members', value: members(MAX_MEMBERS_PER_PATCH) })).message).toMatch(/at most/);
    // Removing every member names none.
    expect(patchGroup({ op: 'add', path: 'members', value: members(MAX_MEMBERS_PER_PATCH) }, { op: 'remove', path: 'members' }).memberChanges.map((c) => c.kind)).toEqual(['add', 'removeAll']);
  });
});

describe('PATCH under fuzzing', () => {
  const paths = fc.constantFrom(
    'title', 'active', 'userName', 'name', 'name.givenName', 'emails', 'emails.value', 'emails[type eq "work"]', 'emails[type eq "work"].value',
    'emails[value co "@"].primary', 'phoneNumbers[type eq "mobile"]', 'addresses[type eq "work"].country', 'groups', 'id', 'meta.created', 'password',
    `${SCHEMA_ENTERPRISE_USER}:department`, `${SCHEMA_ENTERPRISE_USER}:manager`, SCHEMA_ENTERPRISE_USER, 'x509Certificates', '__proto__', 'name.constructor',
    'emails[type eq "work"', 'emails[', 'nosuch', '',
  );
  const values = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.boolean(),
    fc.constantFrom('True', 'False', null, 42, '', 'a\u0000'),
    fc.dictionary(fc.constantFrom('value', 'type', 'primary', 'givenName', 'department', 'display', '__proto__', 'nope'), fc.oneof(fc.string({ maxLength: 10 }), fc.boolean(), fc.constant(null)), { maxKeys: 3 }),
    fc.array(fc.dictionary(fc.constantFrom('value', 'type', 'primary', 'display'), fc.oneof(fc.string({ maxLength: 10 }), fc.boolean()), { maxKeys: 3 }), { maxLength: 3 }),
  );
  const operation = fc.record(
    { op: fc.constantFrom('add', 'replace', 'remove', 'Add', 'REPLACE'), path: paths, value: values },
    { requiredKeys: ['op'] },
  );

  it('every result is a valid resource; every refusal is a 400 that leaves the input untouched', () => {
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 5 }), (ops) => {
        const before = alice();
        let parsed: PatchOperation[];
        try {
          parsed = request(...ops);
        } catch (err) {
          expect((err as GatehouseError).status).toBe(400);
          return;
        }
        try {
          const { resource } = applyPatch(userResourceType, before, parsed, options);
          const schemas = [SCHEMA_USER, ...(resource[SCHEMA_ENTERPRISE_USER] ? [SCHEMA_ENTERPRISE_USER] : [])];
          // What PATCH produces is exactly what a PUT of it would store.
          expect(normalizeResource(userResourceType, { schemas, ...resource }).resource).toEqual(resource);
        } catch (err) {
          expect(err).toBeInstanceOf(GatehouseError);
          expect((err as GatehouseError).status).toBe(400);
        }
        expect(before).toEqual(alice());
        expect(Object.prototype).not.toHaveProperty('polluted');
      }),
      { numRuns: 3000 },
    );
  });

  it('group PATCH fuzz: only member changes or 400s', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ op: fc.constantFrom('add', 'replace', 'remove'), path: fc.constantFrom('members', 'members[value eq "u1"]', 'members[display sw "a"].display', 'members.value', 'displayName', 'externalId'), value: values }, { requiredKeys: ['op'] }), { minLength: 1, maxLength: 4 }), (ops) => {
        try {
          const r = applyPatch(groupResourceType, { displayName: 'G' }, request(...ops), options);
          expect(normalizeResource(groupResourceType, { schemas: [SCHEMA_GROUP], ...r.resource }).resource).toEqual(r.resource);
        } catch (err) {
          expect(err).toBeInstanceOf(GatehouseError);
          expect((err as GatehouseError).status).toBe(400);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
