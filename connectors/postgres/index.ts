// The PostgreSQL connector type, as the registry sees it.
import { CONNECTOR_CAPABILITIES } from './postgres-connector.js';
import { defineConnectorType } from '../spi/connector-type.js';
import { invalid } from '../../shared/errors.js';
import { postgresConfig } from './postgres-config.js';
import { createPostgresConnector } from './postgres-connector.js';

export const postgresConnectorType = defineConnectorType({
  type: 'postgresql',
  title: 'PostgreSQL',
  description: 'Login roles as accounts; group roles and table privileges in the managed schemas as entitlements; password rotation.',
  config: postgresConfig,
  capabilities: CONNECTOR_CAPABILITIES,
  check(config, field) {
    if (config.ssl !== 'verify-full' && config.sslRootCert) throw invalid(`${field}.sslRootCert`, 'is used only with ssl verify-full');
  },
  login: (settings) => ({ secretField: 'password', ...(typeof settings.user === 'string' ? { accountName: settings.user } : {}) }),
  create: (config, context) => createPostgresConnector(config, context),
});

export { createPostgresConnector, type PostgresConnector } from './postgres-connector.js';
export type { PostgresConfig } from './postgres-config.js';
