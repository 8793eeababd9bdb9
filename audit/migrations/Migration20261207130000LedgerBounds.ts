// The application role may insert checkpoints and stored subtrees (the checkpointer runs as it), so
// what it inserts is bounded by the ledger itself: a checkpoint covers no more entries than the
// ledger holds and more than the newest checkpoint, and a stored subtree lies within the ledger. One
// checkpoint row with a huge tree size used to stop signed checkpoints for good (every later size is
// smaller, and a size is signed once); a subtree stored ahead of its entries would be taken as theirs.
import { Migration } from '@mikro-orm/migrations';

/** The function's body as this migration made it (Migration20261207230000LedgerHashes replaced it with LEDGER_CHECKS_BODY, which `audit verify` checks). */
export const LEDGER_BOUNDS_BODY = `
    DECLARE
      head bigint := (SELECT coalesce(max(seq) + 1, 0) FROM ledger_entry);
      newest bigint;
    BEGIN
      IF TG_TABLE_NAME = 'ledger_checkpoint' THEN
        newest := (SELECT coalesce(max(tree_size), 0) FROM ledger_checkpoint);
        IF NEW.tree_size > head OR NEW.tree_size <= newest THEN
          RAISE EXCEPTION 'a ledger checkpoint must cover more entries than the newest (%) and no more than the ledger holds (%): % refused', newest, head, NEW.tree_size
            USING ERRCODE = 'check_violation';
        END IF;
      ELSIF (NEW.idx + 1) * (2::numeric ^ NEW.level) > head THEN
        RAISE EXCEPTION 'a stored ledger subtree must lie within the % entries the ledger holds: level %, index % refused', head, NEW.level, NEW.idx
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END `;

export class Migration20261207130000LedgerBounds extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE FUNCTION ledger_check_bounds() RETURNS trigger LANGUAGE plpgsql AS $$${LEDGER_BOUNDS_BODY}$$;`);
    for (const table of ['ledger_checkpoint', 'ledger_tree_node']) {
      this.addSql(`CREATE TRIGGER ${table}_within_ledger BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ledger_check_bounds();`);
      this.addSql(`ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${table}_within_ledger;`);
    }
    this.addSql('REVOKE ALL ON FUNCTION ledger_check_bounds() FROM PUBLIC;');
  }
}
