// The SCIM operations (RFC 7644) on Users and Groups, independent of HTTP: the router and /Bulk both
// call these. Input is checked against the schema, PATCH applied, listing paged and projected.
import { invalidValue, resourceNotFound } from './scim-errors.js';
import { DEFAULT_FILTER_LIMITS, parseFilter, type FilterLimits, type FilterNode } from './scim-filter.js';
import { GROUP_TABLE, SqlParams, USER_TABLE, filterToSql, sortToSql, type SqlTable } from './scim-filter-sql.js';
import { PathError, resolveAttributePath } from './scim-attribute-path.js';
import { applyPatchYielding, parsePatchRequest } from './scim-patch.js';
import {
  etagOf,
  normalizeResource,
  parseProjection,
  projectionIncludes,
  projectResource,
  renderResource,
  type Projection,
  type ResourceRow,
} from './scim-resource.js';
import { MSG_LIST, groupResourceType, userResourceType, type ResourceTypeDef, type ResourceTypeName } from './scim-schema.js';
import type { Actor, ScimStore } from './scim-store.js';
import { GatehouseError } from '../shared/errors.js';

export interface ScimLimits {
  /** Largest page (`count`), advertised as filter.maxResults. */
  maxResults: number;
  /** Page size when the client gives no count. */
  defaultCount: number;
  maxPatchOperations: number;
  filter: FilterLimits;
  /** Group members one listing page may render in all (/Groups/{id} renders a group whole). */
  maxListedMembers?: number;
}

export const DEFAULT_MAX_LISTED_MEMBERS = 10_000;
export const DEFAULT_SCIM_LIMITS: ScimLimits = { maxResults: 500, defaultCount: 100, maxPatchOperations: 1000, filter: DEFAULT_FILTER_LIMITS, maxListedMembers: DEFAULT_MAX_LISTED_MEMBERS };

/** Query parameters of a listing or the body of a SearchRequest, as the client sent them. */
export interface SearchInput {
  filter?: unknown;
  startIndex?: unknown;
  count?: unknown;
  sortBy?: unknown;
  sortOrder?: unknown;
  attributes?: unknown;
  excludedAttributes?: unknown;
}

export interface ResourceResult {
  body: Record<string, unknown>;
  etag: string;
  location: string;
}

const tableOf = (rt: ResourceTypeDef): SqlTable => (rt.name === 'User' ? USER_TABLE : GROUP_TABLE);

function single(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) throw invalidValue(name, 'is given more than once');
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw invalidValue(name, 'must be a string');
  return value;
}

function integer(value: unknown, name: string): number | undefined {
  const text = single(value, name);
  if (text === undefined || text.trim() === '') return undefined;
  if (!/^-?\d{1,15}$/.test(text.trim())) throw invalidValue(name, 'must be an integer');
  return Number(text);
}

