// Sign-in's entities, for the one MikroORM instance (listed in server/db/entities.ts).
import { ApiToken } from './api-token.entity.js';
import { BootstrapLink } from './bootstrap-link.entity.js';
import { AuthSession } from './session.entity.js';
import { GatehouseUser } from './user.entity.js';

export const authEntities = [GatehouseUser, AuthSession, ApiToken, BootstrapLink];
