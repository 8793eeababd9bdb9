// A credential Gatehouse manages: a connector's own login, or a service account's credential on a
// target that Gatehouse keeps in Vault and rotates. Its owners are people in the SCIM directories.
// The secret value is never here: the path, the field and (for service accounts) the version.
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { CredentialConsumer, LastRotation, OwnerRef } from './credential-types.js';

export const Credential = defineEntity({
  name: 'Credential',
  tableName: 'credential',
  properties: {
    id: p.uuid().primary(),
    name: p.text().unique(),
    kind: p.enum(['connector-login', 'service-account'] as const),
    description: p.text().nullable(),
    connectorId: p.uuid(),
    accountUid: p.text().nullable(),
    accountName: p.text().nullable(),
    secretPath: p.text(),
    secretField: p.text(),
    secretVersion: p.integer().nullable(),
    secretUpdatedAt: p.datetime().nullable(),
    targetCredentialId: p.text().nullable(),
    owners: p.json<OwnerRef[]>(),
    orphanedAt: p.datetime().nullable(),
    maxAgeDays: p.integer().nullable(),
    consumers: p.json<CredentialConsumer[]>(),
    privileged: p.boolean(),
    /** The rotation in progress (its workflow and run): one at a time per credential. */
    rotationWorkflowId: p.text().nullable(),
    rotationRunId: p.text().nullable(),
    lastRotation: p.json<LastRotation>().nullable(),
    revision: p.integer().version(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type CredentialRow = InferEntity<typeof Credential>;

/** Where a service account's credential lives in Vault (connector logins live at the connector's path). */
export const serviceAccountSecretPath = (id: string) => `gatehouse/credentials/${id}`;

/** Where a rotation keeps the new secret until it is in place (under Gatehouse's policy path). */
export const pendingSecretPath = (credentialId: string) => `gatehouse/rotations/${credentialId}`;
