// The named permissions an API token may carry (`action:Subject`), and which ones a token can never
// hold: approvals are made by people, and a token may not mint tokens or administer people.
import { z } from 'zod';
import { ACTIONS, SUBJECTS, type Action, type Permission, type Subject } from '../shared/auth/permissions.js';

// A request for access is a person's, for themselves or what they own; a token has neither.
const PEOPLE_ONLY: ReadonlySet<string> = new Set<Permission>(['decide:ApprovalRequest', 'request:AccessRequest']);
const NEVER_FOR_TOKENS: ReadonlySet<Subject> = new Set<Subject>(['ApiToken', 'User']);

export function parsePermission(value: string): { action: Action; subject: Subject } | undefined {
  const [action, subject, extra] = value.split(':');
  if (extra !== undefined || !action || !subject) return undefined;
  if (!(ACTIONS as readonly string[]).includes(action) || !(SUBJECTS as readonly string[]).includes(subject)) return undefined;
  return { action: action as Action, subject: subject as Subject };
}

/** Why a token may not carry this permission, or undefined when it may. */
export function tokenScopeProblem(value: string): string | undefined {
  const parsed = parsePermission(value);
  if (!parsed) return `"${value}" is not a permission: use action:Subject, e.g. read:LedgerEntry (actions: ${ACTIONS.join(', ')}; subjects: ${SUBJECTS.join(', ')})`;
  if (PEOPLE_ONLY.has(value)) return `"${value}" is for people only: approvals are decided by a person who signed in`;
  if (NEVER_FOR_TOKENS.has(parsed.subject)) return `"${value}" cannot be given to a token: tokens do not manage tokens or people`;
  return undefined;
}

export const tokenScopesSchema = z
  .array(z.string())
  .min(1, 'must name at least one permission, e.g. read:LedgerEntry')
  .max(64, 'must name at most 64 permissions')
  .superRefine((scopes, ctx) => {
    scopes.forEach((scope, i) => {
      const problem = tokenScopeProblem(scope);
      if (problem) ctx.addIssue({ code: 'custom', path: [i], message: problem });
    });
  })
  .transform((scopes) => [...new Set(scopes)].sort() as Permission[]);
