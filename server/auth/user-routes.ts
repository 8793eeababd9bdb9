// The users endpoints: admins see who has signed in to Gatehouse and with which roles, and can
// disable a person (ending their sessions at once) or enable them again.
import { z } from 'zod';
import { defineRoute, type ApiRoute } from '../../shared/http/api-route.js';
import { principalOf } from '../../shared/http/request-auth.js';
import type { UserService } from './user-service.js';
import { userSchema } from './user-types.js';

const idParams = z.object({ id: z.uuid('must be a user id') });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export function userRoutes(deps: { users: UserService }): ApiRoute[] {
  const setDisabled = (disabled: boolean) =>
    defineRoute({
      method: 'post',
      path: `/api/users/:id/${disabled ? 'disable' : 'enable'}`,
      summary: disabled ? 'Disables a person: refuses their sign-ins and ends their sessions' : 'Enables a disabled person again',
      tags: ['users'],
      access: { action: 'update', subject: 'User' },
      request: { params: idParams },
      responses: { 200: { description: 'the user', schema: userSchema }, 404: { description: 'no such user' }, 409: { description: 'disabling yourself' } },
      handler: async (req, res) => {
        const principal = principalOf(req);
        res.json(await deps.users.setDisabled((req.params as z.infer<typeof idParams>).id, disabled, { kind: principal.kind, id: principal.id }));
      },
    });

  return [
    defineRoute({
      method: 'get',
      path: '/api/users',
      summary: 'Lists the people who have signed in, with the roles their last sign-in mapped',
      tags: ['users'],
      access: { action: 'read', subject: 'User' },
      request: { query: listQuery },
      responses: { 200: { description: 'the users', schema: z.object({ users: z.array(userSchema) }) } },
      handler: async (req, res) => {
        res.json({ users: await deps.users.list(req.query as unknown as z.infer<typeof listQuery>) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/users/:id',
      summary: 'Reads one user',
      tags: ['users'],
      access: { action: 'read', subject: 'User' },
      request: { params: idParams },
      responses: { 200: { description: 'the user', schema: userSchema }, 404: { description: 'no such user' } },
      handler: async (req, res) => {
        res.json(await deps.users.get((req.params as z.infer<typeof idParams>).id));
      },
    }),
    setDisabled(true),
    setDisabled(false),
  ];
}
