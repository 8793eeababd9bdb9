// The HTTP/webhook connector, for systems with no dedicated connector: every operation is a
// declarative request (JSONata for path, query and body) and a JSONata mapping from the target's
// objects to accounts and entitlements. Requests never leave the configured base URL, follow no
// redirects, carry the idempotency key as an Idempotency-Key header, and read bounded responses.
// Status codes map to the SPI's named errors (overridable per instance).
import { GatehouseError } from '../../shared/errors.js';
import type { ConnectorContext } from '../spi/connector-type.js';
import { createGuardedFetch, environmentEgress } from '../spi/egress.js';
import type {
  AccountQuery,
  Capability,
  Connector,
  CreateAccountOp,
  DeleteAccountOp,
  EnableDisableOp,
  EntitlementQuery,
  GrantRevokeOp,
  OperationContext,
  SearchAccountsOp,
  SearchEntitlementsOp,
  SyncOp,
  TestOp,
  UpdateAccountOp,
  RotateCredentialOp,
} from '../spi/connector.js';
import type {
  ConnectorError} from '../spi/errors.js';
import {
  AlreadyExists,
  ConnectionFailed,
  InvalidCredential,
  PermissionDenied,
  Rejected,
  Retryable,
  UnknownUid,
  type ConnectorErrorCode,
} from '../spi/errors.js';
import { accountValues, entitlementValues, matchesFilter, type Filter } from '../spi/filter.js';
import type { ProbeResult } from '../spi/objects.js';
import { account as accountSchema, entitlement as entitlementSchema, newAccount as newAccountSchema, type Account, type Entitlement } from '../spi/objects.js';
import type { HttpConfig, HttpListConfig, HttpRequestConfig } from './http-config.js';
import { compileExpression, type CompiledExpression } from './jsonata-expression.js';

export type HttpConnector = Connector &
  Partial<TestOp & SearchAccountsOp & SearchEntitlementsOp & SyncOp & CreateAccountOp & UpdateAccountOp & EnableDisableOp & DeleteAccountOp & GrantRevokeOp & RotateCredentialOp>;

interface CompiledRequest {
  method: HttpRequestConfig['method'];
  path: CompiledExpression;
  query?: CompiledExpression;
  body?: CompiledExpression;
  unchangedWhen?: CompiledExpression;
}
interface CompiledList extends CompiledRequest {
  items: CompiledExpression;
  next?: CompiledExpression;
}

const compileRequest = (r: HttpRequestConfig, field: string): CompiledRequest => ({
  method: r.method,
  path: compileExpression(r.path, `${field}.path`),
  ...(r.query ? { query: compileExpression(r.query, `${field}.query`) } : {}),
  ...(r.body ? { body: compileExpression(r.body, `${field}.body`) } : {}),
  ...(r.unchangedWhen ? { unchangedWhen: compileExpression(r.unchangedWhen, `${field}.unchangedWhen`) } : {}),
});
const compileList = (r: HttpListConfig, field: string): CompiledList => ({
  ...compileRequest(r, field),
  items: compileExpression(r.items, `${field}.items`),
  ...(r.next ? { next: compileExpression(r.next, `${field}.next`) } : {}),
});

/** Compiles every expression of a configuration; throws naming the first that does not compile. */
export function compileHttpConfig(config: HttpConfig, field = 'config') {
  const a = config.accounts;
  const e = config.entitlements;
  const optional = (r: HttpRequestConfig | undefined, f: string) => (r ? compileRequest(r, f) : undefined);
  return {
    probe: optional(config.probe, `${field}.probe`),
    accounts: {
      search: compileList(a.search, `${field}.accounts.search`),
      get: optional(a.get, `${field}.accounts.get`),
      create: optional(a.create, `${field}.accounts.create`),
      update: optional(a.update, `${field}.accounts.update`),
      enable: optional(a.enable, `${field}.accounts.enable`),
      disable: optional(a.disable, `${field}.accounts.disable`),
      delete: optional(a.delete, `${field}.accounts.delete`),
      map: compileExpression(a.map, `${field}.accounts.map`),
    },
    entitlements: {
      search: e.search ? compileList(e.search, `${field}.entitlements.search`) : undefined,
      map: e.map ? compileExpression(e.map, `${field}.entitlements.map`) : undefined,
      grant: optional(e.grant, `${field}.entitlements.grant`),
      revoke: optional(e.revoke, `${field}.entitlements.revoke`),
    },
    credentials: config.credentials
      ? {
          issue: compileRequest(config.credentials.issue, `${field}.credentials.issue`),
          map: compileExpression(config.credentials.map, `${field}.credentials.map`),
          verify: compileRequest(config.credentials.verify, `${field}.credentials.verify`),
          revoke: compileRequest(config.credentials.revoke, `${field}.credentials.revoke`),
        }
      : undefined,
  };
}

