// Every module's migrations, applied in name order (their names start with a UTC timestamp).
import type { Migration } from '@mikro-orm/migrations';
import { Migration20261129000000Foundation } from './migrations/Migration20261129000000Foundation.js';
import { Migration20261129100000Audit } from '../../audit/migrations/Migration20261129100000Audit.js';
import { Migration20261130120000Scim } from '../../scim/migrations/Migration20261130120000Scim.js';
import { Migration20261204000000ScimLedger } from '../../scim/migrations/Migration20261204000000ScimLedger.js';
import { Migration20261201090000Auth } from '../auth/migrations/Migration20261201090000Auth.js';
import { Migration20261203000000Connectors } from '../../connectors/migrations/Migration20261203000000Connectors.js';
import { Migration20261205000000Credentials } from '../../connectors/migrations/Migration20261205000000Credentials.js';
import { Migration20261206090000Policies } from '../../policies/migrations/Migration20261206090000Policies.js';
import { Migration20261206100000AccessChanges } from '../../workflows/migrations/Migration20261206100000AccessChanges.js';
import { Migration20261207090000JmlRuns } from '../../workflows/migrations/Migration20261207090000JmlRuns.js';
import { Migration20261207120000FirstStart } from '../auth/migrations/Migration20261207120000FirstStart.js';
import { Migration20261207130000LedgerBounds } from '../../audit/migrations/Migration20261207130000LedgerBounds.js';
import { Migration20261207150000DirectorySignIn } from '../../scim/migrations/Migration20261207150000DirectorySignIn.js';
import { Migration20261207210000AdminChanges } from '../../policies/migrations/Migration20261207210000AdminChanges.js';
import { Migration20261207220000AdminChangeCalls } from '../../policies/migrations/Migration20261207220000AdminChangeCalls.js';
import { Migration20261207230000LedgerHashes } from '../../audit/migrations/Migration20261207230000LedgerHashes.js';
import { Migration20261208000000LedgerRole } from '../../audit/migrations/Migration20261208000000LedgerRole.js';
import { Migration20261208010000Flows } from '../../workflows/migrations/Migration20261208010000Flows.js';
import { Migration20261208020000FlowRuns } from '../../workflows/migrations/Migration20261208020000FlowRuns.js';
import { Migration20261208030000FlowDeadLetters } from '../../workflows/migrations/Migration20261208030000FlowDeadLetters.js';
import { Migration20261208040000FlowChanges } from '../../workflows/migrations/Migration20261208040000FlowChanges.js';
import { Migration20261208050000FlowPlans } from '../../workflows/migrations/Migration20261208050000FlowPlans.js';
import { Migration20261208060000FlowMirror } from '../../workflows/migrations/Migration20261208060000FlowMirror.js';

type MigrationClass = new (...args: ConstructorParameters<typeof Migration>) => Migration;

const byName = (a: MigrationClass, b: MigrationClass) => a.name.localeCompare(b.name);

export const allMigrations: { name: string; class: MigrationClass }[] = [
  Migration20261129000000Foundation,
  Migration20261129100000Audit,
  Migration20261130120000Scim,
  Migration20261201090000Auth,
  Migration20261203000000Connectors,
  Migration20261204000000ScimLedger,
  Migration20261205000000Credentials,
  Migration20261206090000Policies,
  Migration20261206100000AccessChanges,
  Migration20261207090000JmlRuns,
  Migration20261207120000FirstStart,
  Migration20261207130000LedgerBounds,
  Migration20261207150000DirectorySignIn,
  Migration20261207210000AdminChanges,
  Migration20261207220000AdminChangeCalls,
  Migration20261207230000LedgerHashes,
  Migration20261208000000LedgerRole,
  Migration20261208010000Flows,
  Migration20261208020000FlowRuns,
  Migration20261208030000FlowDeadLetters,
  Migration20261208040000FlowChanges,
  Migration20261208050000FlowPlans,
  Migration20261208060000FlowMirror,
]
  .sort(byName)
  .map((m) => ({ name: m.name, class: m }));
