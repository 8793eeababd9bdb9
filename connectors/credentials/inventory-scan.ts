// Discovery for the NHI and credential inventory. Through each connector: every account, its
// entitlements (with which are privileged), when it was made and last logged in, where the system
// tells, and whether it is a person (matched to a SCIM user by name or email) or a non-human
// identity. Through Vault's metadata: when each managed secret in use was written, and secrets
// under Gatehouse's paths that nothing refers to. Metadata only: a scan never reads a secret value.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Actor, LedgerAppender } from '../../audit/index.js';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import type { ConnectorRegistry } from '../connector-registry.js';
import type { ConnectorFactory } from '../instances/connector-factory.js';
import { ConnectorInstance } from '../instances/connector-instance.entity.js';
import { requireCapability, supports } from '../spi/connector.js';
import { ConnectorError } from '../spi/errors.js';
import type { Account } from '../spi/objects.js';
import { Credential } from './credential.entity.js';
import type { OwnerDirectory, OwnerPerson } from './owner-directory.js';
import { addressesOf } from './owner-directory.js';

export interface InventoryScannerDeps {
  orm: MikroORM;
  secrets: SecretStore;
  factory: ConnectorFactory;
  registry: ConnectorRegistry;
  owners: OwnerDirectory;
  ledger: LedgerAppender;
  now?: () => Date;
}

export interface ConnectorScanResult {
  connectorId: string;
  status: 'succeeded' | 'failed' | 'unsupported';
  accounts: number;
  nonHuman: number;
  error?: string;
}

const BATCH = 500;
/** Account attributes that hold an email address, by the names the built-in connectors use. */
const EMAIL_ATTRIBUTES = ['email', 'mail'];

function emailsOf(account: Account): string[] {
  const out: string[] = [];
  for (const [k, values] of Object.entries(account.attributes)) if (EMAIL_ATTRIBUTES.includes(k.toLowerCase())) for (const v of values) if (typeof v === 'string') out.push(v.toLowerCase());
  return out;
}

/** The person an account belongs to: same user name, or a shared email address. */
function matchPerson(account: Account, byAddress: Map<string, OwnerPerson>): OwnerPerson | undefined {
  for (const key of [account.name.toLowerCase(), ...emailsOf(account)]) {
    const p = byAddress.get(key);
    if (p) return p;
  }
  return undefined;
}

