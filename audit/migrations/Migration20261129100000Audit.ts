// The audit ledger's tables. Append-only is enforced here, by PostgreSQL: the application role may
// only INSERT and SELECT, and triggers that refuse UPDATE, DELETE and TRUNCATE fire ALWAYS, so not
// even a session in replication mode (session_replication_role = replica) skips them.
import { Migration } from '@mikro-orm/migrations';

const LEDGER_TABLES = ['ledger_entry', 'ledger_checkpoint', 'ledger_tree_node', 'ledger_instance'];

export class Migration20261129100000Audit extends Migration {
  override async up(): Promise<void> {
    // One row naming this ledger; the id is the origin line of every signed checkpoint, so a
    // checkpoint of one deployment cannot pass for another's.
    this.addSql(`CREATE TABLE ledger_instance (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      ledger_id uuid NOT NULL DEFAULT gen_random_uuid(),
      created_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql('INSERT INTO ledger_instance DEFAULT VALUES;');

    // `entry` is the canonical JSON (RFC 8785) the hash covers, byte for byte. `doc` is generated
    // from it for filtering, so a query can never see another actor or action than the one hashed.
    this.addSql(`CREATE TABLE ledger_entry (
      seq bigint PRIMARY KEY CHECK (seq >= 0),
      recorded_at timestamptz NOT NULL,
      prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
      hash bytea NOT NULL CHECK (octet_length(hash) = 32),
      entry text NOT NULL,
      doc jsonb GENERATED ALWAYS AS (entry::jsonb) STORED,
      CONSTRAINT ledger_entry_seq_is_entry_seq CHECK (seq = (doc ->> 'seq')::bigint),
      CONSTRAINT ledger_entry_time_is_entry_time CHECK (recorded_at = (doc ->> 'timestamp')::timestamptz)
    );`);
    this.addSql('CREATE INDEX ledger_entry_recorded_at_idx ON ledger_entry (recorded_at);');
    // Containment (@>) on actor, subject, target, action and correlation ids, in one index.
    this.addSql('CREATE INDEX ledger_entry_doc_idx ON ledger_entry USING gin (doc jsonb_path_ops);');

    // Signed tree heads: one per tree size, so two servers can never both checkpoint the same size.
    this.addSql(`CREATE TABLE ledger_checkpoint (
      tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
      root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
      signed_at timestamptz NOT NULL,
      key_name text NOT NULL,
      key_version integer NOT NULL CHECK (key_version > 0),
      body text NOT NULL,
      signature bytea NOT NULL
    );`);

    // Hashes of complete, aligned subtrees of 256 leaves and more. They never change once complete,
    // so proofs need O(log n) lookups instead of rehashing the whole ledger. A cache: verification
    // recomputes them and reports any that differ.
    this.addSql(`CREATE TABLE ledger_tree_node (
      level smallint NOT NULL CHECK (level >= 8 AND level < 63),
      idx bigint NOT NULL CHECK (idx >= 0),
      hash bytea NOT NULL CHECK (octet_length(hash) = 32),
      PRIMARY KEY (level, idx)
    );`);

    this.addSql(`CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
    END $$;`);
    for (const table of LEDGER_TABLES) {
      this.addSql(`CREATE TRIGGER ${table}_no_update_or_delete BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();`);
      this.addSql(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();`);
      this.addSql(`ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${table}_no_update_or_delete;`);
      this.addSql(`ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${table}_no_truncate;`);
      this.addSql(`REVOKE ALL ON ${table} FROM PUBLIC;`);
    }
    this.addSql('GRANT SELECT, INSERT ON ledger_entry, ledger_checkpoint, ledger_tree_node TO gatehouse_app;');
    this.addSql('GRANT SELECT ON ledger_instance TO gatehouse_app;');
    this.addSql('REVOKE ALL ON FUNCTION ledger_refuse_change() FROM PUBLIC;');
  }
}
