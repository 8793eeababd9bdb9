// The PostgreSQL connector type, as the registry sees it.
import { CONNECTOR_CAPABILITIES, postgresCapabilities } from './postgres-connector.js';
import { defineConnectorType } from '../spi/connector-type.js';
import { MEMBERSHIPS_CLASS } from '../spi/records.js';
import { invalid } from '../../shared/errors.js';
import { postgresConfig } from './postgres-config.js';
import { createPostgresConnector } from './postgres-connector.js';

export const postgresConnectorType = defineConnectorType({
  type: 'postgresql',
  title: 'PostgreSQL',
  description: 'Login roles as accounts; group roles and table privileges in the managed schemas as entitlements; password rotation.',
  config: postgresConfig,
  capabilities: CONNECTOR_CAPABILITIES,
  capabilitiesFor: (settings) => postgresCapabilities(settings.objectClasses),
  check(config, field) {
    if (config.ssl !== 'verify-full' && config.sslRootCert) throw invalid(`${field}.sslRootCert`, 'is used only with ssl verify-full');
    const seen = new Set<string>();
    config.objectClasses.forEach((c, i) => {
      if (seen.has(c.name)) throw invalid(`${field}.objectClasses[${i}].name`, `names the object class ${c.name} a second time`);
      seen.add(c.name);
      if (c.name === MEMBERSHIPS_CLASS) throw invalid(`${field}.objectClasses[${i}].name`, `${MEMBERSHIPS_CLASS} is the name of the connector's own memberships (its grants), which flows write through the access gate; choose another name`);
      if (c.cursor && c.key?.includes(c.cursor)) throw invalid(`${field}.objectClasses[${i}].cursor`, 'must not be one of the key columns');
    });
  },
  login: (settings) => ({ secretField: 'password', ...(typeof settings.user === 'string' ? { accountName: settings.user } : {}) }),
  create: (config, context) => createPostgresConnector(config, context),
});

export { createPostgresConnector, type PostgresConnector } from './postgres-connector.js';
export type { PostgresConfig } from './postgres-config.js';
