// A configured connector: its type, its settings, and where its secrets are in Vault (the path and
// the version in use). The secret values themselves are never here.
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const ConnectorInstance = defineEntity({
  name: 'ConnectorInstance',
  tableName: 'connector_instance',
  properties: {
    id: p.uuid().primary(),
    name: p.text().unique(),
    type: p.text(),
    description: p.text().nullable(),
    settings: p.json<Record<string, unknown>>(),
    secretPath: p.text(),
    secretVersion: p.integer().nullable(),
    secretFields: p.array(),
    revision: p.integer().version(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type ConnectorInstanceRow = InferEntity<typeof ConnectorInstance>;

/** Where an instance's secrets live in Vault KV v2 (under Gatehouse's policy path). */
export const connectorSecretPath = (id: string) => `gatehouse/connectors/${id}`;
