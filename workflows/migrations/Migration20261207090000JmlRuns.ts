// Runs of the joiner-mover-leaver workflows and of reconciliation: one row per identity event handled
// (unique by event id, so a duplicate delivery finds the run it already has) or per reconciliation
// pass. The ledger holds what happened; this row is what the runs API lists and filters.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261207090000JmlRuns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE jml_run (
      id uuid PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('pending', 'joiner', 'mover', 'leaver', 'rejoiner', 'no-change', 'reconcile')),
      status text NOT NULL CHECK (status IN ('running', 'completed', 'partial', 'compensated', 'failed', 'cancelled', 'superseded')),
      identity_key text,
      directory_id uuid,
      identity_id text,
      connector_id text,
      event_id text UNIQUE,
      event_kind text,
      retry_of uuid,
      workflow_id text NOT NULL,
      temporal_run_id text NOT NULL,
      policy_version_hash text,
      steps jsonb NOT NULL DEFAULT '[]',
      drift jsonb,
      nhi jsonb,
      problems jsonb NOT NULL DEFAULT '[]',
      error jsonb,
      started_at timestamptz NOT NULL,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL
    );`);
    this.addSql('CREATE INDEX jml_run_started_idx ON jml_run (started_at DESC, id);');
    this.addSql('CREATE INDEX jml_run_identity_idx ON jml_run (identity_id, started_at DESC);');
    this.addSql('CREATE INDEX jml_run_status_idx ON jml_run (status, started_at DESC);');
    this.addSql('GRANT SELECT, INSERT ON jml_run TO gatehouse_app;');
    this.addSql('GRANT UPDATE (kind, status, policy_version_hash, steps, drift, nhi, problems, error, finished_at, updated_at) ON jml_run TO gatehouse_app;');
  }
}
