// The inventory scan: every connector's accounts, one after the other (a failing one is recorded
// and the scan goes on), then Vault's metadata. Started by its schedule or on request; one at a time.
import { proxyActivities, uuid4, workflowInfo } from '@temporalio/workflow';
import type { InventoryScanActivities } from './activities.js';
import type { Actor } from '../../audit/index.js';
import type { ConnectorScanResult } from '../../connectors/credentials/inventory-scan.js';

const { inventoryConnectorsToScan, inventoryScanConnector, inventoryScanVault } = proxyActivities<InventoryScanActivities>({
  startToCloseTimeout: '30 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

export const INVENTORY_SCAN_WORKFLOW_ID = 'inventory-scan';

export interface InventoryScanSummary {
  scanId: string;
  connectors: ConnectorScanResult[];
  vault: { secrets: number; unreferenced: number } | { error: string };
}

export async function inventoryScanWorkflow(input: { requestedBy?: Actor } = {}): Promise<InventoryScanSummary> {
  const scanId = uuid4();
  const actor: Actor = input.requestedBy ?? { kind: 'workflow', id: workflowInfo().workflowId, display: 'inventory scan' };
  const results: ConnectorScanResult[] = [];
  for (const c of await inventoryConnectorsToScan()) {
    try {
      results.push(await inventoryScanConnector({ connectorId: c.id, scanId, actor }));
    } catch (err) {
      // Still failing after its retries: recorded as such, and the other connectors are scanned.
      results.push({ connectorId: c.id, status: 'failed', accounts: 0, nonHuman: 0, error: err instanceof Error ? err.message : String(err) });
    }
  }
  let vault: InventoryScanSummary['vault'];
  try {
    vault = await inventoryScanVault({ scanId, actor });
  } catch (err) {
    vault = { error: err instanceof Error ? err.message : String(err) };
  }
  return { scanId, connectors: results, vault };
}
