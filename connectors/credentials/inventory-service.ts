// The NHI and credential inventory: every credential Gatehouse manages (its connectors' logins and
// the service-account credentials it rotates), every non-human account its connectors discovered,
// and every secret under its Vault paths that nothing refers to; each with its owners (and whether
// they are still here), ages, use, entitlements, consumers and findings. A caller sees only what
// their ability allows on each item (nhi-owners: what they own), and may rotate what it allows.
import { subject } from '@casl/ability';
import type { MikroORM } from '@mikro-orm/postgresql';
import { stringify } from 'csv-stringify/sync';
import { notFound } from '../../shared/errors.js';
import type { Caller } from '../caller.js';
import type { ConnectorRegistry } from '../connector-registry.js';
import { ConnectorInstance, type ConnectorInstanceRow } from '../instances/connector-instance.entity.js';
import { Credential, type CredentialRow } from './credential.entity.js';
import type { CredentialConsumer } from './credential-types.js';
import { ageInDays, findingsOf } from './inventory-findings.js';
import { FINDING_DESCRIPTIONS, type InventoryItem, type InventoryQuery, type OwnerView } from './inventory-types.js';
import { ownerIdsFor, ownerKey, type OwnerDirectory } from './owner-directory.js';
import { spreadsheetSafe } from '../../shared/spreadsheet-cell.js';

export interface InventoryServiceDeps {
  orm: MikroORM;
  registry: ConnectorRegistry;
  owners: OwnerDirectory;
  /** Not used for this many days is a finding. */
  unusedDays: number;
  /** The max age that applies to anything without a policy of its own (for the finding; only a policy schedules rotations). */
  defaultMaxAgeDays: number;
  /** The Temporal Schedule id of a credential's rotations. */
  scheduleIdOf: (credentialId: string) => string;
  now?: () => Date;
}

interface DiscoveredRow {
  connector_id: string;
  uid: string;
  name: string;
  enabled: boolean | null;
  privileged: boolean;
  entitlements: { uid: string; name: string; privileged: boolean }[];
  credentials: { lastRotatedAt?: string; createdAt?: string }[];
  created_at: Date | null;
  last_login_at: Date | null;
  person: { directoryId: string; userId: string } | null;
}

interface SecretRow {
  path: string;
  current_version: number;
  created_at: Date | null;
  updated_at: Date | null;
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);
const date = (d: Date | string | null | undefined) => (d ? new Date(d) : undefined);
const latest = (...ds: (Date | undefined)[]) => ds.filter((d): d is Date => Boolean(d)).sort((a, b) => b.getTime() - a.getTime())[0];


export const CSV_COLUMNS = [
  'id',
  'source',
  'kind',
  'name',
  'connector',
  'account',
  'owners',
  'ownerActive',
  'createdAt',
  'lastRotatedAt',
  'lastUsedAt',
  'ageDays',
  'maxAgeDays',
  'privileged',
  'entitlements',
  'usedBy',
  'findings',
  'vaultPath',
  'vaultVersion',
  'lastRotation',
] as const;

