// Mirror flows: the target keys a snapshot pass has seen so far (SHA-256 of each mapped record's key),
// so that at the pass's end what the target holds and the source no longer has can be deleted. A
// pass may span runs (one failed midway); the set is cleared in the transaction that records the
// pass's last page and its deletions.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261208060000FlowMirror extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE flow_mirror_seen (
      flow_name text NOT NULL,
      key_hash text NOT NULL,
      PRIMARY KEY (flow_name, key_hash)
    );`);
    this.addSql(`COMMENT ON COLUMN flow_mirror_seen.key_hash IS 'SHA-256 of a mapped record''s target key values, or ''unmapped'' when a record of the pass could not be mapped (then nothing is deleted)';`);
    this.addSql('ALTER TABLE flow_run ADD COLUMN deleted integer NOT NULL DEFAULT 0;');
    this.addSql('GRANT SELECT, INSERT, DELETE ON flow_mirror_seen TO gatehouse_app;');
  }
}
