// Who asks the connectors module for something: the actor its ledger entries name, and the CASL
// ability its services check before changing or revealing anything (STYLE practice 8).
import type { Request } from 'express';
import type { Actor } from '../audit/index.js';
import { actorOfPrincipal } from '../audit/ledger-routes.js';
import type { AdminAbility } from '../shared/auth/permissions.js';
import { abilityOf, principalOf } from '../shared/http/request-auth.js';

export interface Caller {
  actor: Actor;
  ability: AdminAbility;
}

/** The caller of an API route, as sign-in put it on the request. */
export function callerOf(req: Request): Caller {
  return { actor: actorOfPrincipal(principalOf(req)), ability: abilityOf(req) };
}
