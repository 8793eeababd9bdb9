// The inventory scan's activities: each connector's accounts and Vault's metadata, read on a worker
// (connectors need their secrets to log in), written to the inventory tables.
import type { Actor } from '../../audit/index.js';
import { asConnectorActivity } from '../../connectors/spi/activity-failure.js';
import type { ConnectorScanResult, InventoryScanner } from '../../connectors/credentials/inventory-scan.js';

export function createInventoryScanActivities(deps: { scanner: InventoryScanner }) {
  return {
    inventoryConnectorsToScan: (): Promise<{ id: string; name: string }[]> => deps.scanner.connectorsToScan(),
    inventoryScanConnector: (input: { connectorId: string; scanId: string; actor: Actor }): Promise<ConnectorScanResult> =>
      asConnectorActivity(() => deps.scanner.scanConnector(input.connectorId, input.scanId, input.actor)),
    inventoryScanVault: (input: { scanId: string; actor: Actor }): Promise<{ secrets: number; unreferenced: number }> => asConnectorActivity(() => deps.scanner.scanVault(input.scanId, input.actor)),
  };
}

export type InventoryScanActivities = ReturnType<typeof createInventoryScanActivities>;
