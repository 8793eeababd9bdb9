// /Bulk (RFC 7644 section 3.7): operations run one after another, each in its own transaction, with
// bulkId cross-references ("bulkId:u1" in a path or a value) resolved to the ids created earlier in
// the same request. An operation whose references are not created yet waits for them; references
// that can never resolve (unknown, failed, circular) fail that operation with 409.
import { GatehouseError } from '../shared/errors.js';
import { errorBody, invalidSyntax, invalidValue, payloadTooLarge, scimTypeOf, type ScimErrorBody } from './scim-errors.js';
import { MSG_BULK_REQUEST, MSG_BULK_RESPONSE, type ResourceTypeName } from './scim-schema.js';
import type { ScimService } from './scim-service.js';
import type { Actor } from './scim-store.js';
import { isPlainObject } from './scim-values.js';

export interface BulkLimits {
  maxOperations: number;
  maxPayloadSize: number;
}

interface BulkOperation {
  index: number;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  bulkId?: string;
  version?: string;
  path: string;
  data?: unknown;
}

interface BulkOperationResult {
  method: string;
  bulkId?: string;
  version?: string;
  location?: string;
  status: string;
  response?: ScimErrorBody;
}

const BULK_REF = /^bulkId:(.+)$/;
const PATH_REF = /^(\/[^/]+\/)bulkId:([^/]+)$/;

/** Every "bulkId:x" a value or path refers to. */
function referencesIn(value: unknown, out: Set<string>): Set<string> {
  if (typeof value === 'string') {
    const m = BULK_REF.exec(value);
    if (m) out.add(m[1]!);
  } else if (Array.isArray(value)) {
    for (const v of value) referencesIn(v, out);
  } else if (isPlainObject(value)) {
    for (const v of Object.values(value)) referencesIn(v, out);
  }
  return out;
}

function substitute(value: unknown, ids: Map<string, string>): unknown {
  if (typeof value === 'string') {
    const m = BULK_REF.exec(value);
    return m && ids.has(m[1]!) ? ids.get(m[1]!) : value;
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ids));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, ids)]));
  return value;
}

function parseOperation(raw: unknown, index: number): BulkOperation {
  const field = `Operations[${index}]`;
  if (!isPlainObject(raw)) throw invalidSyntax(field, 'must be an object with method and path');
  const method = typeof raw.method === 'string' ? raw.method.toUpperCase() : '';
  if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) throw invalidSyntax(`${field}.method`, 'must be POST, PUT, PATCH or DELETE');
  if (typeof raw.path !== 'string' || !raw.path) throw invalidSyntax(`${field}.path`, 'is required, e.g. "/Users" or "/Groups/<id>"');
  if (raw.bulkId !== undefined && (typeof raw.bulkId !== 'string' || !raw.bulkId)) throw invalidValue(`${field}.bulkId`, 'must be a non-empty string');
  if (method === 'POST' && raw.bulkId === undefined) throw invalidSyntax(`${field}.bulkId`, 'is required for POST');
  if (raw.version !== undefined && typeof raw.version !== 'string') throw invalidValue(`${field}.version`, 'must be a string (an ETag)');
  if (method !== 'DELETE' && raw.data === undefined) throw invalidSyntax(`${field}.data`, `is required for ${method}`);
  return {
    index,
    method: method as BulkOperation['method'],
    path: raw.path,
    ...(typeof raw.bulkId === 'string' ? { bulkId: raw.bulkId } : {}),
    ...(typeof raw.version === 'string' ? { version: raw.version } : {}),
    ...(raw.data !== undefined ? { data: raw.data } : {}),
  };
}

