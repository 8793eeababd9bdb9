// Credentials Gatehouse manages (its connectors' own logins and the service-account credentials it
// rotates), their owners and owner history, and what the inventory discovers through connectors.
// Never a secret value: the path and version in Vault, and metadata.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261205000000Credentials extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE credential (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9-]{1,62}$'),
      kind text NOT NULL CHECK (kind IN ('connector-login', 'service-account')),
      description text,
      connector_id uuid NOT NULL REFERENCES connector_instance (id),
      account_uid text,
      account_name text,
      secret_path text NOT NULL,
      secret_field text NOT NULL,
      secret_version integer CHECK (secret_version > 0),
      secret_updated_at timestamptz,
      target_credential_id text,
      owners jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(owners) = 'array'),
      orphaned_at timestamptz,
      max_age_days integer CHECK (max_age_days BETWEEN 1 AND 3650),
      consumers jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(consumers) = 'array'),
      privileged boolean NOT NULL DEFAULT false,
      rotation_workflow_id text,
      rotation_run_id text,
      last_rotation jsonb,
      revision integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT credential_account CHECK (
        (kind = 'connector-login' AND account_uid IS NULL)
        OR (kind = 'service-account' AND (account_uid IS NOT NULL OR account_name IS NOT NULL))
      ),
      CONSTRAINT credential_secret_path CHECK (
        (kind = 'connector-login' AND secret_path = 'gatehouse/connectors/' || connector_id::text)
        OR (kind = 'service-account' AND secret_path = 'gatehouse/credentials/' || id::text)
      )
    );`);
    this.addSql(`COMMENT ON COLUMN credential.secret_version IS 'service accounts: the Vault version in use; connector logins use connector_instance.secret_version';`);
    this.addSql('CREATE UNIQUE INDEX credential_connector_login_key ON credential (connector_id) WHERE kind = \'connector-login\';');
    this.addSql('CREATE UNIQUE INDEX credential_account_key ON credential (connector_id, account_uid) WHERE account_uid IS NOT NULL;');
    this.addSql('CREATE INDEX credential_owners_idx ON credential USING gin (owners jsonb_path_ops);');
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON credential TO gatehouse_app;');

    // Every owner change, so a leaver's hand-over can be found again (and is idempotent).
    this.addSql(`CREATE TABLE credential_owner_change (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      credential_id uuid NOT NULL REFERENCES credential (id) ON DELETE CASCADE,
      from_owner jsonb,
      to_owner jsonb,
      reason text NOT NULL CHECK (reason IN ('assigned', 'removed', 'leaver')),
      actor text NOT NULL,
      changed_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql('CREATE INDEX credential_owner_change_from_idx ON credential_owner_change USING gin (from_owner jsonb_path_ops);');
    this.addSql('GRANT SELECT, INSERT ON credential_owner_change TO gatehouse_app;');

    // Each step a rotation has recorded in the ledger, so a retried activity records it once; the
    // decision's effect is kept, so the apply step can check an allow decision is on record first.
    this.addSql(`CREATE TABLE credential_rotation_step (
      change_id uuid NOT NULL,
      step text NOT NULL,
      workflow_id text NOT NULL,
      credential_id uuid NOT NULL,
      details jsonb NOT NULL DEFAULT '{}'::jsonb,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (change_id, step)
    );`);
    this.addSql('GRANT SELECT, INSERT ON credential_rotation_step TO gatehouse_app;');

    // Accounts a connector reported at its last inventory scan: metadata only, replaced per scan.
    this.addSql(`CREATE TABLE discovered_account (
      connector_id uuid NOT NULL REFERENCES connector_instance (id) ON DELETE CASCADE,
      uid text NOT NULL,
      name text NOT NULL,
      enabled boolean,
      privileged boolean NOT NULL DEFAULT false,
      entitlements jsonb NOT NULL DEFAULT '[]'::jsonb,
      credentials jsonb NOT NULL DEFAULT '[]'::jsonb,
      created_at timestamptz,
      last_login_at timestamptz,
      person jsonb,
      scan_id uuid NOT NULL,
      seen_at timestamptz NOT NULL,
      PRIMARY KEY (connector_id, uid)
    );`);
    this.addSql(`COMMENT ON COLUMN discovered_account.person IS 'the SCIM user the account was matched to (a human account), or null (a non-human identity)';`);
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON discovered_account TO gatehouse_app;');

    this.addSql(`CREATE TABLE inventory_scan (
      connector_id uuid PRIMARY KEY REFERENCES connector_instance (id) ON DELETE CASCADE,
      scan_id uuid NOT NULL,
      status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'unsupported')),
      accounts integer NOT NULL DEFAULT 0,
      error text,
      scanned_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON inventory_scan TO gatehouse_app;');

    // Secrets found under Gatehouse's Vault paths at the last scan that no connector or credential refers to.
    this.addSql(`CREATE TABLE discovered_secret (
      path text PRIMARY KEY,
      current_version integer NOT NULL,
      created_at timestamptz,
      updated_at timestamptz,
      scan_id uuid NOT NULL,
      seen_at timestamptz NOT NULL
    );`);
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON discovered_secret TO gatehouse_app;');

    // Connectors configured before credentials were tracked: their logins become credentials now.
    this.addSql(`INSERT INTO credential (id, name, kind, connector_id, secret_path, secret_field, secret_updated_at)
      SELECT gen_random_uuid(), left(c.name, 57) || '-login', 'connector-login', c.id, c.secret_path,
             CASE WHEN c.type = 'ldap' THEN 'bindPassword' WHEN 'token' = ANY (c.secret_fields) THEN 'token' ELSE 'password' END,
             c.updated_at
        FROM connector_instance c WHERE c.secret_version IS NOT NULL;`);
  }
}
