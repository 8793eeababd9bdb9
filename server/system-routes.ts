// Liveness, readiness and the API description: the routes every deployment probes.
import type { Request } from 'express';
import { z } from 'zod';
import { defineRoute, type ApiRoute } from '../shared/http/api-route.js';

const dependency = z.object({
  status: z.enum(['up', 'down']),
  mode: z.enum(['embedded', 'external', 'local-dev']),
  version: z.string().optional(),
  detail: z.string().optional(),
});

const dependencies = z.object({ postgres: dependency, temporal: dependency, vault: dependency });

export const readinessSchema = z.object({
  status: z.enum(['ready', 'not-ready']),
  dependencies: dependencies.optional().describe('signed-in callers only'),
  warnings: z.array(z.string()).optional().describe('signed-in callers only'),
});

export interface SystemRouteDeps {
  readiness: () => Promise<{ ready: boolean; dependencies: z.infer<typeof dependencies>; warnings: string[] }>;
  /** Whether the request carries a valid session or API token. */
  isSignedIn: (req: Request) => Promise<boolean>;
  openApiDocument: () => Record<string, unknown>;
}

export function systemRoutes(deps: SystemRouteDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process is up and serving',
      tags: ['system'],
      access: 'public',
      responses: { 200: { description: 'alive', schema: z.object({ status: z.literal('ok') }) } },
      handler: (_req, res) => {
        res.json({ status: 'ok' });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: ready or not; to signed-in callers also each dependency, up or down, embedded or external, with its version and error',
      tags: ['system'],
      access: 'public',
      responses: {
        200: { description: 'every dependency is up', schema: readinessSchema },
        503: { description: 'a dependency is down', schema: readinessSchema },
      },
      handler: async (req, res) => {
        const r = await deps.readiness();
        const status = r.ready ? 'ready' : 'not-ready';
        // Versions and error text help an attacker as much as an operator: anonymous probes (load
        // balancers, orchestrators) need the answer only.
        if (!(await deps.isSignedIn(req))) {
          res.status(r.ready ? 200 : 503).json({ status });
          return;
        }
        res.status(r.ready ? 200 : 503).json({ status, dependencies: r.dependencies, warnings: r.warnings });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/openapi.json',
      summary: 'This API, as an OpenAPI 3.1 document',
      tags: ['system'],
      access: 'public',
      responses: { 200: { description: 'the document' } },
      handler: (_req, res) => {
        res.json(deps.openApiDocument());
      },
    }),
  ];
}
