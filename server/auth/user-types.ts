// Gatehouse users as the API shows them.
import { z } from 'zod';
import { ROLES } from '../../shared/auth/permissions.js';

export const userSchema = z.object({
  id: z.uuid(),
  issuer: z.string(),
  subject: z.string(),
  email: z.string().nullable(),
  displayName: z.string().nullable(),
  roles: z.array(z.enum(ROLES)),
  createdAt: z.iso.datetime(),
  lastSignInAt: z.iso.datetime().nullable(),
  disabledAt: z.iso.datetime().nullable(),
});

export type UserView = z.infer<typeof userSchema>;

/** The issuer recorded for the first admin, who signs in with a one-time link before any provider exists. */
export const BOOTSTRAP_ISSUER = 'urn:gatehouse:bootstrap';