export function createInventoryService(deps: InventoryServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const sql = () => deps.orm.em.fork().getConnection();

  function ownerViews(refs: readonly { directoryId: string; userId: string }[], people: Awaited<ReturnType<typeof ownerIdsFor>>['people']): OwnerView[] {
    return refs.map((r) => {
      const p = people.get(ownerKey(r));
      return { directoryId: r.directoryId, userId: r.userId, userName: p?.userName ?? null, displayName: p?.displayName ?? null, status: !p ? 'gone' : p.active ? 'active' : 'inactive' };
    });
  }

  /** Everything, before the caller's ability and the query's filters. */
  async function build(caller: Caller, includeHumans: boolean): Promise<(InventoryItem & { ownerIds: string[] })[]> {
    const em = deps.orm.em.fork();
    const [credentials, instances, discovered, secrets, used] = await Promise.all([
      em.find(Credential, {}, { orderBy: { name: 'asc' } }),
      em.find(ConnectorInstance, {}),
      sql().execute<DiscoveredRow[]>('SELECT connector_id, uid, name, enabled, privileged, entitlements, credentials, created_at, last_login_at, person FROM discovered_account ORDER BY name'),
      sql().execute<SecretRow[]>('SELECT path, current_version, created_at, updated_at FROM discovered_secret ORDER BY path'),
      // Gatehouse's own use of each connector's login: its last change through it, or its last scan.
      sql().execute<{ connector_id: string; at: Date }[]>(
        `SELECT connector_id, max(at) AS at FROM (
           SELECT instance_id AS connector_id, max(finished_at) AS at FROM connector_operation WHERE status = 'succeeded' GROUP BY instance_id
           UNION ALL SELECT connector_id, scanned_at FROM inventory_scan WHERE status = 'succeeded') u GROUP BY connector_id`,
      ),
    ]);
    const byInstance = new Map<string, ConnectorInstanceRow>(instances.map((i) => [i.id, i]));
    const lastUse = new Map(used.map((u) => [u.connector_id, date(u.at)]));
    const { ids, people } = await ownerIdsFor(deps.owners, credentials.map((c) => c.owners));
    const rules = { now: now(), unusedDays: deps.unusedDays };
    const items: (InventoryItem & { ownerIds: string[] })[] = [];
    const claimed = new Set<string>();
    const connectorOf = (id: string) => {
      const i = byInstance.get(id);
      return i ? { id: i.id, name: i.name, type: i.type } : null;
    };
    const can = (action: 'read' | 'rotate', item: { id: string; ownerIds: string[] }) => caller.ability.can(action, subject('Credential', { id: item.id, ownerIds: item.ownerIds }));

    credentials.forEach((c: CredentialRow, i) => {
      const instance = byInstance.get(c.connectorId);
      const account = discovered.find((d) => d.connector_id === c.connectorId && (c.accountUid ? d.uid === c.accountUid : d.name === c.accountName));
      if (account) claimed.add(`${account.connector_id}/${account.uid}`);
      const owners = ownerViews(c.owners, people);
      const entitlements = account?.entitlements ?? [];
      const privileged = c.privileged || Boolean(account?.privileged);
      const lastUsedAt = c.kind === 'connector-login' ? lastUse.get(c.connectorId) : date(account?.last_login_at);
      const usedBy: CredentialConsumer[] = [...(c.kind === 'connector-login' && instance ? [{ kind: 'connector' as const, name: instance.name }] : []), ...c.consumers];
      const lastRotatedAt = date(c.secretUpdatedAt);
      const maxAgeDays = c.maxAgeDays ?? deps.defaultMaxAgeDays;
      const rotatable = instance ? deps.registry.get(instance.type).capabilitiesFor(instance.settings).includes('rotateCredential') : false;
      const item = {
        id: c.id,
        source: 'managed' as const,
        kind: c.kind,
        name: c.name,
        description: c.description ?? null,
        connector: connectorOf(c.connectorId),
        account: c.kind === 'service-account' || account ? { uid: c.accountUid ?? account?.uid ?? null, name: c.accountName ?? account?.name ?? null, enabled: account?.enabled ?? null } : null,
        owners,
        ownerActive: owners.length ? owners.some((o) => o.status === 'active') : null,
        createdAt: iso(c.createdAt),
        lastRotatedAt: iso(lastRotatedAt),
        lastUsedAt: iso(lastUsedAt),
        ageDays: ageInDays(lastRotatedAt ?? c.createdAt, rules.now) ?? null,
        maxAgeDays: c.maxAgeDays ?? null,
        entitlements,
        privileged,
        usedBy: [...usedBy, ...(c.maxAgeDays ? [{ kind: 'workflow' as const, name: 'credential rotation (max-age schedule)' }] : [])],
        findings: findingsOf(
          { owners, lastRotatedAt, createdAt: c.createdAt, maxAgeDays, privileged, usageKnown: c.kind === 'connector-login' || Boolean(lastUsedAt), lastUsedAt, consumers: usedBy.length },
          rules,
        ),
        vault: { path: c.secretPath, field: c.secretField, version: c.kind === 'connector-login' ? (instance?.secretVersion ?? null) : (c.secretVersion ?? null) },
        rotation: { rotatable, inProgress: c.rotationWorkflowId ?? null, last: c.lastRotation ?? null, scheduleId: c.maxAgeDays ? deps.scheduleIdOf(c.id) : null },
        canRotate: false,
        revision: c.revision,
        ownerIds: ids[i]!,
      };
      item.canRotate = rotatable && can('rotate', item);
      items.push(item);
    });

    for (const d of discovered) {
      if (claimed.has(`${d.connector_id}/${d.uid}`)) continue;
      // The connectors' own logins are their credentials, listed above.
      const login = credentials.find((c) => c.kind === 'connector-login' && c.connectorId === d.connector_id && c.accountName === d.name);
      if (login) continue;
      if (d.person && !includeHumans) continue;
      const lastRotatedAt = latest(...d.credentials.map((c) => date(c.lastRotatedAt)));
      const createdAt = date(d.created_at);
      const lastUsedAt = date(d.last_login_at);
      const owners: OwnerView[] = [];
      items.push({
        id: `discovered:${d.connector_id}:${d.uid}`,
        source: 'discovered',
        kind: 'account',
        name: d.name,
        description: d.person ? 'an account of a person in a SCIM directory' : null,
        connector: connectorOf(d.connector_id),
        account: { uid: d.uid, name: d.name, enabled: d.enabled },
        owners,
        ownerActive: null,
        createdAt: iso(createdAt),
        lastRotatedAt: iso(lastRotatedAt),
        lastUsedAt: iso(lastUsedAt),
        ageDays: ageInDays(lastRotatedAt ?? createdAt, rules.now) ?? null,
        maxAgeDays: null,
        entitlements: d.entitlements,
        privileged: d.privileged,
        usedBy: [],
        findings: findingsOf({ owners, lastRotatedAt, createdAt, maxAgeDays: deps.defaultMaxAgeDays, privileged: d.privileged, usageKnown: Boolean(lastUsedAt), lastUsedAt, consumers: 0 }, rules),
        vault: null,
        rotation: null,
        canRotate: false,
        revision: null,
        ownerIds: [],
      });
    }

    for (const s of secrets) {
      const createdAt = date(s.created_at);
      const lastRotatedAt = date(s.updated_at);
      items.push({
        id: `vault:${s.path}`,
        source: 'vault',
        kind: 'secret',
        name: s.path,
        description: 'a secret under Gatehouse\'s Vault paths that no connector or credential refers to',
        connector: null,
        account: null,
        owners: [],
        ownerActive: null,
        createdAt: iso(createdAt),
        lastRotatedAt: iso(lastRotatedAt),
        lastUsedAt: null,
        ageDays: ageInDays(lastRotatedAt ?? createdAt, rules.now) ?? null,
        maxAgeDays: null,
        entitlements: [],
        privileged: false,
        usedBy: [],
        findings: findingsOf({ owners: [], lastRotatedAt, createdAt, maxAgeDays: deps.defaultMaxAgeDays, privileged: false, usageKnown: false, consumers: 0 }, rules),
        vault: { path: s.path, field: null, version: s.current_version },
        rotation: null,
        canRotate: false,
        revision: null,
        ownerIds: [],
      });
    }
    return items.filter((item) => can('read', item));
  }

  function matches(item: InventoryItem, q: InventoryQuery): boolean {
    if (q.finding && !q.finding.some((f) => item.findings.includes(f as InventoryItem['findings'][number]))) return false;
    if (q.source && !q.source.includes(item.source)) return false;
    if (q.kind && !q.kind.includes(item.kind)) return false;
    if (q.connector && item.connector?.id !== q.connector && item.connector?.name !== q.connector) return false;
    if (q.owner && !item.owners.some((o) => `${o.directoryId}/${o.userId}` === q.owner)) return false;
    if (q.q) {
      const needle = q.q.toLowerCase();
      const hay = [item.name, item.account?.name, item.connector?.name, item.description].filter(Boolean).join(' ').toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  const strip = ({ ownerIds: _ids, ...item }: InventoryItem & { ownerIds: string[] }): InventoryItem => item;

  return {
    async list(query: InventoryQuery, caller: Caller): Promise<InventoryItem[]> {
      return (await build(caller, query.includeHumans)).filter((i) => matches(i, query)).map(strip);
    },

    async item(id: string, caller: Caller): Promise<InventoryItem> {
      // One not found and one not allowed look the same: an nhi-owner learns nothing of others' credentials.
      const found = (await build(caller, true)).find((i) => i.id === id || (i.source === 'managed' && i.name === id));
      if (!found) throw notFound('credential', id);
      return strip(found);
    },

    /** The same list as a file: CSV (one row per item, lists joined with "; ") or JSON. */
    async export(query: InventoryQuery, format: 'csv' | 'json', caller: Caller): Promise<{ body: string; contentType: string; filename: string }> {
      const items = await this.list(query, caller);
      const stamp = now().toISOString().slice(0, 10);
      if (format === 'json') {
        return {
          body: JSON.stringify({ generatedAt: now().toISOString(), findings: FINDING_DESCRIPTIONS, items }, null, 2),
          contentType: 'application/json; charset=utf-8',
          filename: `credential-inventory-${stamp}.json`,
        };
      }
      const rows = items.map((i) => [
        i.id,
        i.source,
        i.kind,
        i.name,
        i.connector?.name ?? '',
        i.account?.name ?? i.account?.uid ?? '',
        i.owners.map((o) => `${o.userName ?? o.userId} (${o.status})`).join('; '),
        i.ownerActive === null ? '' : String(i.ownerActive),
        i.createdAt ?? '',
        i.lastRotatedAt ?? '',
        i.lastUsedAt ?? '',
        i.ageDays === null ? '' : String(i.ageDays),
        i.maxAgeDays === null ? '' : String(i.maxAgeDays),
        String(i.privileged),
        i.entitlements.map((e) => e.name).join('; '),
        i.usedBy.map((u) => `${u.kind}:${u.name}`).join('; '),
        i.findings.join('; '),
        i.vault?.path ?? '',
        i.vault?.version === null || i.vault?.version === undefined ? '' : String(i.vault.version),
        i.rotation?.last ? `${i.rotation.last.status} ${i.rotation.last.finishedAt ?? i.rotation.last.startedAt}` : '',
      ].map(spreadsheetSafe));
      return { body: stringify([[...CSV_COLUMNS], ...rows]), contentType: 'text/csv; charset=utf-8', filename: `credential-inventory-${stamp}.csv` };
    },
  };
}

export type InventoryService = ReturnType<typeof createInventoryService>;
