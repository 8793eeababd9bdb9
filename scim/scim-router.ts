// The SCIM HTTP endpoint (mounted at /scim/v2): bearer-token authentication first, then JSON bodies
// up to maxPayloadSize, the RFC 7644 endpoints, and every refusal rendered as a SCIM error in
// application/scim+json. The directory comes from the token; no parameter can choose another.
//
// A plain Node request handler rather than an Express router: identity providers call this endpoint
// far more often than people call the admin API, and on the lookup path Express's router (and the
// prototype it swaps onto every request and response) cost more than the lookup's own work. The
// routes are few and fixed, so they are matched here; bodies are still read by Express's JSON
// parser, and security headers and request logs are applied by the app around every protocol.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import express from 'express';
import type { Logger } from 'pino';
import { GatehouseError } from '../shared/errors.js';
import { errorBody, invalidSyntax, payloadTooLarge, resourceNotFound, scimTypeOf } from './scim-errors.js';
import { processBulk, type BulkLimits } from './scim-bulk.js';
import type { createDiscovery } from './scim-discovery.js';
import { MSG_SEARCH, resourceTypes, type ResourceTypeName } from './scim-schema.js';
import type { ScimService, SearchInput } from './scim-service.js';
import type { Actor } from './scim-store.js';
import type { TokenAuthenticator, TokenPrincipal } from './directory-token.js';
import { clientAddress, type AuthFailureLimiter } from './scim-auth-limit.js';
import { isPlainObject } from './scim-values.js';

export interface ScimRouterDeps {
  service: ScimService;
  authenticator: TokenAuthenticator;
  /** Failed authentications per client address; none means no limit. */
  authFailures?: AuthFailureLimiter;
  discovery: ReturnType<typeof createDiscovery>;
  bulk: BulkLimits;
  /** Largest request body accepted anywhere (advertised as bulk.maxPayloadSize). */
  maxPayloadSize: number;
  log: Pick<Logger, 'error'>;
}

const CONTENT_TYPE = 'application/scim+json; charset=utf-8';

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Query parameter names are matched case-insensitively (startindex, Count, …). */
function searchInput(query: ParsedUrlQuery): SearchInput {
  const q = new Map(Object.entries(query).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    filter: q.get('filter'),
    startIndex: q.get('startindex'),
    count: q.get('count'),
    sortBy: q.get('sortby'),
    sortOrder: q.get('sortorder'),
    attributes: q.get('attributes'),
    excludedAttributes: q.get('excludedattributes'),
  };
}

function searchBody(body: unknown): SearchInput {
  if (!isPlainObject(body)) throw invalidSyntax('body', 'must be a SearchRequest message');
  if (!Array.isArray(body.schemas) || !body.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === MSG_SEARCH.toLowerCase())) {
    throw invalidSyntax('schemas', `must include "${MSG_SEARCH}"`);
  }
  const b = new Map(Object.entries(body).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    filter: b.get('filter'),
    startIndex: b.get('startindex'),
    count: b.get('count'),
    sortBy: b.get('sortby'),
    sortOrder: b.get('sortorder'),
    attributes: b.get('attributes'),
    excludedAttributes: b.get('excludedattributes'),
  };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}

/** One request as the endpoints see it. */
interface ScimRequest {
  method: string;
  headers: IncomingMessage['headers'];
  /** The request's whole path, for messages. */
  pathname: string;
  query: ParsedUrlQuery;
  body: unknown;
  actor: Actor;
}

type Endpoint = (req: ScimRequest, res: ServerResponse) => Promise<void> | void;

/** A SCIM request handler: `path` is the request's path below the mount point (e.g. /Users/abc). */
export type ScimHandler = (req: IncomingMessage, res: ServerResponse, path: string) => void;

const ifMatchOf = (req: ScimRequest) => (typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {});

