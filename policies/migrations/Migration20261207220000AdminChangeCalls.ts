// Admin changes that are API calls (creating API tokens and SCIM tokens, changing connectors): approved at the gate, then
// made by their proposer, who sends the same call again naming the admin change; 'approved' is the
// state between.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261207220000AdminChangeCalls extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE admin_change DROP CONSTRAINT admin_change_action_check;');
    this.addSql("ALTER TABLE admin_change ADD CONSTRAINT admin_change_action_check CHECK (action IN ('publish-policy', 'create-api-token', 'create-scim-token', 'change-connector'));");
    this.addSql('ALTER TABLE admin_change DROP CONSTRAINT admin_change_status_check;');
    this.addSql("ALTER TABLE admin_change ADD CONSTRAINT admin_change_status_check CHECK (status IN ('pending', 'approved', 'applied', 'denied', 'expired', 'cancelled', 'failed'));");
  }
}
