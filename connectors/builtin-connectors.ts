// The connector types that ship with Gatehouse. The composition root builds the registry from
// these; a deployment that adds its own passes a longer list.
import { createConnectorRegistry, type ConnectorRegistry } from './connector-registry.js';
import type { ConnectorType } from './spi/connector-type.js';
import { postgresConnectorType } from './postgres/index.js';
import { ldapConnectorType } from './ldap/index.js';
import { httpConnectorType } from './http/index.js';
import { scimConnectorType } from './scim/index.js';
import { fileConnectorType } from './file/index.js';

export const builtinConnectorTypes: readonly ConnectorType[] = [postgresConnectorType, ldapConnectorType, httpConnectorType, scimConnectorType, fileConnectorType];

export const createBuiltinConnectorRegistry = (): ConnectorRegistry => createConnectorRegistry(builtinConnectorTypes);
