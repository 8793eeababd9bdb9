// The SCIM tables: directories (tenants) and their tokens, users, groups, memberships, and the outbox
// of identity events. Every uniqueness constraint and lookup index starts with the directory.
// Case folding uses the pg_c_utf8 collation (PostgreSQL 17+) so that uniqueness does not depend on
// the operating system's locale data.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261130120000Scim extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE scim_directory (
      id uuid PRIMARY KEY,
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
      created_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql('CREATE UNIQUE INDEX scim_directory_name_key ON scim_directory (lower(name COLLATE pg_c_utf8));');
    this.addSql('GRANT SELECT, INSERT ON scim_directory TO gatehouse_app;');

    // token_hash is SHA-256 of a 256-bit random token; the token itself is never stored.
    this.addSql(`CREATE TABLE scim_directory_token (
      id uuid PRIMARY KEY,
      directory_id uuid NOT NULL REFERENCES scim_directory (id),
      token_hash bytea NOT NULL CHECK (octet_length(token_hash) = 32),
      hint text NOT NULL,
      label text CHECK (char_length(label) <= 200),
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );`);
    this.addSql('CREATE UNIQUE INDEX scim_directory_token_hash_key ON scim_directory_token (token_hash);');
    this.addSql('CREATE INDEX scim_directory_token_directory_idx ON scim_directory_token (directory_id);');
    this.addSql('GRANT SELECT, INSERT ON scim_directory_token TO gatehouse_app;');
    this.addSql('GRANT UPDATE (last_used_at, revoked_at) ON scim_directory_token TO gatehouse_app;');

    // resource holds every stored attribute exactly as sent (canonical names); the columns derived
    // from it are what the indexes and the filter translator's fast paths use.
    this.addSql(`CREATE TABLE scim_user (
      id uuid PRIMARY KEY,
      directory_id uuid NOT NULL REFERENCES scim_directory (id),
      seq bigint GENERATED ALWAYS AS IDENTITY,
      resource jsonb NOT NULL CHECK (jsonb_typeof(resource) = 'object'),
      user_name text NOT NULL GENERATED ALWAYS AS (resource->>'userName') STORED,
      external_id text GENERATED ALWAYS AS (resource->>'externalId') STORED,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL,
      last_modified timestamptz NOT NULL
    );`);
    this.addSql('CREATE UNIQUE INDEX scim_user_user_name_key ON scim_user (directory_id, lower(user_name COLLATE pg_c_utf8));');
    this.addSql('CREATE INDEX scim_user_external_id_idx ON scim_user (directory_id, external_id);');
    this.addSql('CREATE UNIQUE INDEX scim_user_listing_idx ON scim_user (directory_id, seq) INCLUDE (id);');
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON scim_user TO gatehouse_app;');

    this.addSql(`CREATE TABLE scim_group (
      id uuid PRIMARY KEY,
      directory_id uuid NOT NULL REFERENCES scim_directory (id),
      seq bigint GENERATED ALWAYS AS IDENTITY,
      resource jsonb NOT NULL CHECK (jsonb_typeof(resource) = 'object'),
      display_name text NOT NULL GENERATED ALWAYS AS (resource->>'displayName') STORED,
      external_id text GENERATED ALWAYS AS (resource->>'externalId') STORED,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL,
      last_modified timestamptz NOT NULL,
      UNIQUE (directory_id, id)
    );`);
    this.addSql('CREATE INDEX scim_group_display_name_idx ON scim_group (directory_id, lower(display_name COLLATE pg_c_utf8));');
    this.addSql('CREATE INDEX scim_group_external_id_idx ON scim_group (directory_id, external_id);');
    this.addSql('CREATE UNIQUE INDEX scim_group_listing_idx ON scim_group (directory_id, seq) INCLUDE (id);');
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON scim_group TO gatehouse_app;');

    // A member is a User or a Group of the same directory (checked by the service: a foreign key
    // cannot point at two tables); display is kept as the client sent it.
    this.addSql(`CREATE TABLE scim_group_member (
      directory_id uuid NOT NULL,
      group_id uuid NOT NULL,
      member_id uuid NOT NULL,
      member_type text NOT NULL CHECK (member_type IN ('User', 'Group')),
      display text,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      PRIMARY KEY (group_id, member_id),
      FOREIGN KEY (directory_id, group_id) REFERENCES scim_group (directory_id, id) ON DELETE CASCADE
    );`);
    this.addSql('CREATE INDEX scim_group_member_member_idx ON scim_group_member (member_id);');
    this.addSql('CREATE INDEX scim_group_member_listing_idx ON scim_group_member (group_id, seq);');
    this.addSql('GRANT SELECT, INSERT, DELETE ON scim_group_member TO gatehouse_app;');
    this.addSql('GRANT UPDATE (display) ON scim_group_member TO gatehouse_app;');

    // Identity events, written in the same transaction as the change. The dispatcher may only mark
    // delivery progress; the event itself cannot be altered.
    this.addSql(`CREATE TABLE scim_outbox (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id uuid NOT NULL,
      directory_id uuid NOT NULL REFERENCES scim_directory (id),
      identity_key text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('created', 'updated', 'deactivated', 'reactivated', 'deleted')),
      payload jsonb NOT NULL,
      occurred_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      available_at timestamptz NOT NULL DEFAULT now(),
      last_error text,
      delivered_at timestamptz
    );`);
    this.addSql('CREATE INDEX scim_outbox_pending_idx ON scim_outbox (seq) WHERE delivered_at IS NULL;');
    this.addSql('CREATE INDEX scim_outbox_identity_pending_idx ON scim_outbox (identity_key, seq) WHERE delivered_at IS NULL;');
    this.addSql('CREATE INDEX scim_outbox_delivered_idx ON scim_outbox (delivered_at) WHERE delivered_at IS NOT NULL;');
    this.addSql('GRANT SELECT, INSERT, DELETE ON scim_outbox TO gatehouse_app;');
    this.addSql('GRANT UPDATE (attempts, available_at, last_error, delivered_at) ON scim_outbox TO gatehouse_app;');
  }
}
