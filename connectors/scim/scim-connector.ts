// The SCIM 2.0 outbound connector: provisions users and groups into any SCIM service provider
// (RFC 7643/7644). Users are accounts, Groups are entitlements (and can be made and removed),
// membership is changed with PATCH on the Group, enabling is the User's `active`. Filters go to
// the provider as SCIM filters where it can answer them; listings page with startIndex/count.
// Grants and enablement read first so that a repeated change reports `changed: false`.
import {
  ACCOUNT_CAPABILITIES,
  type AccountQuery,
  type Capability,
  type Connector,
  type CreateAccountOp,
  type DeleteAccountOp,
  type EnableDisableOp,
  type EntitlementQuery,
  type GrantRevokeOp,
  type ManageEntitlementsOp,
  type OperationContext,
  type SchemaOp,
  type SearchAccountsOp,
  type SearchEntitlementsOp,
  type SyncOp,
  type TestOp,
  type UpdateAccountOp,
} from '../spi/connector.js';
import { Rejected } from '../spi/errors.js';
import type { ConnectorContext } from '../spi/connector-type.js';
import { environmentEgress } from '../spi/egress.js';
import { accountValues, entitlementValues, isLeaf, matchesFilter, type Filter } from '../spi/filter.js';
import { newAccount as newAccountSchema, newEntitlement as newEntitlementSchema, type Account, type ConnectorSchema, type Entitlement } from '../spi/objects.js';
import { createScimClient, type ScimAnswer } from './scim-client.js';
import type { ScimConfig } from './scim-config.js';
import {
  ACCOUNT_ATTRIBUTE_INFO,
  SCHEMA_GROUP,
  SCHEMA_PATCH,
  accountToUser,
  deltasToOperations,
  groupToEntitlement,
  toScimFilter,
  userToAccount,
  type GroupFacts,
} from './scim-mapping.js';

/** Everything the SPI offers except rotation: a SCIM service provider's bearer token is issued by its admin, not through SCIM. */
export const SCIM_CAPABILITIES: readonly Capability[] = ACCOUNT_CAPABILITIES.filter((c) => c !== 'rotateCredential');

export type ScimConnector = Connector &
  TestOp &
  SchemaOp &
  SearchAccountsOp &
  SearchEntitlementsOp &
  SyncOp &
  CreateAccountOp &
  UpdateAccountOp &
  EnableDisableOp &
  DeleteAccountOp &
  GrantRevokeOp &
  ManageEntitlementsOp;

type Json = Record<string, unknown>;

interface SyncToken {
  v: 1;
  startIndex: number;
}

/** One path segment from an id. encodeURIComponent leaves dots alone, so `.` and `..` would be dot segments and climb. */
const seg = (id: string) => {
  if (id === '.' || id === '..') throw new Rejected(`the id ${JSON.stringify(id)} would leave the base URL as a path segment; nothing was sent`);
  return `/${encodeURIComponent(id)}`;
};

/** Whether a filter reads an attribute anywhere in it. */
function mentions(filter: Filter | undefined, attribute: string): boolean {
  if (!filter) return false;
  if (isLeaf(filter)) return filter.attribute === attribute;
  return filter.op === 'not' ? mentions(filter.filter, attribute) : filter.filters.some((f) => mentions(f, attribute));
}

