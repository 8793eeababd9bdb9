// Flow runs and where each flow's source was last read. A flow's cursor moves only in the transaction
// that records the batch it covers on the ledger, so a crash between writing the target and that
// commit re-reads the page (the writes are idempotent) and nothing is skipped.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261208020000FlowRuns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE flow_state (
      flow_name text PRIMARY KEY,
      cursor text,
      updated_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql(`COMMENT ON COLUMN flow_state.cursor IS 'the source connector''s opaque read position after the last recorded batch; null reads from the start';`);
    this.addSql(`CREATE TABLE flow_run (
      id uuid PRIMARY KEY,
      flow_name text NOT NULL,
      version_hash text NOT NULL REFERENCES flow_version (version_hash),
      workflow_id text NOT NULL,
      status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      started_at timestamptz NOT NULL DEFAULT now(),
      ended_at timestamptz,
      started_by_kind text NOT NULL,
      started_by_id text NOT NULL,
      started_by_name text,
      batches integer NOT NULL DEFAULT 0,
      read integer NOT NULL DEFAULT 0,
      skipped integer NOT NULL DEFAULT 0,
      created integer NOT NULL DEFAULT 0,
      updated integer NOT NULL DEFAULT 0,
      unchanged integer NOT NULL DEFAULT 0,
      error text CHECK (char_length(error) <= 2000)
    );`);
    this.addSql('CREATE INDEX flow_run_flow_idx ON flow_run (flow_name, started_at DESC);');
    this.addSql('CREATE UNIQUE INDEX flow_run_one_running_idx ON flow_run (flow_name) WHERE status = \'running\';');
    this.addSql('GRANT SELECT, INSERT, UPDATE ON flow_state, flow_run TO gatehouse_app;');
  }
}
