// Access policy versions and their publications. Both are append-only for the application: a version
// is immutable once stored (its primary key is its hash), and the policy in force is the latest
// publication, so going back to an older version is a new publication of it, and history stays.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261206090000Policies extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE policy_version (
      version_hash text PRIMARY KEY CHECK (version_hash ~ '^[0-9a-f]{64}$'),
      name text NOT NULL,
      document jsonb NOT NULL,
      source text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql(`COMMENT ON COLUMN policy_version.source IS 'the YAML as its author published it first (comments kept); document is what it means, and what the hash covers';`);
    this.addSql(`CREATE TABLE policy_publication (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      version_hash text NOT NULL REFERENCES policy_version (version_hash),
      published_at timestamptz NOT NULL DEFAULT now(),
      published_by_kind text NOT NULL,
      published_by_id text NOT NULL,
      published_by_name text,
      note text CHECK (char_length(note) <= 1000)
    );`);
    this.addSql('CREATE INDEX policy_publication_version_idx ON policy_publication (version_hash, seq DESC);');
    this.addSql('GRANT SELECT, INSERT ON policy_version, policy_publication TO gatehouse_app;');
  }
}