export function createScimConnector(config: ScimConfig, context: ConnectorContext): ScimConnector {
  const label = context.label;
  const client = createScimClient(config, label, context.egress ?? environmentEgress());
  const facts: GroupFacts = { privilegedGroups: new Set(config.privilegedGroups.map((g) => g.toLowerCase())) };
  const enterprise = { enterprise: config.enterpriseExtension };

  /** One page after another, from `startIndex`, until the provider has no more. */
  async function* pages(action: string, endpoint: '/Users' | '/Groups', query: Record<string, string | number | undefined>, pageSize: number, startIndex = 1) {
    let index = startIndex;
    for (;;) {
      const { body } = await client.send(action, 'GET', endpoint, { query: { ...query, startIndex: index, count: pageSize } });
      const resources = Array.isArray(body?.Resources) ? (body.Resources as unknown[]).filter((r): r is Json => typeof r === 'object' && r !== null) : [];
      const total = typeof body?.totalResults === 'number' ? body.totalResults : index - 1 + resources.length;
      const next = index + resources.length;
      const done = resources.length === 0 || next > total;
      yield { resources, next: done ? null : next };
      if (done) return;
      index = next;
    }
  }

  const userQuery = (filter: string | undefined, includeEntitlements: boolean) => ({
    ...(filter ? { filter } : {}),
    // Membership costs the provider a join; leave it out unless asked for.
    ...(includeEntitlements ? {} : { excludedAttributes: 'groups' }),
  });

  async function* searchAccounts(q: AccountQuery = {}): AsyncIterable<Account> {
    const { scim, residual } = toScimFilter(q.filter, 'User', enterprise);
    const needGroups = Boolean(q.includeEntitlements) || mentions(residual, 'memberOf');
    for await (const page of pages('searching accounts', '/Users', userQuery(scim, needGroups), q.pageSize ?? config.pageSize)) {
      for (const resource of page.resources) {
        const account = userToAccount(resource, facts, { withGroups: needGroups });
        if (residual && !matchesFilter(accountValues(account), residual)) continue;
        if (!q.includeEntitlements) {
          delete account.entitlements;
          delete account.privileged;
        }
        yield account;
      }
    }
  }

  async function getUser(uid: string, query: Record<string, string> = {}): Promise<ScimAnswer> {
    return client.send('reading an account', 'GET', `/Users${seg(uid)}`, { query });
  }

  async function getAccount(uid: string, options: { includeEntitlements?: boolean } = {}): Promise<Account> {
    const { body } = await getUser(uid, options.includeEntitlements ? {} : { excludedAttributes: 'groups' });
    const account = userToAccount(body ?? {}, facts, { withGroups: Boolean(options.includeEntitlements) });
    if (!options.includeEntitlements) {
      delete account.entitlements;
      delete account.privileged;
    }
    return account;
  }

  /** A User answered with the resource maps it; 204 (some providers) reads it back. */
  const accountFrom = async (answer: ScimAnswer, uid: string) => (answer.body?.id ? userToAccount(answer.body, facts, { withGroups: true }) : getAccount(uid, { includeEntitlements: true }));

  /** Whether the account is a member of the group; UnknownUid when either is missing. */
  async function isMember(accountUid: string, entitlementUid: string): Promise<boolean> {
    const { body } = await client.send('checking a membership', 'GET', '/Groups', {
      query: { filter: `id eq ${JSON.stringify(entitlementUid)} and members.value eq ${JSON.stringify(accountUid)}`, attributes: 'id', count: 1 },
    });
    if (typeof body?.totalResults === 'number' && body.totalResults > 0) return true;
    // Not a member: say which of the two does not exist, if one does not.
    await client.send('reading a group', 'GET', `/Groups${seg(entitlementUid)}`, { query: { attributes: 'id' } });
    await getUser(accountUid, { attributes: 'id' });
    return false;
  }

  async function patchMembers(action: string, entitlementUid: string, operation: Json, ctx: OperationContext) {
    await client.send(action, 'PATCH', `/Groups${seg(entitlementUid)}`, { body: { schemas: [SCHEMA_PATCH], Operations: [operation] }, idempotencyKey: ctx.idempotencyKey });
  }

  const connector: ScimConnector = {
    type: 'scim',
    capabilities: new Set(SCIM_CAPABILITIES),

    async test() {
      // The discovery document may be public; a listing proves the token works.
      const spc = await client.send('the connection test', 'GET', '/ServiceProviderConfig');
      await client.send('the connection test', 'GET', '/Users', { query: { count: 1, attributes: 'id' } });
      const supported = (key: string) => Boolean((spc.body?.[key] as { supported?: unknown } | undefined)?.supported);
      return { system: 'SCIM 2.0', details: { baseUrl: config.baseUrl, patch: supported('patch'), filter: supported('filter'), bulk: supported('bulk'), etag: supported('etag') } };
    },

    async schema(): Promise<ConnectorSchema> {
      return {
        account: { attributes: ACCOUNT_ATTRIBUTE_INFO },
        entitlement: { kinds: ['group'], attributes: [{ name: 'externalId', type: 'string', multiValued: false, required: false, updatable: true }] },
      };
    },

    searchAccounts,
    getAccount,

    async *searchEntitlements(q: EntitlementQuery = {}) {
      const { scim, residual } = toScimFilter(q.filter, 'Group', enterprise);
      for await (const page of pages('searching entitlements', '/Groups', { ...(scim ? { filter: scim } : {}), excludedAttributes: 'members' }, q.pageSize ?? config.pageSize)) {
        for (const resource of page.resources) {
          const ent = groupToEntitlement(resource, facts);
          if (residual && !matchesFilter(entitlementValues(ent), residual)) continue;
          yield ent;
        }
      }
    },

    // SCIM keeps no change log a client can read, so a pass lists every user; startIndex resumes it.
    syncMode: { mode: 'snapshot', detectsDeletes: false },

    async *sync(request = {}) {
      let start = 1;
      if (request.token) {
        try {
          const t = JSON.parse(Buffer.from(request.token, 'base64url').toString('utf8')) as SyncToken;
          if (t.v !== 1 || !Number.isInteger(t.startIndex) || t.startIndex < 1) throw new Error('shape');
          start = t.startIndex;
        } catch {
          throw new Rejected(`${label}: the sync token is not one this SCIM connector issued`);
        }
      }
      for await (const page of pages('synchronising accounts', '/Users', {}, request.pageSize ?? config.pageSize, start)) {
        yield {
          changes: page.resources.map((r) => ({ kind: 'upsert' as const, account: userToAccount(r, facts, { withGroups: true }) })),
          // A finished pass hands on a token that starts the next one from the top.
          token: Buffer.from(JSON.stringify({ v: 1, startIndex: page.next ?? 1 } satisfies SyncToken)).toString('base64url'),
          complete: page.next === null,
        };
      }
    },

    async createAccount(input, ctx, credential) {
      const account = newAccountSchema.parse(input);
      const body = accountToUser(account, { ...enterprise, ...(credential ? { password: credential.password } : {}) });
      const answer = await client.send('creating an account', 'POST', '/Users', { body, idempotencyKey: ctx.idempotencyKey, ...(credential ? { secrets: [credential.password] } : {}) });
      if (!answer.body?.id) throw new Rejected(`${label}: creating an account: the provider did not answer with the new User`);
      return userToAccount(answer.body, facts, { withGroups: true });
    },

    async updateAccount(uid, deltas, ctx) {
      const operations = deltasToOperations(deltas, enterprise);
      if (!operations.length) return getAccount(uid, { includeEntitlements: true });
      const answer = await client.send('updating an account', 'PATCH', `/Users${seg(uid)}`, { body: { schemas: [SCHEMA_PATCH], Operations: operations }, idempotencyKey: ctx.idempotencyKey });
      return accountFrom(answer, uid);
    },

    async setAccountEnabled(uid, enabled, ctx) {
      const current = await getUser(uid, { attributes: 'active' });
      if ((current.body?.active !== false) === enabled) return { changed: false };
      // If-Match: should someone change the user in between, the provider refuses (412, Retryable).
      await client.send(enabled ? 'enabling an account' : 'disabling an account', 'PATCH', `/Users${seg(uid)}`, {
        body: { schemas: [SCHEMA_PATCH], Operations: [{ op: 'replace', path: 'active', value: enabled }] },
        ...(current.etag ? { ifMatch: current.etag } : {}),
        idempotencyKey: ctx.idempotencyKey,
      });
      return { changed: true };
    },

    async deleteAccount(uid, ctx) {
      await client.send('deleting an account', 'DELETE', `/Users${seg(uid)}`, { idempotencyKey: ctx.idempotencyKey });
    },

    async grant(accountUid, entitlementUid, ctx) {
      if (await isMember(accountUid, entitlementUid)) return { changed: false };
      await patchMembers('granting an entitlement', entitlementUid, { op: 'add', path: 'members', value: [{ value: accountUid }] }, ctx);
      return { changed: true };
    },

    async revoke(accountUid, entitlementUid, ctx) {
      if (!(await isMember(accountUid, entitlementUid))) return { changed: false };
      await patchMembers('revoking an entitlement', entitlementUid, { op: 'remove', path: `members[value eq ${JSON.stringify(accountUid)}]` }, ctx);
      return { changed: true };
    },

    async createEntitlement(input, ctx): Promise<Entitlement> {
      const ent = newEntitlementSchema.parse(input);
      const externalId = ent.attributes.externalId?.[0];
      const answer = await client.send('creating a group', 'POST', '/Groups', {
        body: { schemas: [SCHEMA_GROUP], displayName: ent.name, ...(externalId !== undefined ? { externalId: String(externalId) } : {}) },
        idempotencyKey: ctx.idempotencyKey,
      });
      if (!answer.body?.id) throw new Rejected(`${label}: creating a group: the provider did not answer with the new Group`);
      return groupToEntitlement(answer.body, facts);
    },

    async deleteEntitlement(uid, ctx) {
      await client.send('deleting a group', 'DELETE', `/Groups${seg(uid)}`, { idempotencyKey: ctx.idempotencyKey });
    },

    close: () => client.close(),
  };
  return connector;
}
