// Connector instances (settings and a reference to their secrets in Vault, never a secret value) and
// the journal that makes every change through a connector idempotent by its key.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203000000Connectors extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE connector_instance (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9-]{1,62}$'),
      type text NOT NULL,
      description text,
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      secret_path text NOT NULL,
      secret_version integer CHECK (secret_version > 0),
      secret_fields text[] NOT NULL DEFAULT '{}',
      revision integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT connector_instance_secret_path CHECK (secret_path = 'gatehouse/connectors/' || id::text)
    );`);
    this.addSql(`COMMENT ON COLUMN connector_instance.secret_fields IS 'names of the secret fields held in Vault at secret_version; never their values';`);
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON connector_instance TO gatehouse_app;');

    this.addSql(`CREATE TABLE connector_operation (
      instance_id uuid NOT NULL REFERENCES connector_instance (id) ON DELETE CASCADE,
      idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
      operation text NOT NULL,
      request_hash text NOT NULL,
      status text NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
      attempts integer NOT NULL DEFAULT 1,
      outcome jsonb,
      error_code text,
      error_message text,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      PRIMARY KEY (instance_id, idempotency_key)
    );`);
    this.addSql('CREATE INDEX connector_operation_started_idx ON connector_operation (started_at DESC);');
    // Journal rows are written and moved forward, never removed by the application.
    this.addSql('GRANT SELECT, INSERT, UPDATE ON connector_operation TO gatehouse_app;');
  }
}
