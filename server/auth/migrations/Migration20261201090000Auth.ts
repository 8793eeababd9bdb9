// Sign-in: Gatehouse users, sessions, API tokens, one-time admin links, sign-in attempts in flight
// and rate-limit counters. Every secret (session cookie, token, link) is stored as its SHA-256 only.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261201090000Auth extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE gatehouse_user (
      id uuid PRIMARY KEY,
      issuer text NOT NULL,
      subject text NOT NULL,
      email text,
      display_name text,
      roles text[] NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      last_sign_in_at timestamptz,
      disabled_at timestamptz,
      disabled_by text,
      CONSTRAINT gatehouse_user_issuer_subject_key UNIQUE (issuer, subject)
    );`);
    this.addSql('GRANT SELECT, INSERT, UPDATE ON gatehouse_user TO gatehouse_app;');

    this.addSql(`CREATE TABLE auth_session (
      id uuid PRIMARY KEY,
      token_hash text NOT NULL UNIQUE,
      user_id uuid NOT NULL REFERENCES gatehouse_user (id),
      roles text[] NOT NULL,
      method text NOT NULL CHECK (method IN ('oidc', 'bootstrap-link')),
      provider text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz
    );`);
    this.addSql('CREATE INDEX auth_session_user_idx ON auth_session (user_id) WHERE revoked_at IS NULL;');
    this.addSql('CREATE INDEX auth_session_expires_idx ON auth_session (expires_at);');
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON auth_session TO gatehouse_app;');

    this.addSql(`CREATE TABLE api_token (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      token_hash text NOT NULL UNIQUE,
      hint text NOT NULL,
      scopes text[] NOT NULL CHECK (cardinality(scopes) > 0),
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      last_used_at timestamptz,
      revoked_at timestamptz,
      revoked_by text
    );`);
    // Revocation is an update: a token's record outlives it, for the audit trail.
    this.addSql('GRANT SELECT, INSERT, UPDATE ON api_token TO gatehouse_app;');

    this.addSql(`CREATE TABLE auth_bootstrap_link (
      id uuid PRIMARY KEY,
      token_hash text NOT NULL UNIQUE,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    );`);
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON auth_bootstrap_link TO gatehouse_app;');

    this.addSql(`CREATE TABLE auth_sign_in_attempt (
      id_hash text PRIMARY KEY,
      provider text NOT NULL,
      return_to text NOT NULL,
      sealed_state text NOT NULL,
      expires_at timestamptz NOT NULL
    );`);
    this.addSql('GRANT SELECT, INSERT, DELETE ON auth_sign_in_attempt TO gatehouse_app;');

    this.addSql(`CREATE TABLE auth_rate_limit (
      key text PRIMARY KEY,
      hits integer NOT NULL,
      reset_at timestamptz NOT NULL
    );`);
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON auth_rate_limit TO gatehouse_app;');
  }
}
