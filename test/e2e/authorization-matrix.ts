// Who may call every API route: the authorization matrix as data. The test beside it calls every
// route the server mounts with every caller below and asserts exactly these sets, so a route that is
// missing here fails the test, and no route ships without its permissions written down.
//
// Adding a route: add a line `'<METHOD> <path as declared>': [callers allowed past the access check]`.
// "Allowed" means the access check let the call through (whatever the handler then answered with
// placeholder input); refused means 401 or 403.
import type { Permission, Role } from '../../shared/auth/permissions.js';

/** Every kind of caller the matrix is checked with. */
export const CALLERS = [
  'anonymous',
  'admin',
  'security-approver',
  'auditor',
  'nhi-owner',
  'no-role',
  'token:audit-export',
  'token:directory-sync',
  'token:monitoring',
] as const;
export type Caller = (typeof CALLERS)[number];

/** What each signed-in caller holds: a person's roles, or a token's scopes. */
export const CALLER_GRANTS: Record<Exclude<Caller, 'anonymous'>, { roles: Role[] } | { scopes: Permission[] }> = {
  admin: { roles: ['admin'] },
  'security-approver': { roles: ['security-approver'] },
  auditor: { roles: ['auditor'] },
  'nhi-owner': { roles: ['nhi-owner'] },
  'no-role': { roles: [] },
  'token:audit-export': { scopes: ['read:LedgerEntry', 'verify:LedgerEntry', 'export:Evidence'] },
  'token:directory-sync': { scopes: ['manage:Directory'] },
  'token:monitoring': { scopes: ['read:System', 'read:Run'] },
};

const EVERYONE: readonly Caller[] = CALLERS;
const SIGNED_IN: readonly Caller[] = CALLERS.filter((c) => c !== 'anonymous');
const ADMIN: readonly Caller[] = ['admin'];
const DIRECTORY_ADMINS: readonly Caller[] = ['admin', 'token:directory-sync'];
const LEDGER_READERS: readonly Caller[] = ['auditor', 'token:audit-export'];
// read:Credential; nhi-owners are let through and then see (and rotate) only what they own.
const CREDENTIAL_READERS: readonly Caller[] = ['admin', 'security-approver', 'auditor', 'nhi-owner'];
const CREDENTIAL_ROTATORS: readonly Caller[] = ['admin', 'nhi-owner'];
const POLICY_READERS: readonly Caller[] = ['admin', 'security-approver'];
const RUN_READERS: readonly Caller[] = ['admin', 'security-approver', 'token:monitoring'];
const PEOPLE: readonly Caller[] = ['admin', 'security-approver', 'auditor', 'nhi-owner', 'no-role'];

