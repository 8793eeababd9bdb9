// Every attribute /Schemas advertises as writable comes back exactly as it was sent: random resources
// generated from the schema definitions themselves, through POST, GET, PUT and PATCH.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startScimTestServer, type ListShape, type ScimTestServer, type TestDirectory } from '../helpers/scim.js';
import type { AttributeDef, SchemaDef } from '../../scim/scim-schema.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const writable = (a: AttributeDef) => a.mutability === 'readWrite' || a.mutability === 'immutable';

// Any well-formed text, including astral and combining characters, but not NUL (refused).
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\u0000'));
const base64 = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => Buffer.from(b).toString('base64'));

function valueFor(a: AttributeDef): fc.Arbitrary<unknown> {
  switch (a.type) {
    case 'boolean':
      return fc.boolean();
    case 'binary':
      return base64;
    case 'complex': {
      const subs = (a.subAttributes ?? []).filter(writable);
      const record = fc.record(Object.fromEntries(subs.filter((s) => s.name !== 'primary').map((s) => [s.name, valueFor(s)])), { requiredKeys: [] }).filter((r) => Object.keys(r).length > 0);
      if (!a.multiValued) return record;
      const hasPrimary = subs.some((s) => s.name === 'primary');
      return fc.tuple(fc.array(record, { minLength: 1, maxLength: 3 }), fc.nat(), fc.boolean()).map(([items, n, withPrimary]) =>
        hasPrimary && withPrimary ? items.map((item, i) => ({ ...item, primary: i === n % items.length })) : items,
      );
    }
    default:
      return text;
  }
}

function resourceArb(schema: SchemaDef, extension: SchemaDef | undefined, unique: () => string) {
  const core = schema.attributes.filter((a) => writable(a) && a.name !== 'members');
  const coreArb = fc.record(Object.fromEntries(core.map((a) => [a.name, valueFor(a)])), { requiredKeys: [] });
  const extArb = extension ? fc.option(fc.record(Object.fromEntries(extension.attributes.filter(writable).map((a) => [a.name, valueFor(a)])), { requiredKeys: [] }).filter((r) => Object.keys(r).length > 0), { nil: undefined }) : fc.constant(undefined);
  return fc.tuple(coreArb, extArb, fc.option(text, { nil: undefined })).map(([attrs, ext, externalId]) => {
    const out: Record<string, unknown> = { ...attrs };
    const required = schema.name === 'User' ? 'userName' : 'displayName';
    out[required] = `${String(out[required] ?? '')}${unique()}`;
    if (externalId !== undefined) out.externalId = externalId;
    if (extension && ext) out[extension.id] = ext;
    return out;
  });
}

/** The part of a response that the client wrote. */
function written(body: Record<string, unknown>): Record<string, unknown> {
  const { schemas: _s, id: _i, meta: _m, groups: _g, ...rest } = body;
  return rest;
}

describe('every advertised attribute round-trips exactly as sent', () => {
  let s: ScimTestServer;
  let d: TestDirectory;
  let schemas: SchemaDef[];
  let counter = 0;
  const unique = () => `-${++counter}`;

  beforeAll(async () => {
    s = await startScimTestServer();
    d = await s.directory();
    schemas = (await s.request<ListShape<SchemaDef>>(d.token, 'GET', '/Schemas')).body.Resources;
  });
  afterAll(async () => s?.close());

  it('users, with the enterprise extension', async () => {
    const user = schemas.find((x) => x.name === 'User')!;
    const enterprise = schemas.find((x) => x.name === 'EnterpriseUser')!;
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(resourceArb(user, enterprise, unique), async (resource) => {
        for (const [k, v] of Object.entries(resource)) seen.add(k === enterprise.id ? `${k}:${Object.keys(v as object).join(',')}` : k);
        const schemasSent = ['urn:ietf:params:scim:schemas:core:2.0:User', ...(resource[enterprise.id] ? [enterprise.id] : [])];
        const created = await s.request(d.token, 'POST', '/Users', { schemas: schemasSent, ...resource });
        expect(created.status, created.text).toBe(201);
        expect(written(created.body)).toEqual(resource);
        expect(created.body.schemas).toEqual(schemasSent);
        const id = created.body.id as string;
        expect(written((await s.request(d.token, 'GET', `/Users/${id}`)).body)).toEqual(resource);
        const put = await s.request(d.token, 'PUT', `/Users/${id}`, { schemas: schemasSent, ...resource, title: 'changed by PUT' });
        expect(written(put.body)).toEqual({ ...resource, title: 'changed by PUT' });
        const patched = await s.request(d.token, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: resource }, ...(resource.title === undefined ? [{ op: 'remove', path: 'title' }] : [])] });
        expect(patched.status, patched.text).toBe(200);
        expect(written(patched.body)).toEqual(resource);
      }),
      { numRuns: 60 },
    );
    // The generator reached every writable core attribute and every extension attribute.
    const coreNames = user.attributes.filter(writable).map((a) => a.name);
    for (const name of coreNames) expect(seen.has(name), name).toBe(true);
    const extKeys = [...seen].filter((k) => k.startsWith(enterprise.id)).flatMap((k) => k.slice(enterprise.id.length + 1).split(','));
    for (const a of enterprise.attributes.filter(writable)) expect(extKeys, a.name).toContain(a.name);
  });

  it('groups, with members kept as sent', async () => {
    const group = schemas.find((x) => x.name === 'Group')!;
    const members: string[] = [];
    for (let i = 0; i < 3; i++) members.push(((await s.request(d.token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `member${i}@example.com` })).body as { id: string }).id);
    const memberArb = fc.subarray(members, { minLength: 0 }).chain((ids) => fc.tuple(...ids.map((value) => fc.record({ value: fc.constant(value), display: text }, { requiredKeys: ['value'] }))));
    await fc.assert(
      fc.asyncProperty(resourceArb(group, undefined, unique), memberArb, async (resource, chosen) => {
        const created = await s.request(d.token, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], ...resource, members: chosen });
        expect(created.status, created.text).toBe(201);
        const expected = { ...resource, ...(chosen.length ? { members: chosen.map((m) => ({ ...m, $ref: `${s.base}/Users/${m.value}`, type: 'User' })) } : {}) };
        const got = (await s.request(d.token, 'GET', `/Groups/${created.body.id as string}`)).body;
        const { members: gotMembers, ...gotRest } = written(got) as { members?: Record<string, unknown>[] };
        const { members: expectedMembers, ...expectedRest } = expected as { members?: Record<string, unknown>[] };
        expect(gotRest).toEqual(expectedRest);
        expect(gotMembers?.map((m) => ({ value: m.value, display: m.display, type: m.type, $ref: m.$ref }))).toEqual(expectedMembers?.map((m) => ({ value: m.value, display: m.display, type: m.type, $ref: m.$ref })));
      }),
      { numRuns: 30 },
    );
  });
});
