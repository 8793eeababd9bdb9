// Sync flow versions and their publications, as for policy: a version is immutable once stored (its
// primary key is its hash), and a flow's version in force is its latest publication, so going back
// is a new publication of an older version and history stays.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261208010000Flows extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE flow_version (
      version_hash text PRIMARY KEY CHECK (version_hash ~ '^[0-9a-f]{64}$'),
      name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      document jsonb NOT NULL,
      source text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql(`COMMENT ON COLUMN flow_version.source IS 'the YAML as its author published it first (comments kept); document is what it means, and what the hash covers';`);
    this.addSql(`CREATE TABLE flow_publication (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      flow_name text NOT NULL,
      version_hash text NOT NULL REFERENCES flow_version (version_hash),
      published_at timestamptz NOT NULL DEFAULT now(),
      published_by_kind text NOT NULL,
      published_by_id text NOT NULL,
      published_by_name text,
      note text CHECK (char_length(note) <= 1000)
    );`);
    this.addSql('CREATE INDEX flow_publication_name_idx ON flow_publication (flow_name, seq DESC);');
    this.addSql('GRANT SELECT, INSERT ON flow_version, flow_publication TO gatehouse_app;');
  }
}
