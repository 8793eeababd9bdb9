// Whether Gatehouse has started before: the one-time admin sign-in link is printed on the very first
// start only (later, `gatehouse sign-in-link` prints one when asked), so that restarts do not keep
// putting admin-granting links into console logs. One row, claimed by the first replica to start.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261207120000FirstStart extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE auth_first_start (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      started_at timestamptz NOT NULL DEFAULT now()
    );`);
    this.addSql('GRANT SELECT, INSERT ON auth_first_start TO gatehouse_app;');
    // A Gatehouse that has run before (someone signed in, or a link was issued) had its first start.
    this.addSql(`INSERT INTO auth_first_start (singleton)
      SELECT true WHERE EXISTS (SELECT 1 FROM gatehouse_user) OR EXISTS (SELECT 1 FROM auth_bootstrap_link);`);
  }
}
