// Which OpenID issuers vouch for the people of a directory (issue 12, item 1). A person who signs in
// is linked to identities only in the directories that name their issuer, so an identity provider
// holding one directory's SCIM token cannot make someone an approver, an owner or a requester in
// another. Existing directories name none: their people are linked again once an admin names the
// issuer (PATCH /api/directories/{id}).
import { Migration } from '@mikro-orm/migrations';

export class Migration20261207150000DirectorySignIn extends Migration {
  override async up(): Promise<void> {
    this.addSql(`ALTER TABLE scim_directory ADD COLUMN sign_in_issuers text[] NOT NULL DEFAULT '{}'
      CHECK (cardinality(sign_in_issuers) <= 10);`);
    this.addSql('GRANT UPDATE (sign_in_issuers) ON scim_directory TO gatehouse_app;');
  }
}
