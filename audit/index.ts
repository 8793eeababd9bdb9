// The audit ledger: what other modules import. They depend on `LedgerAppender` only; the server
// builds the ledger (createLedger) and plugs in its routes and checkpointer.
export type { ActorKind, Actor, LedgerRef, Correlation, PolicyRef, NewLedgerEntry, LedgerEntry, AppendOptions, LedgerAppender } from './ledger-types.js';
export { ACTOR_KINDS, newLedgerEntrySchema, ledgerEntrySchema } from './ledger-types.js';
export { createLedger, LEDGER_KEY_NAME, type Ledger, type LedgerDeps, type InclusionProof, type ConsistencyProof, type CheckpointOptions } from './ledger-service.js';
export { openLedgerRolePool } from './ledger-sql.js';
export type { Checkpoint, PublicKey } from './checkpoint-note.js';
export type { VerificationReport, VerificationProblem } from './ledger-verifier.js';
export { auditRoutes } from './ledger-routes.js';
export { createCheckpointer } from './checkpointer.js';
export { checkpointLag, describeCheckpointLag, type CheckpointLag } from './checkpoint-lag.js';
export { prepareEvidenceExport, exportRequestSchema, EXPORT_FORMATS, type ExportFormat, type ExportRequest } from './evidence-export.js';
export { folderSink, zipSink } from './evidence-sink.js';
export { verifyEvidence, type EvidenceReport } from './evidence-verify.js';
