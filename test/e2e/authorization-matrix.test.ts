// The authorization matrix: every API route the real server mounts, called by every kind of caller
// (anonymous, each role, tokens with scopes), must let through exactly the callers the matrix in
// authorization-matrix.ts lists, and refuse the rest with 401 or 403 naming the action and subject.
// The route list comes from the running server, so routes other modules add are checked too, and a
// route the matrix does not list fails the test.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { startGatehouse, type RunningGatehouse } from '../../server/server.js';
import type { ApiRoute } from '../../shared/http/api-route.js';
import { connectTestTemporal, createTestDatabase, createTestVault, openOrm, testConfig, type MikroORM, type TestDatabase, type TestTemporal } from '../helpers/services.js';
import { testCallers } from '../helpers/test-callers.js';
import { AUTHORIZATION_MATRIX, CALLER_GRANTS, CALLERS, type Caller } from './authorization-matrix.js';

const routeKey = (route: Pick<ApiRoute, 'method' | 'path'>) => `${route.method.toUpperCase()} ${route.path}`;

/** The path with each parameter filled in: a fresh UUID (the usual id shape) for each. */
const concretePath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, () => randomUUID());

interface Observation {
  status: number;
  code?: string;
  message?: string;
}

describe('authorization matrix: every route, every caller', () => {
  let db: TestDatabase;
  let temporal: TestTemporal;
  let gatehouse: RunningGatehouse;
  let orm: MikroORM;
  const observed = new Map<string, Map<Caller, Observation>>();

  beforeAll(async () => {
    let vault;
    [db, vault, temporal] = await Promise.all([createTestDatabase(), createTestVault(), connectTestTemporal()]);
    // Limits high enough that the matrix never meets them; rate limiting has its own test.
    const config = testConfig({ db, vault, temporal }, { AUTH_SIGN_IN_RATE_LIMIT: '100000', AUTH_TOKEN_RATE_LIMIT: '100000' });
    gatehouse = await startGatehouse(config, createLogger({ level: 'silent' }), { announce: () => undefined });
    orm = await openOrm(db.appUrl, 2);
    const callers = testCallers(orm);

    // Fresh credentials for every call, so a call that ends a session (sign-out) affects no other.
    const headersFor = async (caller: Caller): Promise<Record<string, string>> => {
      if (caller === 'anonymous') return {};
      const grant = CALLER_GRANTS[caller];
      return 'roles' in grant ? (await callers.person(grant.roles)).headers() : (await callers.token(grant.scopes)).headers();
    };

    for (const route of gatehouse.routes) {
      const results = new Map<Caller, Observation>();
      for (const caller of CALLERS) {
        const hasBody = route.method !== 'get' && route.method !== 'delete';
        const res = await fetch(`${gatehouse.url}${concretePath(route.path)}`, {
          method: route.method.toUpperCase(),
          redirect: 'manual',
          headers: { ...(await headersFor(caller)), ...(hasBody ? { 'content-type': 'application/json' } : {}) },
          ...(hasBody ? { body: '{}' } : {}),
        });
        const text = await res.text();
        let body: { error?: { code?: string; message?: string } } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // not JSON (a redirect, the OpenAPI document's HTML...): only the status matters then
        }
        results.set(caller, { status: res.status, ...(body.error?.code ? { code: body.error.code } : {}), ...(body.error?.message ? { message: body.error.message } : {}) });
      }
      observed.set(routeKey(route), results);
    }
  });

  afterAll(async () => {
    await orm?.close(true);
    await gatehouse?.stop();
    await temporal?.close();
    await db?.drop();
  });

  it('lists every route the server mounts, and no route it does not', () => {
    const mounted = gatehouse.routes.map(routeKey).sort();
    const listed = Object.keys(AUTHORIZATION_MATRIX).sort();
    expect(mounted.filter((r) => !listed.includes(r)), 'routes missing from test/e2e/authorization-matrix.ts').toEqual([]);
    expect(listed.filter((r) => !mounted.includes(r)), 'matrix entries for routes the server does not mount').toEqual([]);
    expect(mounted.length).toBeGreaterThan(10);
  });

  it('lets through exactly the callers the matrix lists, on every route', () => {
    const actual: Record<string, Caller[]> = {};
    const expected: Record<string, Caller[]> = {};
    for (const [key, results] of observed) {
      actual[key] = CALLERS.filter((c) => ![401, 403].includes(results.get(c)!.status));
      expected[key] = CALLERS.filter((c) => (AUTHORIZATION_MATRIX[key] ?? []).includes(c));
    }
    expect(actual).toEqual(expected);
  });

  it('explains every refusal: 401 asks the caller to sign in, 403 names the action and the subject', () => {
    let refusals = 0;
    for (const route of gatehouse.routes) {
      for (const [caller, result] of observed.get(routeKey(route))!) {
        if (result.status === 401) {
          refusals++;
          expect(caller, routeKey(route)).toBe('anonymous');
          expect(result, routeKey(route)).toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/sign in/) });
        }
        if (result.status === 403) {
          refusals++;
          const access = route.access as { action: string; subject: string };
          expect(result, `${routeKey(route)} as ${caller}`).toMatchObject({ code: 'forbidden', message: expect.stringContaining(`Cannot execute "${access.action}" on "${access.subject}"`) });
        }
      }
    }
    expect(refusals).toBeGreaterThan(0);
  });
});
