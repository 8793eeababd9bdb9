// Admin changes that wait for approval before they take effect (issue 12, item 8): what was asked,
// by whom, under which policy version and stages, and how the approval gate closed. The gate's
// events are recorded once each (admin_change_event, by change id and sequence number).
import { Migration } from '@mikro-orm/migrations';

export class Migration20261207210000AdminChanges extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE admin_change (
      id uuid PRIMARY KEY,
      action text NOT NULL CHECK (action IN ('publish-policy')),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'denied', 'expired', 'cancelled', 'failed')),
      payload jsonb NOT NULL,
      payload_hash text NOT NULL CHECK (payload_hash ~ '^[0-9a-f]{64}$'),
      summary text NOT NULL,
      proposed_by_kind text NOT NULL,
      proposed_by_id text NOT NULL,
      proposed_by_name text,
      policy_name text NOT NULL,
      policy_version_hash text NOT NULL,
      reasons jsonb NOT NULL,
      stages jsonb NOT NULL,
      participants jsonb NOT NULL,
      workflow_id text NOT NULL,
      current_stage_index integer NOT NULL DEFAULT 0,
      current_stage text,
      stage_started_at timestamptz NOT NULL,
      escalated boolean NOT NULL DEFAULT false,
      decisions jsonb NOT NULL DEFAULT '[]',
      closing_reason text,
      result jsonb,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      closed_at timestamptz
    );`);
    this.addSql("CREATE INDEX admin_change_pending_idx ON admin_change (created_at) WHERE status = 'pending';");
    this.addSql('CREATE INDEX admin_change_created_idx ON admin_change (created_at DESC, id);');
    this.addSql('GRANT SELECT, INSERT, UPDATE ON admin_change TO gatehouse_app;');
    this.addSql(`CREATE TABLE admin_change_event (
      change_id uuid NOT NULL REFERENCES admin_change (id),
      seq integer NOT NULL,
      kind text NOT NULL,
      stage text,
      actor_id text,
      reason text,
      at timestamptz NOT NULL,
      PRIMARY KEY (change_id, seq)
    );`);
    this.addSql('GRANT SELECT, INSERT ON admin_change_event TO gatehouse_app;');
  }
}
