// Activities for the self-check workflow, made by a factory that takes its clients.
import { randomBytes, randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import { SecretConflictError } from '../../shared/secrets/secret-store.js';
import { SystemCheck } from './system-check.entity.js';

/** A random value in Vault that exists only to be read back by the self-check. */
export const CANARY_PATH = 'gatehouse/system/canary';

export interface SelfCheckResult {
  checkId: string;
  vaultSecretVersion: number;
  secretStore: 'vault' | 'local-dev';
}

/** Writes the canary once; concurrent starts race safely through check-and-set. */
export async function ensureCanary(secrets: SecretStore): Promise<void> {
  if (await secrets.readKv(CANARY_PATH)) return;
  try {
    await secrets.writeKv(CANARY_PATH, { value: randomBytes(32).toString('base64url') }, { cas: 0 });
  } catch (err) {
    if (!(err instanceof SecretConflictError)) throw err;
  }
}

export function createSelfCheckActivities(deps: { orm: MikroORM; secrets: SecretStore }) {
  return {
    async checkVaultAndDatabase(input: { workflowId: string; runId: string }): Promise<SelfCheckResult> {
      const canary = await deps.secrets.readKv(CANARY_PATH);
      if (!canary?.data.value) {
        throw ApplicationFailure.nonRetryable(`the self-check secret ${CANARY_PATH} is missing from the secret store`, 'SecretMissing');
      }
      const em = deps.orm.em.fork();
      const row = em.create(SystemCheck, {
        id: randomUUID(),
        workflowId: input.workflowId,
        runId: input.runId,
        vaultSecretVersion: canary.version,
        secretStore: deps.secrets.kind,
      });
      await em.flush();
      return { checkId: row.id, vaultSecretVersion: canary.version, secretStore: deps.secrets.kind };
    },
  };
}

export type SelfCheckActivities = ReturnType<typeof createSelfCheckActivities>;