export function createInventoryScanner(deps: InventoryScannerDeps) {
  const now = deps.now ?? (() => new Date());
  const sql = () => deps.orm.em.fork().getConnection();

  async function writeBatch(connectorId: string, scanId: string, accounts: Account[], entitlementNames: Map<string, { name: string; privileged: boolean }>): Promise<number> {
    const wanted = accounts.flatMap((a) => [a.name, ...emailsOf(a)]);
    const people = await deps.owners.peopleByEmailOrUserName(wanted);
    const byAddress = new Map<string, OwnerPerson>();
    for (const p of people) for (const key of [p.userName.toLowerCase(), ...addressesOf(p)]) if (!byAddress.has(key)) byAddress.set(key, p);
    let nonHuman = 0;
    const seen = now().toISOString();
    const rows = accounts.map((a) => {
      const person = matchPerson(a, byAddress);
      if (!person) nonHuman++;
      const entitlements = (a.entitlements ?? []).map((uid) => ({ uid, name: entitlementNames.get(uid)?.name ?? uid, privileged: entitlementNames.get(uid)?.privileged ?? false }));
      return {
        uid: a.uid,
        name: a.name,
        enabled: a.enabled ?? null,
        privileged: Boolean(a.privileged) || entitlements.some((e) => e.privileged),
        entitlements,
        credentials: a.credentials ?? [],
        createdAt: a.createdAt ?? null,
        lastLoginAt: a.lastLoginAt ?? null,
        person: person ? { directoryId: person.directoryId, userId: person.userId } : null,
      };
    });
    // One statement per batch: jsonb_to_recordset turns the batch into rows to upsert.
    await sql().execute(
      `INSERT INTO discovered_account (connector_id, uid, name, enabled, privileged, entitlements, credentials, created_at, last_login_at, person, scan_id, seen_at)
       SELECT ?::uuid, r.uid, r.name, r.enabled, r.privileged, r.entitlements, r.credentials, r."createdAt", r."lastLoginAt", r.person, ?::uuid, ?::timestamptz
         FROM jsonb_to_recordset(?::jsonb) AS r (uid text, name text, enabled boolean, privileged boolean, entitlements jsonb, credentials jsonb, "createdAt" timestamptz, "lastLoginAt" timestamptz, person jsonb)
       ON CONFLICT (connector_id, uid) DO UPDATE SET name = EXCLUDED.name, enabled = EXCLUDED.enabled, privileged = EXCLUDED.privileged, entitlements = EXCLUDED.entitlements,
         credentials = EXCLUDED.credentials, created_at = EXCLUDED.created_at, last_login_at = EXCLUDED.last_login_at, person = EXCLUDED.person, scan_id = EXCLUDED.scan_id, seen_at = EXCLUDED.seen_at`,
      [connectorId, scanId, seen, JSON.stringify(rows)],
    );
    return nonHuman;
  }

  async function recordScan(connectorId: string, scanId: string, status: ConnectorScanResult['status'], accounts: number, error?: string): Promise<void> {
    await sql().execute(
      `INSERT INTO inventory_scan (connector_id, scan_id, status, accounts, error, scanned_at) VALUES (?, ?, ?, ?, ?, now())
       ON CONFLICT (connector_id) DO UPDATE SET scan_id = EXCLUDED.scan_id, status = EXCLUDED.status, accounts = EXCLUDED.accounts, error = EXCLUDED.error, scanned_at = EXCLUDED.scanned_at`,
      [connectorId, scanId, status, accounts, error ?? null],
    );
  }

  return {
    async connectorsToScan(): Promise<{ id: string; name: string }[]> {
      const rows = await deps.orm.em.fork().find(ConnectorInstance, {}, { fields: ['id', 'name'], orderBy: { name: 'asc' } });
      return rows.map((r) => ({ id: r.id, name: r.name }));
    },

    /** One connector's accounts; a definite refusal is the scan's result, a transient one is thrown (retried). */
    async scanConnector(connectorId: string, scanId: string, actor: Actor): Promise<ConnectorScanResult> {
      const instance = await deps.orm.em.fork().findOne(ConnectorInstance, { id: connectorId });
      if (!instance) return { connectorId, status: 'unsupported', accounts: 0, nonHuman: 0, error: 'the connector no longer exists' };
      const type = deps.registry.get(instance.type);
      if (!type.capabilitiesFor(instance.settings).includes('searchAccounts')) {
        await recordScan(connectorId, scanId, 'unsupported', 0, `${instance.type} connectors cannot list accounts`);
        return { connectorId, status: 'unsupported', accounts: 0, nonHuman: 0 };
      }
      let accounts = 0;
      let nonHuman = 0;
      let privileged = 0;
      try {
        await deps.factory.withConnector(connectorId, async (connector) => {
          const names = new Map<string, { name: string; privileged: boolean }>();
          if (supports(connector, 'searchEntitlements')) for await (const e of connector.searchEntitlements({ pageSize: BATCH })) names.set(e.uid, { name: e.name, privileged: Boolean(e.privileged) });
          let batch: Account[] = [];
          const flush = async () => {
            if (!batch.length) return;
            nonHuman += await writeBatch(connectorId, scanId, batch, names);
            accounts += batch.length;
            privileged += batch.filter((a) => a.privileged).length;
            batch = [];
          };
          for await (const account of requireCapability(connector, 'searchAccounts', instance.name).searchAccounts({ includeEntitlements: true, pageSize: BATCH })) {
            batch.push(account);
            if (batch.length >= BATCH) await flush();
          }
          await flush();
        });
      } catch (err) {
        if (!(err instanceof ConnectorError) || err.retryable) throw err;
        await recordScan(connectorId, scanId, 'failed', accounts, `${err.code}: ${err.message}`.slice(0, 1000));
        await deps.ledger.append({ action: 'inventory.scan_failed', actor, subject: { type: 'connector', id: connectorId, display: instance.name }, details: { scanId, errorCode: err.code } });
        return { connectorId, status: 'failed', accounts, nonHuman, error: err.code };
      }
      // Accounts the system no longer lists are gone from the inventory.
      await sql().execute('DELETE FROM discovered_account WHERE connector_id = ? AND scan_id <> ?', [connectorId, scanId]);
      await recordScan(connectorId, scanId, 'succeeded', accounts);
      await deps.ledger.append({ action: 'inventory.scanned', actor, subject: { type: 'connector', id: connectorId, display: instance.name }, details: { scanId, accounts, nonHuman, privileged } });
      return { connectorId, status: 'succeeded', accounts, nonHuman };
    },

    /** Vault's metadata: the time of each managed secret in use, and secrets nothing refers to. */
    async scanVault(scanId: string, actor: Actor): Promise<{ secrets: number; unreferenced: number }> {
      const em = deps.orm.em.fork();
      const instances = await em.find(ConnectorInstance, {}, { fields: ['id', 'secretPath', 'secretVersion'] });
      const credentials = await em.find(Credential, {}, { fields: ['id', 'kind', 'connectorId', 'secretPath', 'secretVersion'] });
      const inUse = new Map<string, number | null>();
      for (const i of instances) inUse.set(i.secretPath, i.secretVersion ?? null);
      for (const c of credentials) if (c.kind === 'service-account') inUse.set(c.secretPath, c.secretVersion ?? null);
      const folders = ['gatehouse/connectors', 'gatehouse/credentials'];
      let count = 0;
      const unreferenced: { path: string; currentVersion: number; createdAt: string; updatedAt: string }[] = [];
      for (const folder of folders) {
        for (const name of await deps.secrets.listKv(folder)) {
          if (name.endsWith('/')) continue;
          const path = `${folder}/${name}`;
          const meta = await deps.secrets.readKvMetadata(path);
          if (!meta) continue;
          count++;
          if (!inUse.has(path)) {
            unreferenced.push({ path, currentVersion: meta.currentVersion, createdAt: meta.createdTime, updatedAt: meta.updatedTime });
            continue;
          }
          // When the version in use was written is when the credential was last rotated, whoever did it.
          const version = inUse.get(path);
          const written = meta.versions.find((v) => v.version === version)?.createdTime;
          if (written) {
            await em.getConnection().execute('UPDATE credential SET secret_updated_at = ? WHERE secret_path = ? AND (secret_updated_at IS NULL OR secret_updated_at <> ?)', [written, path, written]);
          }
        }
      }
      const seen = now().toISOString();
      for (const u of unreferenced) {
        await em.getConnection().execute(
          `INSERT INTO discovered_secret (path, current_version, created_at, updated_at, scan_id, seen_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (path) DO UPDATE SET current_version = EXCLUDED.current_version, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, scan_id = EXCLUDED.scan_id, seen_at = EXCLUDED.seen_at`,
          [u.path, u.currentVersion, u.createdAt, u.updatedAt, scanId, seen],
        );
      }
      await em.getConnection().execute('DELETE FROM discovered_secret WHERE scan_id <> ?', [scanId]);
      await deps.ledger.append({ action: 'inventory.vault_scanned', actor, details: { scanId, secrets: count, unreferenced: unreferenced.map((u) => u.path) } });
      return { secrets: count, unreferenced: unreferenced.length };
    },
  };
}

export type InventoryScanner = ReturnType<typeof createInventoryScanner>;
