// Records a flow run could not write, set aside so the rest of their page goes on. Each keeps the
// source record sealed (AES-256-GCM under the flows' own key in Vault), so a replay can run it through
// the flow again, and shows people only the redacted form (the flow's field rules applied) and why.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261208030000FlowDeadLetters extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE flow_dead_letter (
      id uuid PRIMARY KEY,
      flow_name text NOT NULL,
      run_id uuid NOT NULL REFERENCES flow_run (id),
      version_hash text NOT NULL REFERENCES flow_version (version_hash),
      stage text NOT NULL CHECK (stage IN ('map', 'write')),
      record_key text NOT NULL CHECK (record_key ~ '^[0-9a-f]{64}$'),
      error text NOT NULL CHECK (char_length(error) <= 2000),
      redacted jsonb NOT NULL,
      sealed bytea NOT NULL,
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded', 'superseded')),
      attempts integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      resolved_at timestamptz,
      resolved_by_kind text,
      resolved_by_id text,
      resolved_by_name text,
      reason text CHECK (char_length(reason) <= 1000)
    );`);
    this.addSql(`COMMENT ON COLUMN flow_dead_letter.sealed IS 'the source record, AES-256-GCM under the key at gatehouse/flows/dead-letter-key in Vault: iv (12 bytes) || tag (16) || ciphertext';`);
    this.addSql(`COMMENT ON COLUMN flow_dead_letter.record_key IS 'SHA-256 of the source record''s key values: a later version of the record written by a run supersedes it';`);
    this.addSql('CREATE INDEX flow_dead_letter_open_idx ON flow_dead_letter (flow_name, record_key) WHERE status = \'open\';');
    this.addSql('ALTER TABLE flow_run ADD COLUMN dead_lettered integer NOT NULL DEFAULT 0;');
    this.addSql('GRANT SELECT, INSERT, UPDATE ON flow_dead_letter TO gatehouse_app;');
  }
}