/** What an instance can do follows from the operations its settings declare. */
export function httpCapabilities(settings: Record<string, unknown>): Capability[] {
  const accounts = (settings.accounts ?? {}) as Record<string, unknown>;
  const entitlements = (settings.entitlements ?? {}) as Record<string, unknown>;
  const caps: Capability[] = ['test', 'searchAccounts', 'sync'];
  if (accounts.create) caps.push('createAccount');
  if (accounts.update) caps.push('updateAccount');
  if (accounts.enable && accounts.disable) caps.push('enableDisable');
  if (accounts.delete) caps.push('deleteAccount');
  if (entitlements.search && entitlements.map) caps.push('searchEntitlements');
  if (entitlements.grant && entitlements.revoke) caps.push('grantRevoke');
  if (settings.credentials) caps.push('rotateCredential');
  return caps;
}

const ERROR_CLASSES: Record<ConnectorErrorCode, new (message: string, options?: { details?: Record<string, string | number | boolean> }) => ConnectorError> = {
  AlreadyExists,
  UnknownUid,
  InvalidCredential,
  ConnectionFailed,
  Retryable,
  PermissionDenied,
  Rejected,
};

function defaultCode(status: number): ConnectorErrorCode {
  if (status === 401) return 'InvalidCredential';
  if (status === 403) return 'PermissionDenied';
  if (status === 404 || status === 410) return 'UnknownUid';
  if (status === 409) return 'AlreadyExists';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'Retryable';
  return 'Rejected';
}

interface SyncToken {
  v: 1;
  cursor: unknown;
}

