// The shapes of connector instances at the API and CLI: what may be sent to create or change one,
// and what is shown of one. A view lists which secret fields are set, never a value.
import { z } from 'zod';
import { CAPABILITIES } from '../spi/connector.js';

export const connectorName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,62}$/, 'must be 2 to 63 lowercase letters, digits or hyphens, starting with a letter');

export const createConnectorInput = z
  .object({
    name: connectorName,
    type: z.string().min(1),
    description: z.string().max(500).optional(),
    /** Settings and secrets together, as the type's JSON Schema describes them. */
    config: z.record(z.string(), z.unknown()),
  })
  .strict();
export type CreateConnectorInput = z.infer<typeof createConnectorInput>;

export const updateConnectorInput = z
  .object({
    description: z.string().max(500).nullable().optional(),
    /**
     * A merge patch over the settings: a key set to null is removed. Secrets are replaced as a set:
     * when any secret field appears, every secret field that is set must be given again (or null).
     */
    config: z.record(z.string(), z.unknown()).optional(),
    /** The revision the caller last read; a concurrent change then fails with 409 instead of being overwritten. */
    expectedRevision: z.number().int().positive().optional(),
  })
  .strict();
export type UpdateConnectorInput = z.infer<typeof updateConnectorInput>;

export const connectorView = z.object({
  id: z.uuid(),
  name: z.string(),
  type: z.string(),
  description: z.string().nullable(),
  /** The settings as given (defaults are applied when the connector is built). */
  config: z.record(z.string(), z.unknown()),
  /** Every secret field of the type, and whether it holds a value in Vault. */
  secrets: z.record(z.string(), z.object({ set: z.boolean() })),
  /** The Vault KV version of the secrets in use; null when none are stored. */
  secretVersion: z.number().int().nullable(),
  capabilities: z.array(z.enum(CAPABILITIES)),
  revision: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ConnectorView = z.infer<typeof connectorView>;

export const connectorTypeView = z.object({
  type: z.string(),
  title: z.string(),
  description: z.string(),
  capabilities: z.array(z.enum(CAPABILITIES)),
  secretFields: z.array(z.string()),
  /** JSON Schema (draft 2020-12); secret fields carry "secret": true and "writeOnly": true. */
  configSchema: z.record(z.string(), z.unknown()),
});
export type ConnectorTypeView = z.infer<typeof connectorTypeView>;
