// Every test process: hand the global setup's services to the suite helpers.
import { inject } from 'vitest';
import { useSharedServices } from './helpers/services.js';
import type { SharedServices } from './helpers/start-services.js';

const keys: (keyof SharedServices)[] = [
  'pgSuperuserUrl', 'pgOwnerPassword', 'pgAppPassword', 'pgLedgerPassword', 'temporalAddress', 'temporalCliPath',
  'vaultAddress', 'vaultRootToken', 'vaultBinary', 'workflowBundlePath', 'testDataDir',
];
useSharedServices(Object.fromEntries(keys.map((k) => [k, inject(k)])) as unknown as SharedServices);