/** A path segment as a value: percent-decoded, or undefined when the encoding is malformed. */
function segmentValue(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function createScimHandler(deps: ScimRouterDeps): ScimHandler {
  const { service, discovery } = deps;
  // Bodies are read for the methods that carry one; a GET with a Content-Type header is not parsed.
  const json = express.json({ limit: deps.maxPayloadSize, type: () => true, strict: true });
  const readBody = (req: IncomingMessage, res: ServerResponse) =>
    new Promise<unknown>((resolve, reject) => json(req as express.Request, res as express.Response, (err?: unknown) => (err ? reject(err) : resolve((req as { body?: unknown }).body))));

  const notFound: Endpoint = (req, res) => send(res, 404, errorBody(404, `no SCIM endpoint ${req.method} ${req.pathname}`));
  const byResourceType = new Map(resourceTypes.map((rt) => [rt.endpoint.slice(1).toLowerCase(), { type: rt.name as ResourceTypeName, endpoint: rt.endpoint }]));

  /** The endpoint for a method and path; matching is case-insensitive, as RFC 7644 asks of names. */
  function route(method: string, path: string): Endpoint {
    const segments = path.split('/').slice(1);
    const [first = '', second, ...more] = segments.map((s, i) => (i === 0 ? s.toLowerCase() : s));
    const get = method === 'GET' || method === 'HEAD';
    if (first === 'me') return (_req, res) => send(res, 501, errorBody(501, '/Me is not implemented: a directory token acts for an identity provider, not for a user'));
    if (more.length) return notFound;
    if (first === 'serviceproviderconfig' && second === undefined && get) return (_req, res) => send(res, 200, discovery.serviceProviderConfig);
    // The discovery collections, and one document of each by its id.
    const collection = first === 'resourcetypes' ? 'ResourceType' : first === 'schemas' ? 'Schema' : undefined;
    if (collection && get) {
      const list = collection === 'ResourceType' ? discovery.resourceTypes : discovery.schemas;
      const one = collection === 'ResourceType' ? discovery.resourceType : discovery.schema;
      if (second === undefined) return (_req, res) => send(res, 200, list());
      const id = segmentValue(second);
      return (_req, res) => {
        const doc = id === undefined ? undefined : one(id);
        if (!doc) throw resourceNotFound(collection, id ?? second);
        send(res, 200, doc);
      };
    }
    if (first === '.search' && second === undefined && method === 'POST') {
      return async (req, res) => send(res, 200, await service.search(req.actor, 'all', searchBody(req.body)));
    }
    if (first === 'bulk' && second === undefined && method === 'POST') {
      return async (req, res) => send(res, 200, await processBulk(service, req.actor, req.body, deps.bulk, (err) => deps.log.error({ err }, 'a SCIM bulk operation failed')));
    }
    const rt = byResourceType.get(first);
    if (!rt) return notFound;
    const { type } = rt;
    if (second === undefined) {
      if (get) return async (req, res) => send(res, 200, await service.search(req.actor, type, searchInput(req.query)));
      if (method === 'POST') {
        return async (req, res) => {
          const r = await service.create(req.actor, type, req.body, searchInput(req.query));
          send(res, 201, r.body, { ETag: r.etag, Location: r.location });
        };
      }
      return (req, res) => send(res, 405, errorBody(405, `${req.method} is not supported on ${rt.endpoint}`));
    }
    if (second.toLowerCase() === '.search' && method === 'POST') {
      return async (req, res) => send(res, 200, await service.search(req.actor, type, searchBody(req.body)));
    }
    const id = segmentValue(second);
    if (id === undefined) return (_req, res) => send(res, 404, errorBody(404, `${rt.endpoint}/${second} is not a resource: the path is not percent-encoded correctly`));
    if (get) {
      return async (req, res) => {
        const r = await service.get(req.actor, type, id, searchInput(req.query));
        if (etagMatches(req.headers['if-none-match'], r.etag)) send(res, 304, undefined, { ETag: r.etag });
        else send(res, 200, r.body, { ETag: r.etag });
      };
    }
    if (method === 'PUT') {
      return async (req, res) => {
        const r = await service.replace(req.actor, type, id, req.body, { ...ifMatchOf(req), query: searchInput(req.query) });
        send(res, 200, r.body, { ETag: r.etag });
      };
    }
    if (method === 'PATCH') {
      return async (req, res) => {
        const r = await service.patch(req.actor, type, id, req.body, { ...ifMatchOf(req), query: searchInput(req.query) });
        if (r.noContent) send(res, 204, undefined, { ETag: r.etag });
        else send(res, 200, r.body, { ETag: r.etag });
      };
    }
    if (method === 'DELETE') {
      return async (req, res) => {
        await service.remove(req.actor, type, id, ifMatchOf(req));
        send(res, 204);
      };
    }
    return (req, res) => send(res, 405, errorBody(405, `${req.method} is not supported on ${rt.endpoint}/{id}`));
  }

  /** The token's directory; failures count against the client's address, and past the limit are 429s. */
  async function authenticate(req: IncomingMessage): Promise<TokenPrincipal> {
    const limiter = deps.authFailures;
    if (!limiter) return deps.authenticator.authenticate(req.headers.authorization);
    const address = clientAddress(req);
    const refused = limiter.refusal(address);
    if (refused) {
      const known = deps.authenticator.cached(req.headers.authorization);
      if (known) return known;
      throw refused;
    }
    try {
      return await deps.authenticator.authenticate(req.headers.authorization);
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'unauthenticated') throw (await limiter.failed(address)) ?? err;
      throw err;
    }
  }

  function fail(err: unknown, req: IncomingMessage, res: ServerResponse, path: string): void {
    const e = err as { type?: string };
    let ge: GatehouseError;
    if (err instanceof GatehouseError) ge = err;
    else if (e.type === 'entity.parse.failed') ge = invalidSyntax('body', 'is not valid JSON');
    else if (e.type === 'entity.too.large') ge = payloadTooLarge(`the request body is larger than ${deps.maxPayloadSize} bytes (maxPayloadSize)`);
    else if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') ge = invalidSyntax('body', 'must be JSON in UTF-8');
    else if (e.type === 'request.aborted') return;
    else {
      deps.log.error({ err, method: req.method, path }, 'SCIM request failed');
      ge = new GatehouseError('internal', 'internal error');
    }
    if (res.headersSent) return;
    const headers: Record<string, string> = ge.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM"' } : {};
    if (ge.status === 429 && typeof ge.details?.retryAfterSeconds === 'number') headers['Retry-After'] = String(ge.details.retryAfterSeconds);
    send(res, ge.status, errorBody(ge.status, ge.message, scimTypeOf(ge)), headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, rawPath: string): Promise<void> {
    const method = req.method ?? 'GET';
    // A trailing slash names the same resource, as it did under Express's non-strict routing.
    const path = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath || '/';
    const actor = await authenticate(req);
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readBody(req, res) : undefined;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const query = q === -1 ? {} : parseQuery(url.slice(q + 1));
    const endpoint = route(method, path);
    await endpoint({ method, headers: req.headers, pathname: q === -1 ? url : url.slice(0, q), query, body, actor }, res);
  }

  return (req, res, path) => {
    handle(req, res, path).catch((err: unknown) => fail(err, req, res, path));
  };
}
