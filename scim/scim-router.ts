// The SCIM HTTP endpoint (mounted at /scim/v2): bearer-token authentication first, then JSON bodies
// up to maxPayloadSize, the RFC 7644 endpoints, and every refusal rendered as a SCIM error in
// application/scim+json. The directory comes from the token; no parameter can choose another.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { GatehouseError } from '../shared/errors.js';
import { errorBody, invalidSyntax, payloadTooLarge, resourceNotFound, scimTypeOf } from './scim-errors.js';
import { processBulk, type BulkLimits } from './scim-bulk.js';
import type { createDiscovery } from './scim-discovery.js';
import { MSG_SEARCH, resourceTypes, type ResourceTypeName } from './scim-schema.js';
import type { ScimService, SearchInput } from './scim-service.js';
import type { Actor } from './scim-store.js';
import type { TokenAuthenticator } from './directory-token.js';
import { isPlainObject } from './scim-values.js';

export interface ScimRouterDeps {
  service: ScimService;
  authenticator: TokenAuthenticator;
  discovery: ReturnType<typeof createDiscovery>;
  bulk: BulkLimits;
  /** Largest request body accepted anywhere (advertised as bulk.maxPayloadSize). */
  maxPayloadSize: number;
  log: Pick<Logger, 'error'>;
}

const CONTENT_TYPE = 'application/scim+json; charset=utf-8';

function send(res: Response, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body === undefined) {
    res.end();
    return;
  }
  // Written directly: express's res.send would hash every body for an ETag of its own.
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Query parameter names are matched case-insensitively (startindex, Count, …). */
function searchInput(query: Request['query']): SearchInput {
  const q = new Map(Object.entries(query as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]));
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

const ifMatchOf = (req: Request) => (typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {});

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}

type Handler = (req: Request, res: Response, actor: Actor) => Promise<void> | void;

export function createScimRouter(deps: ScimRouterDeps): express.Router {
  const { service, discovery } = deps;
  const router = express.Router({ caseSensitive: false });

  const handle =
    (fn: Handler) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        await fn(req, res, res.locals.actor as Actor);
      } catch (err) {
        next(err);
      }
    };

  router.use(async (req, res, next) => {
    try {
      res.locals.actor = await deps.authenticator.authenticate(req.headers.authorization);
      next();
    } catch (err) {
      next(err);
    }
  });
  // Bodies are read for the methods that carry one; a GET with a Content-Type header is not parsed.
  const json = express.json({ limit: deps.maxPayloadSize, type: () => true, strict: true });
  router.use((req, res, next) => (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' ? json(req, res, next) : next()));

  router.get('/ServiceProviderConfig', handle((_req, res) => send(res, 200, discovery.serviceProviderConfig)));
  router.get('/ResourceTypes', handle((_req, res) => send(res, 200, discovery.resourceTypes())));
  router.get(
    '/ResourceTypes/:name',
    handle((req, res) => {
      const doc = discovery.resourceType(String(req.params.name));
      if (!doc) throw resourceNotFound('ResourceType', String(req.params.name));
      send(res, 200, doc);
    }),
  );
  router.get('/Schemas', handle((_req, res) => send(res, 200, discovery.schemas())));
  router.get(
    '/Schemas/:id',
    handle((req, res) => {
      const doc = discovery.schema(String(req.params.id));
      if (!doc) throw resourceNotFound('Schema', String(req.params.id));
      send(res, 200, doc);
    }),
  );
  router.all(
    ['/Me', '/Me/*rest'],
    handle((_req, res) => send(res, 501, errorBody(501, '/Me is not implemented: a directory token acts for an identity provider, not for a user'))),
  );
  router.post('/.search', handle(async (req, res, actor) => send(res, 200, await service.search(actor, 'all', searchBody(req.body)))));
  router.post(
    '/Bulk',
    handle(async (req, res, actor) => {
      send(res, 200, await processBulk(service, actor, req.body, deps.bulk, (err) => deps.log.error({ err }, 'a SCIM bulk operation failed')));
    }),
  );

  for (const rt of resourceTypes) {
    const type: ResourceTypeName = rt.name;
    const one = `${rt.endpoint}/:id`;
    router.get(rt.endpoint, handle(async (req, res, actor) => send(res, 200, await service.search(actor, type, searchInput(req.query)))));
    router.post(`${rt.endpoint}/.search`, handle(async (req, res, actor) => send(res, 200, await service.search(actor, type, searchBody(req.body)))));
    router.post(
      rt.endpoint,
      handle(async (req, res, actor) => {
        const r = await service.create(actor, type, req.body, searchInput(req.query));
        send(res, 201, r.body, { ETag: r.etag, Location: r.location });
      }),
    );
    router.get(
      one,
      handle(async (req, res, actor) => {
        const r = await service.get(actor, type, String(req.params.id), searchInput(req.query));
        if (etagMatches(req.headers['if-none-match'], r.etag)) send(res, 304, undefined, { ETag: r.etag });
        else send(res, 200, r.body, { ETag: r.etag });
      }),
    );
    router.put(
      one,
      handle(async (req, res, actor) => {
        const r = await service.replace(actor, type, String(req.params.id), req.body, { ...ifMatchOf(req), query: searchInput(req.query) });
        send(res, 200, r.body, { ETag: r.etag });
      }),
    );
    router.patch(
      one,
      handle(async (req, res, actor) => {
        const r = await service.patch(actor, type, String(req.params.id), req.body, { ...ifMatchOf(req), query: searchInput(req.query) });
        if (r.noContent) send(res, 204, undefined, { ETag: r.etag });
        else send(res, 200, r.body, { ETag: r.etag });
      }),
    );
    router.delete(
      one,
      handle(async (req, res, actor) => {
        await service.remove(actor, type, String(req.params.id), ifMatchOf(req));
        send(res, 204);
      }),
    );
    for (const path of [rt.endpoint, one]) {
      router.all(path, (req, res) => send(res, 405, errorBody(405, `${req.method} is not supported on ${rt.endpoint}${path === one ? '/{id}' : ''}`)));
    }
  }

  router.use((req: Request, res: Response) => send(res, 404, errorBody(404, `no SCIM endpoint ${req.method} ${req.baseUrl}${req.path}`)));

  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string };
    let ge: GatehouseError;
    if (err instanceof GatehouseError) ge = err;
    else if (e.type === 'entity.parse.failed') ge = invalidSyntax('body', 'is not valid JSON');
    else if (e.type === 'entity.too.large') ge = payloadTooLarge(`the request body is larger than ${deps.maxPayloadSize} bytes (maxPayloadSize)`);
    else if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') ge = invalidSyntax('body', 'must be JSON in UTF-8');
    else if (e.type === 'request.aborted') return;
    else {
      deps.log.error({ err, method: req.method, path: req.path }, 'SCIM request failed');
      ge = new GatehouseError('internal', 'internal error');
    }
    if (res.headersSent) return;
    const headers: Record<string, string> = ge.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM"' } : {};
    send(res, ge.status, errorBody(ge.status, ge.message, scimTypeOf(ge)), headers);
  });

  return router;
}
