// A connector's own login is a credential like any other: it has owners, a max age, rotations and
// findings. The connector instance service keeps its credential row in step with the instance, in
// the instance's own transaction, through these helpers.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ConnectorLogin } from '../spi/connector-type.js';
import { Credential, type CredentialRow } from './credential.entity.js';

/** The credential name of a connector's login; `-login` names are reserved for these. */
export const connectorLoginName = (connectorName: string) => `${connectorName.slice(0, 57)}-login`;

interface InstanceFacts {
  id: string;
  name: string;
  secretPath: string;
  secretVersion?: number | null | undefined;
}

/**
 * Makes the login credential match the instance: created when the instance has a secret login,
 * updated when its secret field or account changed, removed when it has none. Returns what changed.
 */
export async function syncConnectorLogin(
  em: EntityManager,
  instance: InstanceFacts,
  login: ConnectorLogin | undefined,
  options: { secretsReplaced: boolean; now?: Date },
): Promise<{ created?: CredentialRow; removed?: CredentialRow; updated?: CredentialRow }> {
  const now = options.now ?? new Date();
  const existing = await em.findOne(Credential, { connectorId: instance.id, kind: 'connector-login' });
  const hasSecret = instance.secretVersion !== null && instance.secretVersion !== undefined && login !== undefined;
  if (!hasSecret) {
    if (!existing) return {};
    em.remove(existing);
    return { removed: existing };
  }
  if (!existing) {
    const created = em.create(Credential, {
      id: randomUUID(),
      name: connectorLoginName(instance.name),
      kind: 'connector-login',
      description: null,
      connectorId: instance.id,
      accountUid: null,
      accountName: login.accountName ?? null,
      secretPath: instance.secretPath,
      secretField: login.secretField,
      secretVersion: null,
      secretUpdatedAt: now,
      targetCredentialId: null,
      owners: [],
      orphanedAt: null,
      maxAgeDays: null,
      consumers: [],
      privileged: false,
      rotationWorkflowId: null,
      rotationRunId: null,
      lastRotation: null,
    });
    return { created };
  }
  let changed = false;
  if (existing.secretField !== login.secretField || (existing.accountName ?? undefined) !== login.accountName) {
    existing.secretField = login.secretField;
    existing.accountName = login.accountName ?? null;
    changed = true;
  }
  if (options.secretsReplaced) {
    existing.secretUpdatedAt = now;
    // A new secret set by hand is a new credential: the target's id for the old one no longer applies.
    existing.targetCredentialId = null;
    changed = true;
  }
  return changed ? { updated: existing } : {};
}

/** Service-account credentials rotated through this connector (which keep it from being deleted). */
export async function serviceAccountsUsing(em: EntityManager, connectorId: string): Promise<CredentialRow[]> {
  return em.find(Credential, { connectorId, kind: 'service-account' }, { orderBy: { name: 'asc' } });
}
