// The HTTP/webhook connector type, as the registry sees it.
import { defineConnectorType } from '../spi/connector-type.js';
import { invalid } from '../../shared/errors.js';
import { httpConfig } from './http-config.js';
import { compileHttpConfig, createHttpConnector, httpCapabilities } from './http-connector.js';

export const httpConnectorType = defineConnectorType({
  type: 'http',
  title: 'HTTP / webhook',
  description: 'Any HTTP API, through declared requests and JSONata mappings: for systems with no dedicated connector.',
  config: httpConfig,
  capabilities: ['test', 'searchAccounts', 'sync', 'createAccount', 'updateAccount', 'enableDisable', 'deleteAccount', 'searchEntitlements', 'grantRevoke', 'rotateCredential'],
  capabilitiesFor: httpCapabilities,
  check(config, field) {
    compileHttpConfig(config, field);
    if ((config.auth === 'bearer' || config.auth === 'header') && !config.token) throw invalid(`${field}.token`, `is required with auth ${config.auth}`);
    if (config.auth === 'header' && !config.headerName) throw invalid(`${field}.headerName`, 'is required with auth header');
    if (config.auth === 'basic' && !(config.username && config.password)) throw invalid(`${field}.${config.username ? 'password' : 'username'}`, 'is required with auth basic');
    if (config.entitlements.search && !config.entitlements.map) throw invalid(`${field}.entitlements.map`, 'is required with entitlements.search');
    if (config.credentials && config.auth !== 'bearer' && config.auth !== 'header') throw invalid(`${field}.credentials`, 'needs auth bearer or header: the token is the credential rotated');
    if (new URL(config.baseUrl).protocol === 'http:' && config.auth !== 'none' && !/^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/|$)/.test(config.baseUrl)) {
      throw invalid(`${field}.baseUrl`, 'must be https:// when credentials are sent (http:// is allowed for localhost only)');
    }
  },
  login(settings) {
    if (settings.auth === 'basic') return { secretField: 'password', ...(typeof settings.username === 'string' ? { accountName: settings.username } : {}) };
    if (settings.auth === 'none') return undefined;
    return { secretField: 'token' };
  },
  create: (config, context) => createHttpConnector(config, context),
});

export { createHttpConnector, type HttpConnector } from './http-connector.js';
export type { HttpConfig } from './http-config.js';
