// Every module's migrations, applied in name order (their names start with a UTC timestamp).
import type { Migration } from '@mikro-orm/migrations';
import { Migration20261129000000Foundation } from './migrations/Migration20261129000000Foundation.js';
import { Migration20261130120000Scim } from '../../scim/migrations/Migration20261130120000Scim.js';

type MigrationClass = new (...args: ConstructorParameters<typeof Migration>) => Migration;

const byName = (a: MigrationClass, b: MigrationClass) => a.name.localeCompare(b.name);

export const allMigrations: { name: string; class: MigrationClass }[] = [Migration20261129000000Foundation, Migration20261130120000Scim]
  .sort(byName)
  .map((m) => ({ name: m.name, class: m }));
