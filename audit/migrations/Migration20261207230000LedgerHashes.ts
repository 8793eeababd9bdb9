// What the application role inserts into the ledger's checkpoint and subtree tables must also be
// true (issue 12, item 7): a checkpoint's root hash is the RFC 9162 root of the ledger's first
// tree_size entries, and a stored subtree's hash is the root of the entries it covers, both computed
// here from the entries (and from stored subtrees, which were checked the same way when stored). A
// forged subtree would otherwise corrupt every later root, and a forged root would sit beside the
// real ones until `audit verify` ran. Signatures cannot be checked in PostgreSQL (no Ed25519 without
// an extension): `audit verify` checks them.
import { Migration } from '@mikro-orm/migrations';

/** RFC 9162's MTH over leaves[lo, hi) of an array of leaf hashes (0-based bounds, 1-based array). */
export const LEDGER_LEAVES_ROOT_BODY = `
    DECLARE
      n integer := hi - lo;
      k integer := 1;
    BEGIN
      IF n = 1 THEN
        RETURN leaves[lo + 1];
      END IF;
      WHILE k * 2 < n LOOP
        k := k * 2;
      END LOOP;
      RETURN sha256(decode('01', 'hex') || ledger_leaves_root(leaves, lo, lo + k) || ledger_leaves_root(leaves, lo + k, hi));
    END `;

/** The root of the ledger's entries [lo, hi): stored subtrees where present, otherwise from entry hashes; NULL when entries are missing. */
export const LEDGER_SUBTREE_HASH_BODY = `
    DECLARE
      n bigint := hi - lo;
      k bigint := 1;
      m bigint;
      lvl integer := 0;
      stored bytea;
      leaves bytea[];
    BEGIN
      IF n <= 0 THEN
        RETURN NULL;
      END IF;
      IF n >= 256 AND (n & (n - 1)) = 0 AND lo % n = 0 THEN
        m := n;
        WHILE m > 1 LOOP
          m := m >> 1;
          lvl := lvl + 1;
        END LOOP;
        SELECT t.hash INTO stored FROM ledger_tree_node t WHERE t.level = lvl AND t.idx = lo / n;
        IF stored IS NOT NULL THEN
          RETURN stored;
        END IF;
      END IF;
      IF n <= 256 THEN
        SELECT array_agg(sha256(decode('00', 'hex') || e.hash) ORDER BY e.seq) INTO leaves FROM ledger_entry e WHERE e.seq >= lo AND e.seq < hi;
        IF coalesce(array_length(leaves, 1), 0) <> n THEN
          RETURN NULL;
        END IF;
        RETURN ledger_leaves_root(leaves, 0, n::integer);
      END IF;
      WHILE k * 2 < n LOOP
        k := k * 2;
      END LOOP;
      RETURN sha256(decode('01', 'hex') || ledger_subtree_hash(lo, lo + k) || ledger_subtree_hash(lo + k, hi));
    END `;

/** The bounds of LedgerBounds, then the hashes; frozen with this migration, and `audit verify` checks the database runs exactly it. */
export const LEDGER_CHECKS_BODY = `
    DECLARE
      head bigint := (SELECT coalesce(max(seq) + 1, 0) FROM ledger_entry);
      newest bigint;
      width bigint;
    BEGIN
      IF TG_TABLE_NAME = 'ledger_checkpoint' THEN
        newest := (SELECT coalesce(max(tree_size), 0) FROM ledger_checkpoint);
        IF NEW.tree_size > head OR NEW.tree_size <= newest THEN
          RAISE EXCEPTION 'a ledger checkpoint must cover more entries than the newest (%) and no more than the ledger holds (%): % refused', newest, head, NEW.tree_size
            USING ERRCODE = 'check_violation';
        END IF;
        IF ledger_subtree_hash(0, NEW.tree_size) IS DISTINCT FROM NEW.root_hash THEN
          RAISE EXCEPTION 'a ledger checkpoint''s root hash must be the root of the ledger''s first % entries: refused', NEW.tree_size
            USING ERRCODE = 'check_violation';
        END IF;
      ELSE
        IF (NEW.idx + 1) * (2::numeric ^ NEW.level) > head THEN
          RAISE EXCEPTION 'a stored ledger subtree must lie within the % entries the ledger holds: level %, index % refused', head, NEW.level, NEW.idx
            USING ERRCODE = 'check_violation';
        END IF;
        width := 1::bigint << NEW.level;
        IF ledger_subtree_hash(NEW.idx * width, (NEW.idx + 1) * width) IS DISTINCT FROM NEW.hash THEN
          RAISE EXCEPTION 'a stored ledger subtree''s hash must be the root of the entries it covers: level %, index % refused', NEW.level, NEW.idx
            USING ERRCODE = 'check_violation';
        END IF;
      END IF;
      RETURN NEW;
    END `;

export class Migration20261207230000LedgerHashes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE FUNCTION ledger_leaves_root(leaves bytea[], lo integer, hi integer) RETURNS bytea LANGUAGE plpgsql IMMUTABLE STRICT AS $$${LEDGER_LEAVES_ROOT_BODY}$$;`);
    this.addSql(`CREATE FUNCTION ledger_subtree_hash(lo bigint, hi bigint) RETURNS bytea LANGUAGE plpgsql STABLE STRICT AS $$${LEDGER_SUBTREE_HASH_BODY}$$;`);
    this.addSql(`CREATE OR REPLACE FUNCTION ledger_check_bounds() RETURNS trigger LANGUAGE plpgsql AS $$${LEDGER_CHECKS_BODY}$$;`);
    const helpers = 'ledger_leaves_root(bytea[], integer, integer), ledger_subtree_hash(bigint, bigint)';
    this.addSql(`REVOKE ALL ON FUNCTION ${helpers} FROM PUBLIC;`);
    this.addSql(`GRANT EXECUTE ON FUNCTION ${helpers} TO gatehouse_app;`);
  }
}
