// The OpenAPI 3.1 document at /api/openapi.json, built from the routes modules declare.
import { z } from 'zod';
import type { ApiRoute } from '../../shared/http/api-route.js';

const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function schemaOf(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

function parametersOf(route: ApiRoute): unknown[] {
  const out: unknown[] = [];
  for (const location of ['params', 'query'] as const) {
    const schema = route.request?.[location];
    if (!schema) continue;
    const json = schemaOf(schema) as { properties?: Record<string, unknown>; required?: string[] };
    for (const [name, s] of Object.entries(json.properties ?? {})) {
      out.push({ name, in: location === 'params' ? 'path' : 'query', required: location === 'params' || (json.required ?? []).includes(name), schema: s });
    }
  }
  return out;
}

export function buildOpenApiDocument(routes: ApiRoute[], info: { version: string; serverUrl: string; sessionCookie?: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const p = (paths[toOpenApiPath(route.path)] ??= {});
    const access = route.access;
    p[route.method] = {
      summary: route.summary,
      tags: route.tags,
      operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      'x-gatehouse-access': access === 'public' || access === 'authenticated' ? access : `${access.action}:${access.subject}`,
      ...(route.rateLimit ? { 'x-gatehouse-rate-limit': route.rateLimit } : {}),
      ...(access === 'public' ? { security: [] } : {}),
      parameters: parametersOf(route),
      ...(route.request?.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.request.body) } } } }
        : {}),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, r]) => [
          status,
          { description: r.description, ...(r.schema ? { content: { [r.contentType ?? 'application/json']: { schema: schemaOf(r.schema) } } } : {}) },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse API',
      version: info.version,
      description: 'Identity-governance control plane: approvals, runs, inventory, audit and evidence. SCIM 2.0 is served separately at /scim/v2.',
    },
    servers: [{ url: info.serverUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (POST /api/tokens, or `gatehouse token create`)' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: info.sessionCookie ?? 'gatehouse.sid',
          description: 'A signed-in browser. POST, PUT, PATCH and DELETE also need the X-CSRF-Token header (csrfToken from GET /api/auth/session).',
        },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}