export const AUTHORIZATION_MATRIX: Record<string, readonly Caller[]> = {
  // system
  'GET /healthz': EVERYONE,
  'GET /readyz': EVERYONE,
  // metrics: for whoever holds read:System (an operator's monitoring token; admins)
  'GET /metrics': ['admin', 'token:monitoring'],
  'GET /api/openapi.json': EVERYONE,

  // sign-in
  'GET /api/auth/providers': EVERYONE,
  'GET /api/auth/oidc/:provider/sign-in': EVERYONE,
  'GET /api/auth/oidc/:provider/callback': EVERYONE,
  'POST /api/auth/one-time-link': EVERYONE,
  'GET /api/auth/session': SIGNED_IN,
  'DELETE /api/auth/session': SIGNED_IN,

  // API tokens: people with the admin role only; a token never manages tokens
  'GET /api/tokens': ADMIN,
  'POST /api/tokens': ADMIN,
  'GET /api/tokens/:id': ADMIN,
  'DELETE /api/tokens/:id': ADMIN,

  // connectors: configured by admins only (approvers see policies and requests, not connector settings)
  'GET /api/connector-types': ADMIN,
  'POST /api/connector-types/:type/validate': ADMIN,
  'GET /api/connectors': ADMIN,
  'POST /api/connectors': ADMIN,
  'GET /api/connectors/:ref': ADMIN,
  'PATCH /api/connectors/:ref': ADMIN,
  'DELETE /api/connectors/:ref': ADMIN,
  'POST /api/connectors/:ref/test': ADMIN,

  // directories (identity-provider connections) and their SCIM tokens
  'GET /api/directories': DIRECTORY_ADMINS,
  'POST /api/directories': DIRECTORY_ADMINS,
  'GET /api/directories/:directoryId': DIRECTORY_ADMINS,
  'PATCH /api/directories/:directoryId': DIRECTORY_ADMINS,
  'POST /api/directories/:directoryId/tokens': DIRECTORY_ADMINS,
  'DELETE /api/directories/:directoryId/tokens/:tokenId': DIRECTORY_ADMINS,

  // the audit ledger: its public keys for anyone; entries, proofs and exports for auditors
  'GET /api/audit/keys': EVERYONE,
  'GET /api/audit/entries': LEDGER_READERS,
  'GET /api/audit/entries/:seq': LEDGER_READERS,
  'GET /api/audit/entries/:seq/inclusion-proof': LEDGER_READERS,
  'GET /api/audit/checkpoints': LEDGER_READERS,
  'GET /api/audit/consistency-proof': LEDGER_READERS,
  'POST /api/audit/exports': LEDGER_READERS,

  // access policies: approvers read them; admins publish and simulate
  'GET /api/policies': POLICY_READERS,
  'GET /api/policies/versions/:versionHash': POLICY_READERS,
  'POST /api/policies': ADMIN,
  'POST /api/policies/simulate': ADMIN,

  // sync flows: approvers read them (and check drafts); admins publish
  'GET /api/flows': POLICY_READERS,
  'GET /api/flows/:name': POLICY_READERS,
  'POST /api/flows/validate': POLICY_READERS,
  'POST /api/flows': ADMIN,
  'POST /api/flows/:name/runs': ADMIN,
  'GET /api/flows/:name/runs': POLICY_READERS,
  'GET /api/flows/:name/runs/:id': POLICY_READERS,
  'GET /api/flows/:name/dead-letters': POLICY_READERS,
  'POST /api/flows/:name/preview': ADMIN,
  'POST /api/flows/preview-draft': ADMIN,
  'POST /api/flows/:name/dead-letters/:id/replay': ADMIN,
  'POST /api/flows/:name/dead-letters/:id/discard': ADMIN,
  'POST /api/flows/:name/webhook-secret': ADMIN,
  'POST /api/flows/:name/runs/:id/plan-decision': ['admin', 'security-approver'],
  // a webhook authenticates by its flow's secret, not as a caller (an unknown flow answers 404)
  'POST /api/hooks/flows/:name': EVERYONE,
  // admin changes waiting for approval: policy readers see them; deciding is for people (the stage says which)
  'GET /api/admin-changes': POLICY_READERS,
  'GET /api/admin-changes/inbox': PEOPLE,
  'GET /api/admin-changes/:id': POLICY_READERS,
  'POST /api/admin-changes/:id/decision': PEOPLE,

  // the approval inbox: people with the approver role (which requests, the policy says); never a token
  'GET /api/approvals': PEOPLE,
  'POST /api/approvals/:id/decision': PEOPLE,

  // requests for access: every person asks and follows their own (reviewers see all); never a token
  'GET /api/requests': PEOPLE,
  'GET /api/requests/:id': PEOPLE,
  'POST /api/requests': PEOPLE,
  'POST /api/requests/:id/withdraw': PEOPLE,

  // credentials and the NHI inventory
  'GET /api/inventory/credentials': CREDENTIAL_READERS,
  'GET /api/inventory/credentials/export': CREDENTIAL_READERS,
  'POST /api/inventory/scan': ADMIN,
  'POST /api/credentials': ADMIN,
  'GET /api/credentials/:id': CREDENTIAL_READERS,
  'PATCH /api/credentials/:id': ADMIN,
  'DELETE /api/credentials/:id': ADMIN,
  'POST /api/credentials/:id/rotate': CREDENTIAL_ROTATORS,

  // joiner-mover-leaver runs and reconciliation passes: admins, approvers and monitoring read them; admins retry and cancel
  'GET /api/runs': RUN_READERS,
  'GET /api/runs/:id': RUN_READERS,
  'POST /api/runs/:id/retry': ADMIN,
  'POST /api/runs/:id/cancel': ADMIN,

  // users
  'GET /api/users': ADMIN,
  'GET /api/users/:id': ADMIN,
  'POST /api/users/:id/disable': ADMIN,
  'POST /api/users/:id/enable': ADMIN,
};
