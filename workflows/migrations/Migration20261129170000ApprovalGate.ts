// The approval gate's request records and their event log (which also makes recording idempotent).
import { Migration } from '@mikro-orm/migrations';

export class Migration20261129170000ApprovalGate extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE access_request (
      id uuid PRIMARY KEY,
      workflow_id text NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
      kind text NOT NULL,
      subject_id text NOT NULL,
      subject_type text NOT NULL,
      requester_id text NOT NULL,
      connector_id text NOT NULL,
      entitlement_id text,
      change jsonb NOT NULL,
      policy_name text NOT NULL,
      policy_version_hash text NOT NULL,
      reasons jsonb NOT NULL,
      stages jsonb NOT NULL,
      participants jsonb NOT NULL,
      current_stage text,
      escalated boolean NOT NULL DEFAULT false,
      decisions jsonb NOT NULL DEFAULT '[]',
      closing_reason text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      closed_at timestamptz
    );`);
    this.addSql('CREATE INDEX access_request_pending_idx ON access_request (created_at) WHERE status = \'pending\';');
    this.addSql('CREATE INDEX access_request_subject_idx ON access_request (subject_id, created_at DESC);');
    this.addSql('CREATE INDEX access_request_requester_idx ON access_request (requester_id, created_at DESC);');
    this.addSql('CREATE INDEX access_request_status_idx ON access_request (status, created_at DESC);');
    this.addSql(`CREATE TABLE access_request_event (
      request_id uuid NOT NULL REFERENCES access_request (id) DEFERRABLE INITIALLY DEFERRED,
      seq integer NOT NULL,
      kind text NOT NULL,
      stage text,
      actor_id text,
      reason text,
      at timestamptz NOT NULL,
      PRIMARY KEY (request_id, seq)
    );`);
    this.addSql('GRANT SELECT, INSERT, UPDATE ON access_request TO gatehouse_app;');
    this.addSql('GRANT SELECT, INSERT ON access_request_event TO gatehouse_app;');
  }
}
