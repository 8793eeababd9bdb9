// Access changes a flow run handed to the gate: a record written to a class that grants access (a
// connector's memberships) becomes an AccessChange of its own, decided, approved where policy says and
// applied by its own workflow (`flow-change:<change id>`), so one waiting for approval never holds up
// the rest of the run. This table ties each change to the run and the record that proposed it; where
// the change stands is the change's own record (access_change).
import { Migration } from '@mikro-orm/migrations';

export class Migration20261208040000FlowChanges extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE flow_change (
      change_id uuid PRIMARY KEY,
      flow_name text NOT NULL,
      run_id uuid NOT NULL,
      record_key text NOT NULL CHECK (record_key ~ '^[0-9a-f]{64}$'),
      created_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql(`COMMENT ON COLUMN flow_change.run_id IS 'the flow run that proposed it, or the dead letter whose replay did';`);
    this.addSql('CREATE INDEX flow_change_run_idx ON flow_change (run_id);');
    this.addSql('ALTER TABLE flow_run ADD COLUMN access_changes integer NOT NULL DEFAULT 0;');
    this.addSql('GRANT SELECT, INSERT ON flow_change TO gatehouse_app;');
  }
}
