// Every workflow type, for the worker's bundle. Workflow files are deterministic (see eslint.config.js).
export { selfCheckWorkflow } from './selfcheck/workflow.js';
export { connectorTestWorkflow } from './connector-test/workflow.js';
export { credentialRotationWorkflow } from './rotation/workflow.js';
export { inventoryScanWorkflow } from './inventory-scan/workflow.js';
export { leaverCredentialsWorkflow } from './leaver-credentials/workflow.js';
export { approvalWorkflow } from './approval/workflow.js';
export { accessRequestWorkflow } from './access-request/workflow.js';
export { identityWorkflow } from './jml/workflow.js';
export { reconcileConnectorWorkflow } from './reconcile/workflow.js';
export { flowChangeWorkflow, flowPreviewWorkflow, flowReplayWorkflow, flowRunWorkflow } from './flows/workflow.js';
