// The LDAP connector type, as the registry sees it.
import { CONNECTOR_CAPABILITIES } from './ldap-connector.js';
import { defineConnectorType } from '../spi/connector-type.js';
import { invalid } from '../../shared/errors.js';
import { ldapConfig } from './ldap-config.js';
import { createLdapConnector } from './ldap-connector.js';

/** A loose DN check (attribute=value pairs); the directory is the judge of the rest. */
const DN_SHAPE = /^[A-Za-z][A-Za-z0-9.-]*=(?:[^,\\]|\\.)+(?:\s*,\s*[A-Za-z][A-Za-z0-9.-]*=(?:[^,\\]|\\.)+)*$/;

export const ldapConnectorType = defineConnectorType({
  type: 'ldap',
  title: 'LDAP directory',
  description: 'inetOrgPerson accounts and groupOfNames groups in an LDAP directory (OpenLDAP and other RFC 4511 servers); password rotation through the Password Modify operation.',
  config: ldapConfig,
  capabilities: CONNECTOR_CAPABILITIES,
  check(config, field) {
    for (const key of ['bindDn', 'usersDn', 'groupsDn', 'emptyGroupPlaceholder'] as const) {
      if (!DN_SHAPE.test(config[key])) throw invalid(`${field}.${key}`, 'is not a distinguished name (attribute=value, …)');
    }
    if (config.startTls && config.url.startsWith('ldaps:')) throw invalid(`${field}.startTls`, 'applies to ldap:// URLs only; ldaps:// is TLS already');
  },
  login(settings) {
    // Accounts are named by the value of their RDN; the service account's is the bind DN's first one.
    const rdn = typeof settings.bindDn === 'string' ? /^[^=]+=((?:[^,\\]|\\.)+)/.exec(settings.bindDn)?.[1] : undefined;
    return { secretField: 'bindPassword', ...(rdn ? { accountName: rdn } : {}) };
  },
  create: (config, context) => createLdapConnector(config, context),
});

export { createLdapConnector, type LdapConnector } from './ldap-connector.js';
export type { LdapConfig } from './ldap-config.js';
