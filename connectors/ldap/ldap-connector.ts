// The LDAP connector (OpenLDAP and other RFC 4511 directories, through ldapts): accounts are
// entries of the account object classes under usersDn, named by their naming attribute; their uid
// is entryUUID, which survives renames. Entitlements are groupOfNames groups under groupsDn.
// Passwords are set with the Password Modify extended operation so the directory hashes them;
// an account is disabled by a marker attribute (ppolicy's pwdAccountLockedTime by default).
import net from 'node:net';
import tls from 'node:tls';
import { Attribute, Change, Client, DN, EqualityFilter, AndFilter, GreaterThanEqualsFilter, type Entry, type Filter as LdapFilter, type SearchOptions } from 'ldapts';
import type {
  AccountQuery,
  Capability,
  Connector,
  CreateAccountOp,
  CredentialTarget,
  DeleteAccountOp,
  EnableDisableOp,
  EntitlementQuery,
  GrantRevokeOp,
  OperationContext,
  RotateCredentialOp,
  SchemaOp,
  SearchAccountsOp,
  SearchEntitlementsOp,
  SyncOp,
  TestOp,
  UpdateAccountOp,
} from '../spi/connector.js';
import { ACCOUNT_CAPABILITIES } from '../spi/connector.js';

import type { ConnectorContext } from '../spi/connector-type.js';
import { environmentEgress, guardedLookup } from '../spi/egress.js';
import { Rejected, UnknownUid } from '../spi/errors.js';
import { accountValues, entitlementValues, matchesFilter, splitFilter } from '../spi/filter.js';
import type { Account, AttributeValue, Attributes, Entitlement, NewAccount } from '../spi/objects.js';
import { newAccount as newAccountSchema } from '../spi/objects.js';
import type { LdapConfig } from './ldap-config.js';
import { translateLdapError } from './ldap-errors.js';
import { canPushToLdap, filterToLdap, type LdapFilterNames } from './ldap-filter.js';
import { attributesOf, parseDefinition } from './ldap-schema.js';
import { modifyPassword } from './password-modify.js';

/** Everything the SPI offers except making groups themselves (accounts, grants and rotation are what this system needs). */
export const CONNECTOR_CAPABILITIES = ACCOUNT_CAPABILITIES.filter((c) => c !== 'manageEntitlements');

export type LdapConnector = Connector &
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
  RotateCredentialOp;

/** Attributes that hold secrets or that the SPI reports in its own fields; never in `attributes`. */
const NEVER_RETURNED = ['userpassword', 'authpassword', 'pwdhistory', 'pwdfailuretime', 'pwdgraceusetime', 'pwdreset'];
const OPERATIONAL = ['entryuuid', 'entrycsn', 'createtimestamp', 'modifytimestamp', 'pwdchangedtime'];

interface Group {
  uid: string;
  dn: string;
  name: string;
  members: string[];
  description?: string;
}

/** DNs compare without case and without the spaces some clients put after commas. */
export const normalizeDn = (dn: string) =>
  dn
    .split(/(?<!\\),/)
    .map((rdn) => rdn.trim())
    .join(',')
    .toLowerCase();

/** 20261129155942Z or 20261129155942.123456Z to ISO 8601. */
function isoOf(generalizedTime: string | undefined): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$/.exec(generalizedTime ?? '');
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : undefined;
}

const values = (entry: Entry, attribute: string): string[] => {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  if (!key) return [];
  const v = entry[key];
  const arr = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return arr.map((x) => (Buffer.isBuffer(x) ? x.toString('base64') : String(x)));
};
const first = (entry: Entry, attribute: string) => values(entry, attribute)[0];

const ldapText = (v: AttributeValue) => (typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : String(v));

