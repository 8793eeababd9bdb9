// The SCIM 2.0 outbound connector type, as the registry sees it.
import { defineConnectorType } from '../spi/connector-type.js';
import { invalid } from '../../shared/errors.js';
import { scimConfig } from './scim-config.js';
import { createScimConnector, SCIM_CAPABILITIES } from './scim-connector.js';

export const scimConnectorType = defineConnectorType({
  type: 'scim',
  title: 'SCIM 2.0 service provider',
  description: 'Provisions users and groups into any SCIM 2.0 service provider (RFC 7643/7644): Users as accounts, Groups as entitlements, membership by PATCH.',
  config: scimConfig,
  capabilities: SCIM_CAPABILITIES,
  check(config, field) {
    if (new URL(config.baseUrl).protocol === 'http:' && !/^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/|$)/.test(config.baseUrl)) {
      throw invalid(`${field}.baseUrl`, 'must be https:// (the bearer token is sent with every request; http:// is allowed for localhost only)');
    }
  },
  login: () => ({ secretField: 'token' }),
  create: (config, context) => createScimConnector(config, context),
});

export { createScimConnector, type ScimConnector } from './scim-connector.js';
export type { ScimConfig } from './scim-config.js';