export function createScimService(deps: { store: ScimStore; baseUrl: string; limits?: ScimLimits }) {
  const { store, baseUrl } = deps;
  const limits = deps.limits ?? DEFAULT_SCIM_LIMITS;
  const maxMembers = limits.maxListedMembers ?? DEFAULT_MAX_LISTED_MEMBERS;

  const render = (rt: ResourceTypeDef, row: ResourceRow, projection: Projection) => projectResource(renderResource(rt, row, baseUrl), projection);
  const result = (rt: ResourceTypeDef, row: ResourceRow, projection: Projection): ResourceResult => ({
    body: render(rt, row, projection),
    etag: etagOf(row.version),
    location: `${baseUrl}${rt.endpoint}/${row.id}`,
  });
  const relations = (rt: ResourceTypeDef, projection: Projection) => projectionIncludes(projection, rt.name === 'User' ? 'groups' : 'members');

  function pageOf(input: SearchInput) {
    const startIndex = Math.max(1, integer(input.startIndex, 'startIndex') ?? 1);
    const requested = integer(input.count, 'count');
    const count = Math.min(limits.maxResults, Math.max(0, requested ?? limits.defaultCount));
    const sortOrderText = single(input.sortOrder, 'sortOrder');
    if (sortOrderText !== undefined && !/^(ascending|descending)$/i.test(sortOrderText)) throw invalidValue('sortOrder', 'must be ascending or descending');
    return { startIndex, count, descending: sortOrderText?.toLowerCase() === 'descending' };
  }

  /** The SQL for one resource type; undefined when the filter names attributes it does not have (root search). */
  function plan(rt: ResourceTypeDef, input: SearchInput, descending: boolean, lenient: boolean) {
    const table = tableOf(rt);
    const params = new SqlParams();
    params.add('directory');
    let where = 'TRUE';
    const filterText = single(input.filter, 'filter');
    if (filterText !== undefined) {
      let node: FilterNode;
      try {
        node = parseFilter(rt, filterText, limits.filter);
      } catch (err) {
        if (lenient && err instanceof GatehouseError) return { error: err };
        throw err;
      }
      where = filterToSql(node, table, params);
    }
    let orderBy = 'r.seq';
    const sortBy = single(input.sortBy, 'sortBy');
    if (sortBy !== undefined) {
      let resolved;
      try {
        resolved = resolveAttributePath(rt, sortBy);
      } catch (err) {
        if (err instanceof PathError) {
          if (lenient) return { error: invalidValue('sortBy', err.message) };
          throw invalidValue('sortBy', err.message);
        }
        throw err;
      }
      if (resolved.kind !== 'attribute') throw invalidValue('sortBy', `"${sortBy}" is a schema, not an attribute`);
      orderBy = `${sortToSql(resolved.ref, table, params)} ${descending ? 'DESC' : 'ASC'} NULLS LAST, r.seq`;
    }
    return { table, params, where, orderBy };
  }

  async function searchType(actor: Actor, rt: ResourceTypeDef, input: SearchInput) {
    const page = pageOf(input);
    const projection = parseProjection(rt, input.attributes, input.excludedAttributes);
    const p = plan(rt, input, page.descending, false);
    if ('error' in p) throw p.error;
    p.params.values[0] = actor.directoryId;
    const { rows, total } = await store.list(p.table, { where: p.where, params: p.params, orderBy: p.orderBy, limit: page.count, offset: page.startIndex - 1, withRelations: relations(rt, projection), maxMembers });
    return listResponse(total, page.startIndex, rows.map((r) => render(rt, r, projection)));
  }

  function listResponse(total: number, startIndex: number, resources: Record<string, unknown>[]) {
    return { schemas: [MSG_LIST], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
  }

  /** POST /.search: Users then Groups, paged as one list. */
  async function searchAll(actor: Actor, input: SearchInput) {
    const page = pageOf(input);
    const parts = [userResourceType, groupResourceType].map((rt) => ({ rt, plan: plan(rt, input, page.descending, true) }));
    const usable = parts.filter((x) => !('error' in x.plan));
    if (!usable.length) throw (parts[0]!.plan as { error: GatehouseError }).error;
    let offset = page.startIndex - 1;
    let remaining = page.count;
    let total = 0;
    const resources: Record<string, unknown>[] = [];
    for (const { rt, plan: p } of usable) {
      if ('error' in p) continue;
      p.params.values[0] = actor.directoryId;
      const projection = parseProjection(rt, input.attributes, input.excludedAttributes, { lenient: true });
      const base = p.params.values.slice();
      const counted = await store.list(p.table, { where: p.where, params: new SqlParams(base), orderBy: p.orderBy, limit: 0, offset: 0, withRelations: false });
      total += counted.total;
      if (remaining > 0 && offset < counted.total) {
        const { rows } = await store.list(p.table, { where: p.where, params: new SqlParams(base), orderBy: p.orderBy, limit: remaining, offset, withRelations: relations(rt, projection), maxMembers });
        resources.push(...rows.map((r) => render(rt, r, projection)));
        remaining -= rows.length;
      }
      offset = Math.max(0, offset - counted.total);
    }
    return listResponse(total, page.startIndex, resources);
  }

  return {
    limits,

    async get(actor: Actor, type: ResourceTypeName, id: string, query: SearchInput): Promise<ResourceResult> {
      const rt = type === 'User' ? userResourceType : groupResourceType;
      const projection = parseProjection(rt, query.attributes, query.excludedAttributes);
      const row =
        type === 'User'
          ? await store.getUser(actor.directoryId, id, { groups: relations(rt, projection) })
          : await store.getGroup(actor.directoryId, id, { members: relations(rt, projection) });
      if (!row) throw resourceNotFound(type, id);
      return result(rt, row, projection);
    },

    search: (actor: Actor, type: ResourceTypeName | 'all', input: SearchInput) =>
      type === 'all' ? searchAll(actor, input) : searchType(actor, type === 'User' ? userResourceType : groupResourceType, input),

    async create(actor: Actor, type: ResourceTypeName, body: unknown, query: SearchInput): Promise<ResourceResult> {
      const rt = type === 'User' ? userResourceType : groupResourceType;
      const projection = parseProjection(rt, query.attributes, query.excludedAttributes);
      const { resource, members } = normalizeResource(rt, body);
      const row = type === 'User' ? await store.createUser(actor, resource) : await store.createGroup(actor, resource, members ?? []);
      return result(rt, row, projection);
    },

    async replace(actor: Actor, type: ResourceTypeName, id: string, body: unknown, options: { ifMatch?: string; query: SearchInput }): Promise<ResourceResult> {
      const rt = type === 'User' ? userResourceType : groupResourceType;
      const projection = parseProjection(rt, options.query.attributes, options.query.excludedAttributes);
      const { resource, members } = normalizeResource(rt, body);
      const row =
        type === 'User'
          ? await store.updateUser(actor, id, () => resource, { ...(options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {}) })
          : await store.updateGroup(actor, id, () => ({ resource, memberChanges: [{ kind: 'replaceAll', members: members ?? [] }] }), {
              ...(options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {}),
              returnMembers: relations(rt, projection),
            });
      return result(rt, row, projection);
    },

    /** PATCH. Groups answer without a body unless attributes were asked for (what Entra recommends). */
    async patch(actor: Actor, type: ResourceTypeName, id: string, body: unknown, options: { ifMatch?: string; query: SearchInput }): Promise<ResourceResult & { noContent: boolean }> {
      const rt = type === 'User' ? userResourceType : groupResourceType;
      const projection = parseProjection(rt, options.query.attributes, options.query.excludedAttributes);
      const operations = parsePatchRequest(body, limits.maxPatchOperations);
      const ifMatch = options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {};
      if (type === 'User') {
        const row = await store.updateUser(actor, id, async (current) => (await applyPatchYielding(rt, current.resource, operations, { id, limits: limits.filter })).resource, ifMatch);
        return { ...result(rt, row, projection), noContent: false };
      }
      const wantsBody = projection.attributes !== undefined || projection.excluded !== undefined;
      const row = await store.updateGroup(
        actor,
        id,
        (current) => applyPatchYielding(rt, current.resource, operations, { id, limits: limits.filter }),
        { ...ifMatch, returnMembers: wantsBody && relations(rt, projection) },
      );
      return { ...result(rt, row, projection), noContent: !wantsBody };
    },

    async remove(actor: Actor, type: ResourceTypeName, id: string, options: { ifMatch?: string } = {}): Promise<void> {
      if (type === 'User') await store.deleteUser(actor, id, options);
      else await store.deleteGroup(actor, id, options);
    },
  };
}

export type ScimService = ReturnType<typeof createScimService>;
