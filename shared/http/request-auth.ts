// Who is calling, on the request: the server's authorize step sets the Principal and its ability
// before any handler runs; handlers read them here, typed.
import type { Request } from 'express';
import type { AdminAbility, Principal } from '../auth/permissions.js';
import { GatehouseError } from '../errors.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by authorize for every route that is not public. */
    principal?: Principal;
    /** The principal's CASL ability, for instance checks in services. */
    ability?: AdminAbility;
  }
}

/** The caller of a non-public route. */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw new GatehouseError('unauthenticated', 'sign in first, or send an API token as "Authorization: Bearer <token>"');
  return req.principal;
}

/** The caller's ability, for instance checks (`ForbiddenError.from(ability).throwUnlessCan(...)`). */
export function abilityOf(req: Request): AdminAbility {
  if (!req.ability) throw new GatehouseError('unauthenticated', 'sign in first, or send an API token as "Authorization: Bearer <token>"');
  return req.ability;
}
