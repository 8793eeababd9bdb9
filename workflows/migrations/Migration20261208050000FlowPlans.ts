// A run's plan: what it would write (counts per situation and a digest of every record's diff),
// whether it needs a person's approval and why, and the decision. Kept on the run; the ledger has
// each proposal, decision and drift (`flow.plan.*`).
import { Migration } from '@mikro-orm/migrations';

export class Migration20261208050000FlowPlans extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE flow_run ADD COLUMN plan jsonb;');
    this.addSql(`COMMENT ON COLUMN flow_run.plan IS 'state (awaiting-approval, approved, not-needed, rejected, expired), digest, counts, reasons, and who decided; never a record';`);
  }
}
