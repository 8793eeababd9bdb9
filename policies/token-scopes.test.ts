// Which named permissions an API token may carry, and the messages for those it may not.
import { describe, expect, it } from 'vitest';
import { parsePermission, tokenScopeProblem, tokenScopesSchema } from './token-scopes.js';

describe('token scopes', () => {
  it('parses action:Subject from the vocabulary only', () => {
    expect(parsePermission('read:LedgerEntry')).toEqual({ action: 'read', subject: 'LedgerEntry' });
    for (const bad of ['read', 'read:', ':LedgerEntry', 'read:ledgerentry', 'read:LedgerEntry:x', 'delete:Everything', 'all:Run']) {
      expect(parsePermission(bad), bad).toBeUndefined();
    }
  });

  it('keeps approvals for people and token or user administration away from tokens', () => {
    expect(tokenScopeProblem('decide:ApprovalRequest')).toMatch(/people only/);
    expect(tokenScopeProblem('create:ApiToken')).toMatch(/tokens do not manage tokens or people/);
    expect(tokenScopeProblem('read:User')).toMatch(/tokens do not manage tokens or people/);
    expect(tokenScopeProblem('read:ApprovalRequest')).toBeUndefined();
    expect(tokenScopeProblem('manage:Directory')).toBeUndefined();
  });

  it('sorts and de-duplicates a valid list, and names the bad entry of an invalid one', () => {
    expect(tokenScopesSchema.parse(['read:Run', 'export:Evidence', 'read:Run'])).toEqual(['export:Evidence', 'read:Run']);
    const result = tokenScopesSchema.safeParse(['read:Run', 'nope']);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: [1], message: expect.stringContaining('"nope" is not a permission') });
    expect(tokenScopesSchema.safeParse([]).error?.issues[0]?.message).toMatch(/at least one/);
  });
});
