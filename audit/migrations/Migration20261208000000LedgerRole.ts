// Checkpoints and stored subtrees are written by their own role, gatehouse_ledger, which the
// checkpointer connects as; the application role only reads them. Before, a SQL injection in any of
// the application's queries, or its leaked connection string, could insert a checkpoint row with
// the right root and a forged signature (PostgreSQL cannot check an Ed25519 signature), so a bad
// checkpoint would stand where the real one should be until `audit verify` ran. The bounds and root
// checks (ledger_check_bounds) still apply to what gatehouse_ledger inserts.
import { Migration } from '@mikro-orm/migrations';

export const LEDGER_ROLE = 'gatehouse_ledger';

export class Migration20261208000000LedgerRole extends Migration {
  override async up(): Promise<void> {
    // As for gatehouse_app: where the owner may not create roles, the operator creates it once
    // (README: "Using your own PostgreSQL").
    this.addSql(`DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${LEDGER_ROLE}') THEN
        CREATE ROLE ${LEDGER_ROLE} NOLOGIN;
      END IF;
    END $$;`);
    this.addSql(`GRANT USAGE ON SCHEMA public TO ${LEDGER_ROLE};`);
    this.addSql(`GRANT SELECT ON ledger_entry, ledger_instance TO ${LEDGER_ROLE};`);
    this.addSql(`GRANT SELECT, INSERT ON ledger_checkpoint, ledger_tree_node TO ${LEDGER_ROLE};`);
    this.addSql(`GRANT EXECUTE ON FUNCTION ledger_leaves_root(bytea[], integer, integer), ledger_subtree_hash(bigint, bigint) TO ${LEDGER_ROLE};`);
    this.addSql('REVOKE INSERT ON ledger_checkpoint, ledger_tree_node FROM gatehouse_app;');
  }
}
