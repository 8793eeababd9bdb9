// A SCIM endpoint for tests: the real module and HTTP stack (createApp) on a random port, over a fresh
// database as the least-privileged application role, with helpers to make directories and tokens
// and to send requests as an identity provider would.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../server/app.js';
import { createLogger } from '../../server/logger.js';
import type { Authorize } from '../../server/http/mount-routes.js';
import { createScimModule, SCIM_MOUNT_PATH, type ScimModule, type ScimModuleOptions } from '../../scim/index.js';
import { TEST_ADMIN, createTestDatabase, ledgerFor, openOrm, withPg, type MikroORM, type TestDatabase } from './services.js';
import { suffix } from './services.js';
import { TEST_ISSUER } from './test-callers.js';

export interface ScimResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface TestDirectory {
  id: string;
  name: string;
  token: string;
  tokenId: string;
}

export interface ScimTestServer {
  db: TestDatabase;
  orm: MikroORM;
  scim: ScimModule;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** origin + /scim/v2 */
  base: string;
  directory(name?: string): Promise<TestDirectory>;
  request<T = Record<string, unknown>>(token: string | undefined, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ScimResponse<T>>;
  /** Rows of a query run as the superuser, behind the application's back. */
  sql<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/** Refuses every admin API route: SCIM tests must not depend on sign-in. */
const refuseApi: Authorize = () => {
  throw new Error('the admin API is not part of this test');
};

export async function startScimTestServer(options: { authorize?: Authorize; module?: Partial<ScimModuleOptions>; db?: TestDatabase } = {}): Promise<ScimTestServer> {
  const db = options.db ?? (await createTestDatabase());
  const orm = await openOrm(db.appUrl, 10);
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const log = createLogger({ level: 'silent' });
  const scim = await createScimModule({ orm, ledger: await ledgerFor(orm), publicUrl: origin, log, ...options.module });
  // No policy is published in these tests, so no admin change needs approval: governed calls go on.
  const app = createApp({ log, routes: scim.routes, authorize: options.authorize ?? refuseApi, protocols: [{ path: SCIM_MOUNT_PATH, handle: scim.handler }], govern: async () => ({ proceed: true }) });
  server.on('request', app);
  const base = `${origin}${SCIM_MOUNT_PATH}`;

  return {
    db,
    orm,
    scim,
    origin,
    base,
    async directory(name = `dir-${suffix()}`) {
      const d = await scim.directories.createDirectory(name, TEST_ADMIN, { signInIssuers: [TEST_ISSUER] });
      const t = await scim.directories.createToken(d.id, TEST_ADMIN);
      return { id: d.id, name: d.name, token: t.secret, tokenId: t.token.id };
    },
    async request<T>(token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'Content-Type': 'application/scim+json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed as T, text };
    },
    sql: <R>(text: string, values: unknown[] = []) => withPg(db.superuserUrl, async (c) => (await c.query(text, values)).rows as R[]),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await orm.close(true);
      if (!options.db) await db.drop();
    },
  };
}

/** The SCIM error body's fields, for assertions. */
export interface ScimErrorShape {
  schemas: string[];
  status: string;
  scimType?: string;
  detail: string;
}

export interface ListShape<T = Record<string, unknown>> {
  schemas: string[];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: T[];
}
