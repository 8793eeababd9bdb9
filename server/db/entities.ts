// Every module's entities, for the one MikroORM instance. Modules own their entity files.
import type { EntitySchema } from '@mikro-orm/core';
import { SystemCheck } from '../../workflows/selfcheck/system-check.entity.js';
import { ConnectorInstance } from '../../connectors/instances/connector-instance.entity.js';
import { Credential } from '../../connectors/credentials/credential.entity.js';
import { authEntities } from '../auth/auth-entities.js';
import { Directory } from '../../scim/directory.entity.js';
import { DirectoryToken } from '../../scim/directory-token.entity.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const allEntities: EntitySchema<any, any>[] = [SystemCheck, ConnectorInstance, Credential, ...authEntities, Directory, DirectoryToken];