function target(op: BulkOperation): { type: ResourceTypeName; id?: string } {
  const m = /^\/(Users|Groups)(?:\/([^/?#]+))?$/i.exec(op.path);
  if (!m) throw invalidValue(`Operations[${op.index}].path`, 'must be /Users, /Groups, /Users/<id> or /Groups/<id>');
  const type: ResourceTypeName = m[1]!.toLowerCase() === 'users' ? 'User' : 'Group';
  if (op.method === 'POST' && m[2]) throw invalidValue(`Operations[${op.index}].path`, 'POST goes to /Users or /Groups');
  if (op.method !== 'POST' && !m[2]) throw invalidValue(`Operations[${op.index}].path`, `${op.method} needs a resource id: /Users/<id>`);
  return { type, ...(m[2] ? { id: m[2] } : {}) };
}

export async function processBulk(
  service: ScimService,
  actor: Actor,
  body: unknown,
  limits: BulkLimits,
  onUnexpected: (err: unknown) => void,
): Promise<{ schemas: string[]; Operations: BulkOperationResult[] }> {
  if (!isPlainObject(body)) throw invalidSyntax('body', 'must be a BulkRequest message');
  if (!Array.isArray(body.schemas) || !body.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === MSG_BULK_REQUEST.toLowerCase())) {
    throw invalidSyntax('schemas', `must include "${MSG_BULK_REQUEST}"`);
  }
  const rawOps = body.Operations;
  if (!Array.isArray(rawOps) || !rawOps.length) throw invalidSyntax('Operations', 'must be a non-empty array');
  if (rawOps.length > limits.maxOperations) throw payloadTooLarge(`the bulk request has ${rawOps.length} operations; at most ${limits.maxOperations} are allowed (maxOperations)`);
  let failOnErrors = Infinity;
  if (body.failOnErrors !== undefined) {
    if (typeof body.failOnErrors !== 'number' || !Number.isInteger(body.failOnErrors) || body.failOnErrors < 1) throw invalidValue('failOnErrors', 'must be a positive integer');
    failOnErrors = body.failOnErrors;
  }

  const results = new Map<number, BulkOperationResult>();
  const created = new Map<string, string>();
  const failedBulkIds = new Set<string>();
  const declared = new Map<string, number>();
  let errors = 0;

  const fail = (op: BulkOperation | { index: number; method: string; bulkId?: string }, err: GatehouseError) => {
    errors++;
    if (op.bulkId) failedBulkIds.add(op.bulkId);
    results.set(op.index, {
      method: op.method,
      ...(op.bulkId ? { bulkId: op.bulkId } : {}),
      status: String(err.status),
      response: errorBody(err.status, err.message, scimTypeOf(err)),
    });
  };

  let pending: BulkOperation[] = [];
  rawOps.forEach((raw, index) => {
    try {
      const op = parseOperation(raw, index);
      if (op.bulkId !== undefined) {
        if (declared.has(op.bulkId)) throw invalidValue(`Operations[${index}].bulkId`, `"${op.bulkId}" is used by operation ${declared.get(op.bulkId)} already`);
        declared.set(op.bulkId, index);
      }
      pending.push(op);
    } catch (err) {
      if (!(err instanceof GatehouseError)) throw err;
      const r = raw as { method?: unknown; bulkId?: unknown };
      fail({ index, method: typeof r?.method === 'string' ? r.method : '', ...(typeof r?.bulkId === 'string' ? { bulkId: r.bulkId } : {}) }, err);
    }
  });

  const run = async (op: BulkOperation): Promise<void> => {
    const path = op.path.replace(PATH_REF, (all, prefix: string, ref: string) => (created.has(ref) ? `${prefix}${created.get(ref)}` : all));
    const data = substitute(op.data, created);
    const { type, id } = target({ ...op, path });
    const ifMatch = op.version !== undefined ? { ifMatch: op.version } : {};
    const base = { method: op.method, ...(op.bulkId ? { bulkId: op.bulkId } : {}) };
    switch (op.method) {
      case 'POST': {
        const r = await service.create(actor, type, data, {});
        created.set(op.bulkId!, r.body.id as string);
        results.set(op.index, { ...base, location: r.location, version: r.etag, status: '201' });
        return;
      }
      case 'PUT': {
        const r = await service.replace(actor, type, id!, data, { ...ifMatch, query: {} });
        results.set(op.index, { ...base, location: r.location, version: r.etag, status: '200' });
        return;
      }
      case 'PATCH': {
        const r = await service.patch(actor, type, id!, data, { ...ifMatch, query: {} });
        results.set(op.index, { ...base, location: r.location, version: r.etag, status: r.noContent ? '204' : '200' });
        return;
      }
      case 'DELETE':
        await service.remove(actor, type, id!, ifMatch);
        results.set(op.index, { ...base, status: '204' });
        return;
    }
  };

  // An operation's references, found once: a chain of forward references takes a pass per link, and
  // walking each waiting operation's data again on every pass made a 1,000-operation chain quadratic.
  const refsFound = new Map<BulkOperation, Set<string>>();
  const refsOf = (op: BulkOperation): Set<string> => {
    let refs = refsFound.get(op);
    if (!refs) {
      refs = referencesIn(op.data, new Set());
      const pathRef = PATH_REF.exec(op.path)?.[2];
      if (pathRef) refs.add(pathRef);
      refsFound.set(op, refs);
    }
    return refs;
  };

  const conflictFor = (message: string) => new GatehouseError('conflict', message, { details: { scimType: 'invalidValue' } });

  while (pending.length && errors < failOnErrors) {
    const deferred: BulkOperation[] = [];
    let progressed = false;
    for (const op of pending) {
      if (errors >= failOnErrors) break;
      const refs = refsOf(op);
      const failed = [...refs].find((r) => failedBulkIds.has(r));
      const unknown = [...refs].find((r) => !declared.has(r));
      if (failed || unknown) {
        fail(op, conflictFor(failed ? `bulkId:${failed} belongs to an operation that failed` : `bulkId:${unknown} is not the bulkId of any operation in this request`));
        progressed = true;
        continue;
      }
      if ([...refs].some((r) => !created.has(r))) {
        deferred.push(op);
        continue;
      }
      progressed = true;
      try {
        await run(op);
      } catch (err) {
        if (err instanceof GatehouseError) {
          fail(op, err);
        } else {
          onUnexpected(err);
          fail(op, new GatehouseError('internal', 'internal error'));
        }
      }
    }
    pending = deferred;
    if (!progressed) {
      for (const op of pending) if (errors < failOnErrors) fail(op, conflictFor('its bulkId references are circular and cannot be resolved'));
      break;
    }
  }

  return { schemas: [MSG_BULK_RESPONSE], Operations: [...results.entries()].sort(([a], [b]) => a - b).map(([, r]) => r) };
}
