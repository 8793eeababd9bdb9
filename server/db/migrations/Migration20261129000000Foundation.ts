// The first migration: the application role, schema privileges, and the self-check table.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261129000000Foundation extends Migration {
  override async up(): Promise<void> {
    // The role every later migration grants to. Where the owner may not create roles, the
    // operator creates it once (README: "Using your own PostgreSQL").
    this.addSql(`DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gatehouse_app') THEN
        CREATE ROLE gatehouse_app NOLOGIN;
      END IF;
    END $$;`);
    this.addSql('GRANT USAGE ON SCHEMA public TO gatehouse_app;');

    this.addSql(`CREATE TABLE system_check (
      id uuid PRIMARY KEY,
      workflow_id text NOT NULL,
      run_id text NOT NULL,
      vault_secret_version integer NOT NULL,
      secret_store text NOT NULL,
      checked_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql('CREATE INDEX system_check_checked_at_idx ON system_check (checked_at DESC);');
    this.addSql('GRANT SELECT, INSERT ON system_check TO gatehouse_app;');
  }
}
