// How an administrator maps the test user directory (test/helpers/user-directory-server.ts) with the
// HTTP connector: every operation as a declared request and JSONata mapping, and its API tokens for rotation.
import type { UserDirectoryServer } from './user-directory-server.js';

/** A complete mapping of the test directory's API, as an administrator would write it. */
export const directoryConfig = (server: UserDirectoryServer, token = server.tokens.admin, overrides: Record<string, unknown> = {}) => ({
  baseUrl: `${server.url}/api`,
  auth: 'bearer',
  token,
  pageSize: 2,
  accounts: {
    search: {
      method: 'GET',
      path: '"/users"',
      query: '{ "limit": pageSize, "cursor": cursor, "userName": filter.op = "eq" and filter.attribute = "name" ? filter.value }',
      items: 'users',
      next: 'next',
    },
    get: { method: 'GET', path: '"/users/" & $encodeUrlComponent(uid)' },
    create: {
      method: 'POST',
      path: '"/users"',
      body: '{ "userName": account.name, "email": account.attributes.email[0], "displayName": account.attributes.displayName[0], "active": account.enabled, "password": password }',
    },
    update: { method: 'PATCH', path: '"/users/" & $encodeUrlComponent(uid)', body: '$merge(deltas[op = "replace"].{ attribute: values[0] })' },
    enable: { method: 'POST', path: '"/users/" & $encodeUrlComponent(uid) & "/enable"', unchangedWhen: 'body.changed = false' },
    disable: { method: 'POST', path: '"/users/" & $encodeUrlComponent(uid) & "/disable"', unchangedWhen: 'body.changed = false' },
    delete: { method: 'DELETE', path: '"/users/" & $encodeUrlComponent(uid)' },
    map: '{ "uid": id, "name": userName, "enabled": active, "attributes": { "email": email, "displayName": displayName }, "entitlements": groups }',
  },
  entitlements: {
    search: { method: 'GET', path: '"/groups"', query: '{ "limit": pageSize, "cursor": cursor }', items: 'groups', next: 'next' },
    map: '{ "uid": id, "name": name, "kind": "group", "privileged": admin }',
    grant: { method: 'PUT', path: '"/groups/" & $encodeUrlComponent(entitlementUid) & "/members/" & $encodeUrlComponent(accountUid)', unchangedWhen: 'body.changed = false' },
    revoke: { method: 'DELETE', path: '"/groups/" & $encodeUrlComponent(entitlementUid) & "/members/" & $encodeUrlComponent(accountUid)', unchangedWhen: 'body.changed = false' },
  },
  ...overrides,
});

/** The directory's own API tokens, as an administrator maps them for rotation. */
export const tokenCredentials = {
  issue: { method: 'POST', path: '"/tokens"' },
  map: '{ "id": id, "secret": token }',
  verify: { method: 'GET', path: '"/whoami"' },
  revoke: { method: 'DELETE', path: '"/tokens/" & $encodeUrlComponent(credentialId)', unchangedWhen: 'status = 404' },
};
