// The per-change path's records: every change decided (and where it stands), the approval gate's
// requests and their events, and Gatehouse's record of assignments: which identity holds which
// account and entitlement on which connector. The ledger is the authority on what was decided and
// approved; these tables are what the API lists and what the next decision reads.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261206100000AccessChanges extends Migration {
  override async up(): Promise<void> {
    // change is the change as decided (connector name and subject attributes filled in by Gatehouse);
    // input_hash identifies what the caller asked for, so asking again under the same id is recognised.
    this.addSql(`CREATE TABLE access_change (
      id uuid PRIMARY KEY,
      change jsonb NOT NULL,
      change_hash text NOT NULL CHECK (change_hash ~ '^[0-9a-f]{64}$'),
      input_hash text NOT NULL CHECK (input_hash ~ '^[0-9a-f]{64}$'),
      kind text NOT NULL,
      subject_type text NOT NULL,
      subject_id text NOT NULL,
      connector_id text NOT NULL,
      entitlement_id text,
      source text NOT NULL,
      requester_kind text NOT NULL,
      requester_id text NOT NULL,
      status text NOT NULL CHECK (status IN ('allowed', 'denied', 'awaiting-approval', 'approved', 'rejected', 'expired', 'cancelled', 'applied', 'failed', 'compensated')),
      decision jsonb NOT NULL,
      held_entitlements jsonb NOT NULL,
      participants jsonb,
      policy_name text NOT NULL,
      policy_version_hash text NOT NULL,
      workflow_id text NOT NULL,
      result jsonb,
      error jsonb,
      decided_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    );`);
    this.addSql('CREATE INDEX access_change_subject_idx ON access_change (subject_type, subject_id, decided_at DESC);');
    this.addSql('CREATE INDEX access_change_status_idx ON access_change (status, decided_at DESC);');
    this.addSql('GRANT SELECT, INSERT ON access_change TO gatehouse_app;');
    // The decision and the change it decided never change once recorded.
    this.addSql('GRANT UPDATE (status, result, error, updated_at) ON access_change TO gatehouse_app;');

    this.addSql(`CREATE TABLE access_request (
      id uuid PRIMARY KEY REFERENCES access_change (id),
      workflow_id text NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
      kind text NOT NULL,
      subject_id text NOT NULL,
      subject_type text NOT NULL,
      requester_kind text NOT NULL,
      requester_id text NOT NULL,
      connector_id text NOT NULL,
      entitlement_id text,
      change jsonb NOT NULL,
      policy_name text NOT NULL,
      policy_version_hash text NOT NULL,
      reasons jsonb NOT NULL,
      sod_conflicts jsonb NOT NULL DEFAULT '[]',
      stages jsonb NOT NULL,
      participants jsonb NOT NULL,
      current_stage_index integer NOT NULL DEFAULT 0,
      current_stage text,
      stage_started_at timestamptz NOT NULL,
      escalated boolean NOT NULL DEFAULT false,
      decisions jsonb NOT NULL DEFAULT '[]',
      closing_reason text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      closed_at timestamptz
    );`);
    this.addSql("CREATE INDEX access_request_pending_idx ON access_request (created_at) WHERE status = 'pending';");
    this.addSql('CREATE INDEX access_request_subject_idx ON access_request (subject_id, created_at DESC);');
    this.addSql('CREATE INDEX access_request_requester_idx ON access_request (requester_id, created_at DESC);');
    this.addSql('CREATE INDEX access_request_status_idx ON access_request (status, created_at DESC);');
    this.addSql('GRANT SELECT, INSERT ON access_request TO gatehouse_app;');
    this.addSql(`GRANT UPDATE (status, current_stage_index, current_stage, stage_started_at, escalated, decisions, closing_reason, updated_at, closed_at)
      ON access_request TO gatehouse_app;`);

    // One row per gate event: recording an event twice (a retried activity) finds its row.
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
    this.addSql('GRANT SELECT, INSERT ON access_request_event TO gatehouse_app;');

    this.addSql(`CREATE TABLE identity_account (
      connector_id uuid NOT NULL REFERENCES connector_instance (id) ON DELETE CASCADE,
      subject_type text NOT NULL CHECK (subject_type IN ('human', 'nhi')),
      subject_id text NOT NULL,
      directory_id text,
      account_uid text NOT NULL,
      account_name text,
      enabled boolean NOT NULL DEFAULT true,
      change_id uuid NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (connector_id, subject_type, subject_id)
    );`);
    this.addSql('CREATE UNIQUE INDEX identity_account_uid_key ON identity_account (connector_id, account_uid);');
    this.addSql('CREATE INDEX identity_account_subject_idx ON identity_account (subject_type, subject_id);');
    this.addSql(`CREATE TABLE identity_entitlement (
      connector_id uuid NOT NULL REFERENCES connector_instance (id) ON DELETE CASCADE,
      subject_type text NOT NULL CHECK (subject_type IN ('human', 'nhi')),
      subject_id text NOT NULL,
      entitlement_id text NOT NULL,
      entitlement_uid text,
      account_uid text NOT NULL,
      change_id uuid NOT NULL,
      granted_at timestamptz NOT NULL,
      PRIMARY KEY (connector_id, subject_type, subject_id, entitlement_id)
    );`);
    this.addSql('CREATE INDEX identity_entitlement_subject_idx ON identity_entitlement (subject_type, subject_id);');
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON identity_account, identity_entitlement TO gatehouse_app;');
  }
}