export function createHttpConnector(config: HttpConfig, context: ConnectorContext): HttpConnector {
  const label = context.label;
  // Every request goes through the egress guard: the host judged, the address it judged connected to.
  const http = createGuardedFetch(context.egress ?? environmentEgress(), label);
  const compiled = compileHttpConfig(config);
  const base = new URL(config.baseUrl);
  const basePath = base.pathname.replace(/\/$/, '');
  const capabilities = new Set(httpCapabilities(config as unknown as Record<string, unknown>));

  /** The configured authentication, or the same scheme with `token` in place of the stored one (to verify a new credential). */
  const authHeaders = (token = config.token): Record<string, string> => {
    switch (config.auth) {
      case 'bearer':
        return { authorization: `Bearer ${token ?? ''}` };
      case 'basic':
        return { authorization: `Basic ${Buffer.from(`${config.username ?? ''}:${config.password ?? ''}`).toString('base64')}` };
      case 'header':
        return { [config.headerName!.toLowerCase()]: token ?? '' };
      default:
        return {};
    }
  };

  /** Builds the URL from an evaluated path; anything that could leave the base URL is refused. */
  function urlOf(path: unknown, query: unknown, field: string): URL {
    const refuse = () => new GatehouseError('invalid_request', `${field}: must evaluate to a path under the base URL (got ${JSON.stringify(path)?.slice(0, 80)})`, { field });
    // URL parsing takes %2e as a dot, so `/%2e%2e/` climbs like `/../`: dot segments are looked for in both spellings.
    if (typeof path !== 'string' || !/^\/[^?#\\]*$/.test(path) || /(^|\/)\.\.?(\/|$)|\/\//.test(path.replace(/%2e/gi, '.'))) throw refuse();
    const url = new URL(`${base.origin}${basePath}${path}`);
    if (url.origin !== base.origin || (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`))) throw refuse();
    if (query !== undefined && query !== null) {
      if (typeof query !== 'object' || Array.isArray(query)) throw new GatehouseError('invalid_request', `${field}: the query must evaluate to an object`, { field });
      for (const [k, v] of Object.entries(query as Record<string, unknown>)) {
        if (v === undefined || v === null) continue;
        for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
      }
    }
    return url;
  }

  async function readBody(res: Response): Promise<unknown> {
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > config.maxResponseBytes) throw new Rejected(`${label}: the response is larger than ${config.maxResponseBytes} bytes`);
    const buf = Buffer.from(await res.arrayBuffer());
    if (buf.length > config.maxResponseBytes) throw new Rejected(`${label}: the response is larger than ${config.maxResponseBytes} bytes`);
    if (!buf.length) return null;
    const text = buf.toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  interface Sent {
    status: number;
    body: unknown;
  }

  /** Sends one declared request; a status outside 2xx becomes a named error unless `unchangedWhen` accepts it. */
  async function send(action: string, request: CompiledRequest, input: Record<string, unknown>, ctx?: OperationContext, authToken?: string): Promise<Sent & { unchanged: boolean }> {
    const path = await request.path.evaluate(input);
    const query = request.query ? await request.query.evaluate(input) : undefined;
    const url = urlOf(path, query, request.path.field);
    const body = request.body ? await request.body.evaluate(input) : undefined;
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k.toLowerCase(), v])),
      ...authHeaders(authToken),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(ctx ? { 'idempotency-key': ctx.idempotencyKey } : {}),
    };
    let res: Response;
    try {
      res = await http.fetch(url, {
        method: request.method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(config.timeoutMs),
      });
    } catch (err) {
      if (err instanceof ConnectionFailed) throw err; // the egress policy refused, and says why
      const e = err as { name?: string; cause?: { code?: string } };
      const where = `${request.method} ${url.origin}${url.pathname}`;
      if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new Retryable(`${label}: ${action}: ${where} did not answer within ${config.timeoutMs} ms`);
      const code = e.cause?.code ?? '';
      if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code)) throw new Retryable(`${label}: ${action}: the connection to ${where} was lost (${code})`);
      throw new ConnectionFailed(`${label}: ${action}: cannot reach ${where}${code ? ` (${code})` : ''}`, code ? { details: { code } } : {});
    }
    const answer = await readBody(res);
    const sent: Sent = { status: res.status, body: answer };
    if (request.unchangedWhen && (await request.unchangedWhen.evaluate(sent)) === true) return { ...sent, unchanged: true };
    if (res.status >= 300) {
      // Response bodies are not quoted: a target may echo what it was sent.
      const code = (config.errors[String(res.status)] as ConnectorErrorCode | undefined) ?? defaultCode(res.status);
      const where = `${request.method} ${url.pathname}`;
      throw new ERROR_CLASSES[code](`${label}: ${action}: ${where} answered ${res.status}${res.status < 400 ? ' (redirects are not followed)' : ''}`, { details: { httpStatus: res.status } });
    }
    return { ...sent, unchanged: false };
  }

  async function mapAccount(object: unknown): Promise<Account> {
    const mapped = await compiled.accounts.map.evaluate(object);
    const parsed = accountSchema.safeParse(normalise(mapped));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new GatehouseError('invalid_request', `${compiled.accounts.map.field}: maps an object to an invalid account (${issue.path.join('.') || 'account'}: ${issue.message})`, {
        field: compiled.accounts.map.field,
      });
    }
    return parsed.data;
  }

  async function mapEntitlement(object: unknown): Promise<Entitlement> {
    const map = compiled.entitlements.map!;
    const parsed = entitlementSchema.safeParse(normalise(await map.evaluate(object)));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new GatehouseError('invalid_request', `${map.field}: maps an object to an invalid entitlement (${issue.path.join('.') || 'entitlement'}: ${issue.message})`, { field: map.field });
    }
    return parsed.data;
  }

  /** Pages through a list: `items` picks the objects, `next` the following cursor. */
  async function* list(action: string, request: CompiledList, filter: Filter | undefined, pageSize: number, startCursor: unknown = null): AsyncIterable<{ items: unknown[]; next: unknown }> {
    let cursor = startCursor;
    const seen = new Set<string>();
    for (;;) {
      const page = await send(action, request, { filter: filter ?? null, cursor, pageSize });
      const items = await request.items.evaluate(page.body);
      const array = items === undefined || items === null ? [] : Array.isArray(items) ? items : [items];
      const next = request.next ? await request.next.evaluate(page.body, { cursor, pageSize }) : undefined;
      const done = next === undefined || next === null || next === '' || array.length === 0;
      yield { items: array, next: done ? null : next };
      if (done) return;
      const key = JSON.stringify(next);
      if (seen.has(key)) throw new Rejected(`${label}: ${action}: the target returned the cursor ${key.slice(0, 40)} twice`);
      seen.add(key);
      cursor = next;
    }
  }

  async function* searchAccounts(q: AccountQuery = {}): AsyncIterable<Account> {
    for await (const page of list('searching accounts', compiled.accounts.search, q.filter, q.pageSize ?? config.pageSize)) {
      for (const item of page.items) {
        const account = await mapAccount(item);
        // The query may push some of the filter to the target; the whole filter is checked here.
        if (q.filter && !matchesFilter(accountValues(account), q.filter)) continue;
        if (!q.includeEntitlements) delete account.entitlements;
        yield account;
      }
    }
  }

  async function getAccount(uid: string, options: { includeEntitlements?: boolean } = {}): Promise<Account> {
    if (compiled.accounts.get) {
      const res = await send('reading an account', compiled.accounts.get, { uid });
      const account = await mapAccount(res.body);
      if (!options.includeEntitlements) delete account.entitlements;
      return account;
    }
    for await (const a of searchAccounts({ filter: { op: 'eq', attribute: 'uid', value: uid }, ...options })) return a;
    throw new UnknownUid(`${label}: no account with uid ${uid}`);
  }

  /** A change answered with the object maps it; an empty answer reads it back. */
  const accountFrom = async (sent: Sent, uid: string | undefined) =>
    sent.body && typeof sent.body === 'object' ? mapAccount(sent.body) : uid ? getAccount(uid) : Promise.reject(new Rejected(`${label}: the target did not answer with the account`));

  const connector: HttpConnector = {
    type: 'http',
    capabilities,

    async test(): Promise<ProbeResult> {
      if (compiled.probe) {
        const res = await send('the connection test', compiled.probe, {});
        return { system: 'HTTP', details: { status: res.status, baseUrl: config.baseUrl } };
      }
      for await (const page of list('the connection test', compiled.accounts.search, undefined, 1)) {
        return { system: 'HTTP', details: { baseUrl: config.baseUrl, firstPageItems: page.items.length } };
      }
      return { system: 'HTTP', details: { baseUrl: config.baseUrl } };
    },

    searchAccounts,
    getAccount,

    syncMode: { mode: 'snapshot', detectsDeletes: false },

    async *sync(request = {}) {
      // The list endpoint's own cursor is the token: a pass resumes at the page it stopped before.
      let start: unknown = null;
      if (request.token) {
        try {
          const t = JSON.parse(Buffer.from(request.token, 'base64url').toString('utf8')) as SyncToken;
          if (t.v !== 1) throw new Error('version');
          start = t.cursor;
        } catch {
          throw new Rejected(`${label}: the sync token is not one this HTTP connector issued`);
        }
      }
      for await (const page of list('synchronising accounts', compiled.accounts.search, undefined, request.pageSize ?? config.pageSize, start)) {
        const changes = [];
        for (const item of page.items) changes.push({ kind: 'upsert' as const, account: await mapAccount(item) });
        yield { changes, token: Buffer.from(JSON.stringify({ v: 1, cursor: page.next } satisfies SyncToken)).toString('base64url'), complete: page.next === null };
      }
    },

    close: () => http.close(),
  };

  const a = compiled.accounts;
  if (a.create) {
    const create = a.create;
    connector.createAccount = async (input, ctx, credential) => {
      const account = newAccountSchema.parse(input);
      const sent = await send('creating an account', create, { account, ...(credential ? { password: credential.password } : {}), idempotencyKey: ctx.idempotencyKey }, ctx);
      return accountFrom(sent, undefined);
    };
  }
  if (a.update) {
    const update = a.update;
    connector.updateAccount = async (uid, deltas, ctx) => accountFrom(await send('updating an account', update, { uid, deltas, idempotencyKey: ctx.idempotencyKey }, ctx), uid);
  }
  if (a.enable && a.disable) {
    const enable = a.enable;
    const disable = a.disable;
    connector.setAccountEnabled = async (uid, enabled, ctx) => {
      const sent = await send(enabled ? 'enabling an account' : 'disabling an account', enabled ? enable : disable, { uid, idempotencyKey: ctx.idempotencyKey }, ctx);
      return { changed: !sent.unchanged };
    };
  }
  if (a.delete) {
    const del = a.delete;
    connector.deleteAccount = async (uid, ctx) => {
      await send('deleting an account', del, { uid, idempotencyKey: ctx.idempotencyKey }, ctx);
    };
  }
  const e = compiled.entitlements;
  if (e.search && e.map) {
    const search = e.search;
    connector.searchEntitlements = async function* (q: EntitlementQuery = {}) {
      for await (const page of list('searching entitlements', search, q.filter, q.pageSize ?? config.pageSize)) {
        for (const item of page.items) {
          const ent = await mapEntitlement(item);
          if (q.filter && !matchesFilter(entitlementValues(ent), q.filter)) continue;
          yield ent;
        }
      }
    };
  }
  if (e.grant && e.revoke) {
    const grant = e.grant;
    const revoke = e.revoke;
    connector.grant = async (accountUid, entitlementUid, ctx) => ({
      changed: !(await send('granting an entitlement', grant, { accountUid, entitlementUid, idempotencyKey: ctx.idempotencyKey }, ctx)).unchanged,
    });
    connector.revoke = async (accountUid, entitlementUid, ctx) => ({
      changed: !(await send('revoking an entitlement', revoke, { accountUid, entitlementUid, idempotencyKey: ctx.idempotencyKey }, ctx)).unchanged,
    });
  }
  const c = compiled.credentials;
  if (c) {
    Object.assign(connector, { credentials: { model: 'dual', source: 'target' } satisfies RotateCredentialOp['credentials'] });
    connector.applyCredential = async (target, ctx, secret) => {
      if (secret !== undefined) throw new Rejected(`${label}: this system issues its credentials itself; none may be given`);
      const sent = await send('issuing a credential', c.issue, { target, idempotencyKey: ctx.idempotencyKey }, ctx);
      const mapped = (await c.map.evaluate(sent.body)) as { id?: unknown; secret?: unknown } | undefined;
      // The answer carries the secret: only its shape is described when it is wrong, never its content.
      if (typeof mapped?.id !== 'string' || !mapped.id || typeof mapped.secret !== 'string' || !mapped.secret) {
        throw new GatehouseError('invalid_request', `${c.map.field}: must map the issue answer to {"id": string, "secret": string}`, { field: c.map.field });
      }
      return { credentialId: mapped.id, secret: mapped.secret };
    };
    connector.verifyCredential = async (target, secret) => {
      if (config.auth !== 'bearer' && config.auth !== 'header') throw new Rejected(`${label}: a new credential can be checked only with auth bearer or header`);
      await send('checking a credential', c.verify, { target }, undefined, secret);
    };
    connector.retireCredential = async (target, credentialId, ctx) => ({
      changed: !(await send('revoking a credential', c.revoke, { target, credentialId, idempotencyKey: ctx.idempotencyKey }, ctx)).unchanged,
    });
  }
  return connector;
}

/**
 * JSONata returns sequences as arrays with extra properties, and a mapping naturally writes
 * `email: email` for a single value: a plain copy, with attribute values made lists, is what the
 * SPI's schema checks.
 */
function normalise(value: unknown): unknown {
  if (value === undefined) return undefined;
  const plain = JSON.parse(JSON.stringify(value)) as unknown;
  if (plain && typeof plain === 'object' && !Array.isArray(plain)) {
    const attrs = (plain as { attributes?: unknown }).attributes;
    if (attrs && typeof attrs === 'object' && !Array.isArray(attrs)) {
      for (const [k, v] of Object.entries(attrs as Record<string, unknown>)) {
        if (v === null || v === undefined) delete (attrs as Record<string, unknown>)[k];
        else if (!Array.isArray(v)) (attrs as Record<string, unknown>)[k] = [v];
      }
    } else if (attrs === undefined) (plain as { attributes?: unknown }).attributes = {};
  }
  return plain;
}
