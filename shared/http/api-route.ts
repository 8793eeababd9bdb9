// How a module declares an API route: as data. The server mounts it, checks its access rule first,
// validates its input with its zod schemas, and lists it in the OpenAPI document. A route that is
// not declared this way does not exist, so none can ship without a stated permission.
import type { Request, Response } from 'express';
import { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: anyone, anyone signed in, or holders of one permission. */
export type RouteAccess = 'public' | 'authenticated' | { action: string; subject: string };

/** A rate limit the server applies before the access check: sign-in endpoints, API token endpoints, inbound webhooks. */
export type RouteRateLimit = 'sign-in' | 'api-token' | 'webhook';

export interface ApiRoute {
  method: HttpMethod;
  /** Express-style path, e.g. /api/approvals/:id/decision. */
  path: string;
  summary: string;
  tags: string[];
  access: RouteAccess;
  rateLimit?: RouteRateLimit;
  /**
   * The admin change this call is (a key under a policy's `administration`, e.g. createApiTokens):
   * when the policy in force says it needs approval, the call is held as a proposal (202) and made
   * only when its proposer sends it again, approved, naming the admin change.
   */
  governedAs?: string;
  /**
   * What an admin change records of this call, and compares when the approved call is made: by
   * default the validated body. A call that carries secrets leaves their values out; they are given
   * again with the approved call, and are never stored with the admin change.
   */
  governedView?: (req: Request) => Promise<unknown> | unknown;
  request?: { params?: z.ZodType; query?: z.ZodType; body?: z.ZodType };
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
  handler: (req: Request, res: Response) => Promise<void> | void;
}

export const defineRoute = (route: ApiRoute): ApiRoute => route;

/** The body of every API error response, as the error middleware writes it (for the OpenAPI document). */
export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }) });

/** The 202 a route that is an admin change answers when the policy in force holds it for approval. */
export const heldForApproval = (what: string) => ({
  description: `the policy in force says ${what} needs approval: held as an admin change; once approved, send this same call again with the header gatehouse-admin-change`,
  schema: z.object({ awaitingApproval: z.record(z.string(), z.unknown()), next: z.string() }),
});
