// Every SCIM change is a ledger entry: the outbox row remembers the ledger sequence number of its
// entry, and the recorder picks up the rows that have none yet.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261204000000ScimLedger extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE scim_outbox ADD COLUMN ledger_seq bigint;');
    this.addSql('CREATE INDEX scim_outbox_unrecorded_idx ON scim_outbox (seq) WHERE ledger_seq IS NULL;');
    this.addSql('GRANT UPDATE (ledger_seq) ON scim_outbox TO gatehouse_app;');
  }
}
