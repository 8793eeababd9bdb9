// The LDAP Password Modify extended operation (RFC 3062). The directory hashes the new password with
// its own scheme, so Gatehouse never decides how userPassword is stored and never sends a hash.
// ldapts offers only the generic extended operation; the request value is encoded here.
import { BerWriter, type Client } from 'ldapts';

export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0], oldPasswd [1], newPasswd [2] } */
export function passwordModifyRequest(userDn: string, newPassword: string): Buffer {
  const writer = new BerWriter();
  writer.startSequence(0x30);
  writer.writeString(userDn, 0x80);
  writer.writeString(newPassword, 0x82);
  writer.endSequence();
  return writer.buffer;
}

export async function modifyPassword(client: Client, userDn: string, newPassword: string): Promise<void> {
  await client.exop(PASSWORD_MODIFY_OID, passwordModifyRequest(userDn, newPassword));
}
