// Callers for tests that use services directly: a person with given roles, as the ledger names them
// and with the CASL ability sign-in would give them.
import { randomUUID } from 'node:crypto';
import type { Caller } from '../../connectors/caller.js';
import type { Role } from '../../shared/auth/permissions.js';
import { adminAbilityFor } from '../../policies/admin-ability.js';

export function personCaller(roles: Role[], id: string = randomUUID(), display = `test ${roles.join('+') || 'no role'}`): Caller & { id: string } {
  return { id, actor: { kind: 'human', id, display }, ability: adminAbilityFor({ kind: 'human', id, roles }) };
}

/** An admin, as most service tests act. */
export const adminCaller = (): Caller & { id: string } => personCaller(['admin']);

/** Gatehouse itself (workflows, the command line after its own checks). */
export const systemCaller = (): Caller => ({ actor: { kind: 'system', id: 'test' }, ability: adminAbilityFor({ kind: 'system', id: 'test', roles: [] }) });
