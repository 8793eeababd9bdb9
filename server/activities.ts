// Every module's activities, built with their dependencies. Modules own their activity factories.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import { createSelfCheckActivities } from '../workflows/selfcheck/activities.js';

export interface ActivityDeps {
  orm: MikroORM;
  secrets: SecretStore;
}

export function buildActivities(deps: ActivityDeps): object {
  return {
    ...createSelfCheckActivities({ orm: deps.orm, secrets: deps.secrets }),
  };
}