interface SyncToken {
  v: 1;
  /** The entryCSN of the last change delivered; null before the first. */
  csn: string | null;
}
const encodeToken = (t: SyncToken) => Buffer.from(JSON.stringify(t)).toString('base64url');
function decodeToken(token: string | undefined): SyncToken {
  if (!token) return { v: 1, csn: null };
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as SyncToken;
    if (t.v === 1 && (t.csn === null || /^\d{14}\.\d{6}Z#[0-9a-f]{6}#[0-9a-f]{3}#[0-9a-f]{6}$/.test(t.csn))) return t;
  } catch {
    /* fall through */
  }
  throw new Rejected('the sync token is not one this LDAP connector issued');
}

export function createLdapConnector(config: LdapConfig, context: ConnectorContext): LdapConnector {
  const label = context.label;
  const nameAttr = config.accountNameAttribute;
  const memberAttr = config.memberAttribute;
  const placeholder = normalizeDn(config.emptyGroupPlaceholder);
  const hidden = new Set([...NEVER_RETURNED, ...config.excludedAttributes.map((a) => a.toLowerCase())]);
  const filterNames: LdapFilterNames = { nameAttribute: nameAttr, disableAttribute: config.disableAttribute, disableValue: config.disableValue, inMemory: ['memberOf'] };
  const groupFilterNames: LdapFilterNames = { ...filterNames, nameAttribute: config.groupNameAttribute, inMemory: ['kind', 'memberOf', 'enabled'] };
  const tlsOptions = config.tlsCa ? { ca: config.tlsCa } : {};
  const accountAttributes = ['*', 'entryUUID', 'entryCSN', 'createTimestamp', 'modifyTimestamp', 'pwdChangedTime', config.disableAttribute];

  // Every connection resolves its host through the egress guard and connects to the address judged;
  // a StartTLS upgrade wraps the socket already open.
  const egress = context.egress ?? environmentEgress();
  const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
  const lookup = guardedLookup(egress, context.label);
  const createConnection = ((port: number, h: string) => net.connect({ port, host: h, lookup })) as typeof net.connect;
  const createSecureConnection = ((...args: unknown[]) =>
    typeof args[0] === 'object'
      ? tls.connect(args[0] as tls.ConnectionOptions)
      : tls.connect({ ...((args[2] as tls.ConnectionOptions | undefined) ?? {}), port: args[0] as number, host: args[1] as string, ...(net.isIP(args[1] as string) ? {} : { servername: args[1] as string }), lookup })) as typeof tls.connect;
  const newClient = () =>
    new Client({
      url: config.url,
      timeout: config.timeoutMs,
      connectTimeout: config.connectTimeoutMs,
      createConnection,
      createSecureConnection,
      ...(config.url.startsWith('ldaps:') ? { tlsOptions } : {}),
    });

  let session: Promise<Client> | undefined;
  const connect = (): Promise<Client> => {
    session ??= (async () => {
      // Judged first, so a refused host is told as such rather than as a failed connection.
      await egress.resolve(host, label);
      const client = newClient();
      try {
        if (config.startTls) await client.startTLS(tlsOptions);
        await client.bind(config.bindDn, config.bindPassword);
        return client;
      } catch (err) {
        await client.unbind().catch(() => undefined);
        throw err;
      }
    })();
    session.catch(() => {
      session = undefined;
    });
    return session;
  };
  const dropSession = async () => {
    const s = session;
    session = undefined;
    await (await s?.catch(() => undefined))?.unbind().catch(() => undefined);
  };

  /** Runs directory work on the bound session; a broken connection is dropped so the next call reconnects. */
  async function run<T>(action: string, work: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await work(await connect());
    } catch (err) {
      const translated = translateLdapError(err, action, label);
      const code = (translated as { code?: string }).code;
      if (code === 'ConnectionFailed' || code === 'Retryable' || code === 'InvalidCredential') await dropSession();
      throw translated;
    }
  }

  async function* paged(action: string, base: string, options: SearchOptions): AsyncIterable<Entry> {
    const client = await run(action, async (c) => c);
    const pages = client.searchPaginated(base, { scope: 'sub', ...options, paged: { pageSize: config.pageSize } });
    for (;;) {
      let page: IteratorResult<{ searchEntries: Entry[] }>;
      try {
        page = await pages.next();
      } catch (err) {
        const translated = translateLdapError(err, action, label);
        if ((translated as { code?: string }).code === 'Retryable') await dropSession();
        throw translated;
      }
      if (page.done) return;
      yield* page.value.searchEntries;
    }
  }

  const accountClassFilter = (): LdapFilter =>
    config.accountObjectClasses.length === 1
      ? new EqualityFilter({ attribute: 'objectClass', value: config.accountObjectClasses[0]! })
      : new AndFilter({ filters: config.accountObjectClasses.map((oc) => new EqualityFilter({ attribute: 'objectClass', value: oc })) });
  const withClass = (filter: LdapFilter | undefined, cls: LdapFilter) => (filter ? new AndFilter({ filters: [cls, filter] }) : cls);
  const groupClassFilter = () => new EqualityFilter({ attribute: 'objectClass', value: config.groupObjectClass });

  function toGroup(entry: Entry): Group {
    const description = first(entry, 'description');
    return {
      uid: first(entry, 'entryUUID')!,
      dn: entry.dn,
      name: first(entry, config.groupNameAttribute) ?? entry.dn,
      members: values(entry, memberAttr).filter((m) => normalizeDn(m) !== placeholder),
      ...(description ? { description } : {}),
    };
  }

  async function loadGroups(): Promise<Group[]> {
    const groups: Group[] = [];
    for await (const e of paged('reading groups', config.groupsDn, {
      filter: groupClassFilter(),
      attributes: [config.groupNameAttribute, 'entryUUID', memberAttr, 'description'],
    })) {
      groups.push(toGroup(e));
    }
    return groups;
  }

  /** Member DN to the uids of the groups that list it. */
  function membershipIndex(groups: Group[]): Map<string, string[]> {
    const index = new Map<string, string[]>();
    for (const g of groups) {
      for (const m of g.members) {
        const key = normalizeDn(m);
        const list = index.get(key);
        if (list) list.push(g.uid);
        else index.set(key, [g.uid]);
      }
    }
    return index;
  }

  const privilegedGroupUids = (groups: Group[]) => new Set(groups.filter((g) => config.privilegedGroups.some((p) => p.toLowerCase() === g.name.toLowerCase())).map((g) => g.uid));

  function toAccount(entry: Entry, memberships?: Map<string, string[]>, privileged?: Set<string>): Account {
    const attributes: Attributes = {};
    for (const key of Object.keys(entry)) {
      const lower = key.toLowerCase();
      if (key === 'dn' || hidden.has(lower) || OPERATIONAL.includes(lower) || lower === config.disableAttribute.toLowerCase()) continue;
      attributes[key] = values(entry, key);
    }
    const entitlements = memberships?.get(normalizeDn(entry.dn)) ?? (memberships ? [] : undefined);
    const createdAt = isoOf(first(entry, 'createTimestamp'));
    const rotatedAt = isoOf(first(entry, 'pwdChangedTime'));
    return {
      uid: first(entry, 'entryUUID')!,
      name: first(entry, nameAttr) ?? entry.dn,
      enabled: !values(entry, config.disableAttribute).includes(config.disableValue),
      attributes,
      ...(entitlements ? { entitlements, privileged: entitlements.some((u) => privileged?.has(u)) } : {}),
      ...(createdAt ? { createdAt } : {}),
      credentials: [{ id: 'password', kind: 'password', ...(rotatedAt ? { lastRotatedAt: rotatedAt } : {}) }],
    };
  }

  const accountDn = (name: string) => `${new DN({ [nameAttr]: name }).toString()},${config.usersDn}`;

  async function entryByUuid(base: string, cls: LdapFilter, uuid: string, attributes: string[], what: string): Promise<Entry> {
    // entryUUID matching needs the UUID form; anything else cannot name an entry.
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) throw new UnknownUid(`${label}: no ${what} with uid ${uuid}`);
    const result = await run(`finding the ${what}`, (c) =>
      c.search(base, { scope: 'sub', filter: new AndFilter({ filters: [cls, new EqualityFilter({ attribute: 'entryUUID', value: uuid })] }), attributes }),
    );
    const entry = result.searchEntries[0];
    if (!entry) throw new UnknownUid(`${label}: no ${what} with uid ${uuid}`);
    return entry;
  }

  const accountByUuid = (uid: string) => entryByUuid(config.usersDn, accountClassFilter(), uid, accountAttributes, 'account');
  const groupByUuid = async (uid: string) => toGroup(await entryByUuid(config.groupsDn, groupClassFilter(), uid, [config.groupNameAttribute, 'entryUUID', memberAttr], 'entitlement'));

  async function accountByDn(dn: string, includeEntitlements: boolean): Promise<Account> {
    const result = await run('reading the account', (c) => c.search(dn, { scope: 'base', filter: accountClassFilter(), attributes: accountAttributes }));
    const entry = result.searchEntries[0];
    if (!entry) throw new UnknownUid(`${label}: the account ${dn} does not exist`);
    if (!includeEntitlements) return toAccount(entry);
    const groups = await loadGroups();
    return toAccount(entry, membershipIndex(groups), privilegedGroupUids(groups));
  }

  /** Adds a member; a group holding only the placeholder loses it in the same atomic modify. */
  async function addMember(group: Group, memberDn: string): Promise<boolean> {
    if (group.members.some((m) => normalizeDn(m) === normalizeDn(memberDn))) return false;
    const changes = [new Change({ operation: 'add', modification: new Attribute({ type: memberAttr, values: [memberDn] }) })];
    const raw = await run('reading the group', (c) => c.search(group.dn, { scope: 'base', attributes: [memberAttr] }));
    const hasPlaceholder = values(raw.searchEntries[0] ?? { dn: '' }, memberAttr).some((m) => normalizeDn(m) === placeholder);
    if (hasPlaceholder) changes.push(new Change({ operation: 'delete', modification: new Attribute({ type: memberAttr, values: [config.emptyGroupPlaceholder] }) }));
    try {
      await run('adding the member', (c) => c.modify(group.dn, changes));
      return true;
    } catch (err) {
      // Someone added it between our read and our write: the grant holds, and we did not make it.
      if ((err as { details?: { ldapResultCode?: number } }).details?.ldapResultCode === 20) return false;
      throw err;
    }
  }

  /** Removes a member; the last one is replaced by the placeholder in the same atomic modify. */
  async function removeMember(group: Group, memberDn: string): Promise<boolean> {
    const held = group.members.filter((m) => normalizeDn(m) === normalizeDn(memberDn));
    if (!held.length) return false;
    const changes: Change[] = [];
    if (group.members.length === held.length) {
      changes.push(new Change({ operation: 'add', modification: new Attribute({ type: memberAttr, values: [config.emptyGroupPlaceholder] }) }));
    }
    changes.push(new Change({ operation: 'delete', modification: new Attribute({ type: memberAttr, values: held }) }));
    try {
      await run('removing the member', (c) => c.modify(group.dn, changes));
      return true;
    } catch (err) {
      if ((err as { details?: { ldapResultCode?: number } }).details?.ldapResultCode === 16) return false;
      throw err;
    }
  }

  function entryAttributes(attrs: Attributes, where: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [name, vals] of Object.entries(attrs)) {
      const lower = name.toLowerCase();
      if (NEVER_RETURNED.includes(lower)) throw new Rejected(`${label}: ${where}: ${name} is set through the credential, never as an attribute`);
      if (lower === config.disableAttribute.toLowerCase()) throw new Rejected(`${label}: ${where}: ${name} is changed by enabling or disabling the account`);
      if (lower === nameAttr.toLowerCase()) throw new Rejected(`${label}: ${where}: ${name} is the account's name; rename the account instead`);
      if (lower === 'objectclass') throw new Rejected(`${label}: ${where}: the object classes come from the connector's configuration`);
      out[name] = vals.map(ldapText);
    }
    return out;
  }

  const dnOfTarget = async (target: CredentialTarget) => (target.kind === 'self' ? config.bindDn : (await accountByUuid(target.uid)).dn);

  const connector: LdapConnector = {
    type: 'ldap',
    capabilities: new Set<Capability>(CONNECTOR_CAPABILITIES),

    async test() {
      const root = await run('the connection test', (c) => c.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['supportedLDAPVersion', 'namingContexts', 'vendorName', 'vendorVersion'] }));
      const whoami = await run('the connection test', (c) => c.exop('1.3.6.1.4.1.4203.1.11.3'));
      const entry = root.searchEntries[0] ?? { dn: '' };
      const vendor = first(entry, 'vendorName');
      const version = first(entry, 'vendorVersion');
      return {
        system: vendor ?? 'LDAP',
        ...(version ? { version } : {}),
        details: { boundAs: String(whoami.value ?? '').replace(/^dn:/, ''), ldapVersion: values(entry, 'supportedLDAPVersion').join(','), namingContexts: values(entry, 'namingContexts').join(';') },
      };
    },

    async schema() {
      const root = await run('reading the schema', (c) => c.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['subschemaSubentry'] }));
      const subschema = first(root.searchEntries[0] ?? { dn: '' }, 'subschemaSubentry') ?? 'cn=Subschema';
      const result = await run('reading the schema', (c) => c.search(subschema, { scope: 'base', filter: '(objectClass=subschema)', attributes: ['objectClasses', 'attributeTypes'] }));
      const entry = result.searchEntries[0] ?? { dn: '' };
      const classes = values(entry, 'objectClasses').map(parseDefinition).filter((d) => d !== undefined);
      const types = values(entry, 'attributeTypes').map(parseDefinition).filter((d) => d !== undefined);
      const notInAttributes = new Set([...hidden, nameAttr.toLowerCase(), config.disableAttribute.toLowerCase()]);
      return {
        account: { attributes: attributesOf(config.accountObjectClasses, classes, types, notInAttributes) },
        entitlement: { kinds: ['group'], attributes: attributesOf([config.groupObjectClass], classes, types, new Set([memberAttr.toLowerCase(), config.groupNameAttribute.toLowerCase()])) },
      };
    },

    async *searchAccounts(q: AccountQuery = {}) {
      const { pushed, residual } = splitFilter(q.filter, (leaf) => canPushToLdap(leaf, filterNames));
      const needGroups = Boolean(q.includeEntitlements) || residual !== undefined;
      const groups = needGroups ? await loadGroups() : undefined;
      const memberships = groups ? membershipIndex(groups) : undefined;
      const privileged = groups ? privilegedGroupUids(groups) : undefined;
      for await (const entry of paged('searching accounts', config.usersDn, {
        filter: withClass(pushed ? filterToLdap(pushed, filterNames) : undefined, accountClassFilter()),
        attributes: accountAttributes,
      })) {
        const account = toAccount(entry, memberships, privileged);
        if (residual && !matchesFilter(accountValues(account), residual)) continue;
        if (!q.includeEntitlements) {
          delete account.entitlements;
          delete account.privileged;
        }
        yield account;
      }
    },

    async getAccount(uid, options = {}) {
      const entry = await accountByUuid(uid);
      if (!options.includeEntitlements) return toAccount(entry);
      const groups = await loadGroups();
      return toAccount(entry, membershipIndex(groups), privilegedGroupUids(groups));
    },

    async *searchEntitlements(q: EntitlementQuery = {}) {
      const { pushed, residual } = splitFilter(q.filter, (leaf) => canPushToLdap(leaf, groupFilterNames));
      const privileged = new Set(config.privilegedGroups.map((g) => g.toLowerCase()));
      for await (const entry of paged('searching entitlements', config.groupsDn, {
        filter: withClass(pushed ? filterToLdap(pushed, groupFilterNames) : undefined, groupClassFilter()),
        attributes: [config.groupNameAttribute, 'entryUUID', 'description'],
      })) {
        const g = toGroup(entry);
        const ent: Entitlement = { uid: g.uid, name: g.name, kind: 'group', privileged: privileged.has(g.name.toLowerCase()), ...(g.description ? { description: g.description } : {}) };
        if (residual && !matchesFilter(entitlementValues(ent), residual)) continue;
        yield ent;
      }
    },

    syncMode: { mode: 'incremental', detectsDeletes: false },

    async *sync(request = {}) {
      // entryCSN orders every change the directory made (OpenLDAP); a pass returns accounts whose
      // entryCSN is at or after the token's, in CSN order, so a resumed pass repeats nothing.
      // Deletions leave no entry to find: reconciliation (a full search) finds those.
      const token = decodeToken(request.token);
      const pageSize = request.pageSize ?? config.pageSize;
      const filter = token.csn
        ? withClass(new GreaterThanEqualsFilter({ attribute: 'entryCSN', value: token.csn }), accountClassFilter())
        : accountClassFilter();
      const entries: Entry[] = [];
      for await (const e of paged('synchronising accounts', config.usersDn, { filter, attributes: accountAttributes })) {
        if (token.csn && first(e, 'entryCSN') === token.csn) continue;
        entries.push(e);
      }
      entries.sort((a, b) => (first(a, 'entryCSN') ?? '').localeCompare(first(b, 'entryCSN') ?? ''));
      const groups = await loadGroups();
      const memberships = membershipIndex(groups);
      const privileged = privilegedGroupUids(groups);
      if (!entries.length) {
        yield { changes: [], token: encodeToken(token), complete: true };
        return;
      }
      for (let i = 0; i < entries.length; i += pageSize) {
        const slice = entries.slice(i, i + pageSize);
        yield {
          changes: slice.map((e) => ({ kind: 'upsert' as const, account: toAccount(e, memberships, privileged) })),
          token: encodeToken({ v: 1, csn: first(slice[slice.length - 1]!, 'entryCSN') ?? token.csn }),
          complete: i + pageSize >= entries.length,
        };
      }
    },

    async createAccount(input: NewAccount, _ctx: OperationContext, credential) {
      const account = newAccountSchema.parse(input);
      const dn = accountDn(account.name);
      const entry: Record<string, string[]> = {
        objectClass: config.accountObjectClasses,
        [nameAttr]: [account.name],
        ...entryAttributes(account.attributes, 'create'),
      };
      if (!account.enabled) entry[config.disableAttribute] = [config.disableValue];
      await run('creating an account', (c) => c.add(dn, entry));
      if (credential) {
        try {
          await run('setting the initial password', (c) => modifyPassword(c, dn, credential.password));
        } catch (err) {
          // The entry must not outlive a failed create: remove it, then report the failure.
          await run('removing the half-created account', (c) => c.del(dn)).catch(() => undefined);
          throw err;
        }
      }
      return accountByDn(dn, false);
    },

    async updateAccount(uid, deltas, _ctx) {
      const entry = await accountByUuid(uid);
      const rename = deltas.filter((d) => d.attribute === 'name');
      if (rename.length) {
        const next = rename[0]!.values[0];
        if (deltas.length !== 1 || rename[0]!.op !== 'replace' || rename[0]!.values.length !== 1 || typeof next !== 'string') {
          throw new Rejected(`${label}: a rename is one replace of name with one value, on its own (LDAP renames and modifies are separate operations)`);
        }
        await run('renaming the account', (c) => c.modifyDN(entry.dn, new DN({ [nameAttr]: next }).toString()));
        return accountByDn(accountDn(next), false);
      }
      const changes = deltas.map((d) => {
        const [name] = Object.keys(entryAttributes({ [d.attribute]: d.values }, 'update'));
        const operation = d.op === 'remove' ? 'delete' : d.op;
        return new Change({ operation, modification: new Attribute({ type: name!, values: d.values.map(ldapText) }) });
      });
      // One modify request: the directory applies all of it or none of it (RFC 4511 §4.6).
      if (changes.length) await run('updating the account', (c) => c.modify(entry.dn, changes));
      return accountByDn(entry.dn, false);
    },

    async setAccountEnabled(uid, enabled, _ctx) {
      const entry = await accountByUuid(uid);
      const disabled = values(entry, config.disableAttribute).includes(config.disableValue);
      if (disabled !== enabled) return { changed: false };
      try {
        await run(enabled ? 'enabling the account' : 'disabling the account', (c) =>
          c.modify(
            entry.dn,
            new Change(
              enabled
                ? { operation: 'delete', modification: new Attribute({ type: config.disableAttribute, values: [] }) }
                : { operation: 'replace', modification: new Attribute({ type: config.disableAttribute, values: [config.disableValue] }) },
            ),
          ),
        );
      } catch (err) {
        if (enabled && (err as { details?: { ldapResultCode?: number } }).details?.ldapResultCode === 16) return { changed: false };
        throw err;
      }
      return { changed: true };
    },

    async deleteAccount(uid, _ctx) {
      const entry = await accountByUuid(uid);
      // Memberships first: a later account with the same DN must not inherit them. If the delete
      // then fails, the account is left with less access, never more, and a retry finishes it.
      const memberOf = await run('finding memberships', (c) =>
        c.search(config.groupsDn, {
          scope: 'sub',
          filter: new AndFilter({ filters: [groupClassFilter(), new EqualityFilter({ attribute: memberAttr, value: entry.dn })] }),
          attributes: [config.groupNameAttribute, 'entryUUID', memberAttr],
        }),
      );
      for (const g of memberOf.searchEntries) await removeMember(toGroup(g), entry.dn);
      await run('deleting the account', (c) => c.del(entry.dn));
    },

    async grant(accountUid, entitlementUid, _ctx) {
      const account = await accountByUuid(accountUid);
      const group = await groupByUuid(entitlementUid);
      return { changed: await addMember(group, account.dn) };
    },

    async revoke(accountUid, entitlementUid, _ctx) {
      const account = await accountByUuid(accountUid);
      const group = await groupByUuid(entitlementUid);
      return { changed: await removeMember(group, account.dn) };
    },

    credentials: { model: 'single', source: 'caller' },

    async applyCredential(target, _ctx, secret) {
      if (secret === undefined) throw new Rejected(`${label}: LDAP passwords are chosen by the caller; give the new password`);
      const dn = await dnOfTarget(target);
      await run('setting a password', (c) => modifyPassword(c, dn, secret));
      return { credentialId: 'password' };
    },

    async verifyCredential(target, secret) {
      const dn = await dnOfTarget(target);
      await egress.resolve(host, label);
      const client = newClient();
      try {
        if (config.startTls) await client.startTLS(tlsOptions);
        await client.bind(dn, secret);
      } catch (err) {
        throw translateLdapError(err, `binding as ${dn}`, label);
      } finally {
        await client.unbind().catch(() => undefined);
      }
    },

    async retireCredential() {
      // One userPassword value: the Password Modify operation already replaced the old one.
      return { changed: false };
    },

    close: dropSession,
  };
  return connector;
}
