// Where credentials and the inventory plug into the server: the routes, over the credential and
// inventory services; rotations and scans started through Temporal; and the reconciler that keeps
// the Temporal Schedules (one per credential with a max-age policy, one for scans) in step.
import type { LedgerAppender } from '../audit/index.js';
import type { ApiRoute } from '../shared/http/api-route.js';
import { createBuiltinConnectorRegistry } from '../connectors/builtin-connectors.js';
import { createCredentialService } from '../connectors/credentials/credential-service.js';
import { credentialRoutes } from '../connectors/credentials/credential-routes.js';
import { createInventoryService } from '../connectors/credentials/inventory-service.js';
import type { BackgroundService } from './modules.js';
import { createOwnerDirectory } from './owner-directory.js';
import { createInventoryScans } from './inventory-scans.js';
import { createTemporalRotations, rotationScheduleReconciler, scheduleIdOf } from './rotation-scheduling.js';
import type { Runtime } from './runtime.js';

export function credentialModule(runtime: Pick<Runtime, 'orm' | 'secrets' | 'temporal' | 'config' | 'log'>, ledger: LedgerAppender): { routes: ApiRoute[]; services: BackgroundService[] } {
  const { orm, config } = runtime;
  const log = runtime.log.child({ module: 'credentials' });
  const owners = createOwnerDirectory({ orm });
  const rotations = createTemporalRotations({ client: runtime.temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE });
  const scans = createInventoryScans({ client: runtime.temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE });
  const credentials = createCredentialService({
    orm,
    secrets: runtime.secrets,
    ledger,
    owners,
    rotations,
    schedules: rotations,
    onScheduleError: (credentialId, err) => log.warn({ credentialId, err: (err as Error).message }, 'the rotation schedule could not be updated now; the reconciler will'),
  });
  const inventory = createInventoryService({
    orm,
    registry: createBuiltinConnectorRegistry(),
    owners,
    unusedDays: config.INVENTORY_UNUSED_DAYS,
    defaultMaxAgeDays: config.CREDENTIAL_DEFAULT_MAX_AGE_DAYS,
    scheduleIdOf,
  });
  const reconciler = rotationScheduleReconciler({ orm, client: runtime.temporal.client, schedules: rotations, taskQueue: config.TEMPORAL_TASK_QUEUE, log });
  const scanSchedule: BackgroundService = {
    name: 'inventory scan schedule',
    start: () => scans.ensureSchedule(config.INVENTORY_SCAN_INTERVAL_HOURS).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'the inventory scan schedule could not be set up; scans run on request only')),
    stop: async () => undefined,
  };
  return { routes: credentialRoutes({ credentials, inventory, startScan: (actor) => scans.start(actor) }), services: [reconciler, scanSchedule] };
}
