// A row written by the self-check workflow: proof that Temporal, Vault and PostgreSQL work together.
import { defineEntity, p } from '@mikro-orm/core';

export const SystemCheck = defineEntity({
  name: 'SystemCheck',
  tableName: 'system_check',
  properties: {
    id: p.uuid().primary(),
    workflowId: p.text(),
    runId: p.text(),
    vaultSecretVersion: p.integer(),
    secretStore: p.text(),
    checkedAt: p.datetime().onCreate(() => new Date()),
  },
});
