// The admin plane's vocabulary: what a route or service method may ask of the caller's ability.
// policies/ turns roles and token scopes into CASL abilities over exactly these names.
import type { MongoAbility } from '@casl/ability';

export const ACTIONS = ['read', 'create', 'update', 'delete', 'manage', 'decide', 'request', 'export', 'verify', 'rotate', 'retry', 'cancel', 'simulate', 'publish', 'run'] as const;
export type Action = (typeof ACTIONS)[number];

export const SUBJECTS = [
  'Directory', // an identity-provider connection and its SCIM tokens
  'Connector', // connector instances and their configuration
  'Policy', // policy documents and their versions
  'Flow', // sync flows: their versions, runs and dead letters
  'ApprovalRequest', // a change waiting at the approval gate
  'AccessRequest', // a request for access made by a person
  'Run', // workflow runs (JML, sync, rotation)
  'LedgerEntry', // the audit ledger
  'Evidence', // evidence exports
  'Credential', // credentials and non-human identities in the inventory
  'ApiToken', // automation tokens
  'User', // people who sign in to Gatehouse (one per OpenID Provider subject)
  'Identity', // people and groups as Gatehouse knows them
  'System', // readiness, configuration, signing keys
] as const;
export type Subject = (typeof SUBJECTS)[number];

export const ROLES = ['admin', 'security-approver', 'auditor', 'nhi-owner'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: a person signed in, an automation token, or Gatehouse itself. */
export interface Principal {
  kind: 'human' | 'token' | 'system';
  /** Stable id: the person's Gatehouse user id, the token id, or 'system'. */
  id: string;
  displayName?: string;
  email?: string;
  roles: Role[];
  /** For tokens: the named permissions it was scoped to, as `action:Subject`. */
  scopes?: string[];
}

/** A named permission, as API tokens are scoped: `read:LedgerEntry`, `manage:Directory`. */
export type Permission = `${Action}:${Subject}`;

/**
 * What a caller may do, as CASL sees it. Services check instances with
 * `ForbiddenError.from(ability).throwUnlessCan(action, subject('Credential', row))`; conditions
 * in policies/ name the instance fields they read (e.g. `ownerIds` on a Credential).
 */
export type AdminAbility = MongoAbility<[Action, Subject | 'all' | SubjectInstance]>;

/**
 * A subject instance for an instance check, tagged with `subject('Credential', row)` from CASL.
 * Typed loosely (any object), so rows of any shape can be checked and conditions can name any field.
 */
export type SubjectInstance = object;
