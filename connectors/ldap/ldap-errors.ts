// LDAP failures as the SPI's named errors, by LDAP result code (RFC 4511 §4.1.9) and by the network
// error the client reports before the directory answered.
import { ResultCodeError } from 'ldapts';
import { AlreadyExists, ConnectionFailed, ConnectorError, InvalidCredential, PermissionDenied, Rejected, Retryable, UnknownUid } from '../spi/errors.js';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const LOST = new Set(['ECONNRESET', 'EPIPE']);

export function translateLdapError(err: unknown, action: string, label: string): unknown {
  if (err instanceof ConnectorError) return err;
  const msg = (reason: string) => `${label}: ${action} failed: ${reason}`;
  if (err instanceof ResultCodeError) {
    const details = { ldapResultCode: err.code };
    const reason = `${err.message.split('\n')[0]} (LDAP ${err.code})`;
    switch (err.code) {
      case 49: // invalidCredentials
      case 48: // inappropriateAuthentication
        return new InvalidCredential(msg(reason), { details });
      case 50: // insufficientAccessRights
      case 8: // strongerAuthRequired
      case 13: // confidentialityRequired
        return new PermissionDenied(msg(reason), { details });
      case 32: // noSuchObject
        return new UnknownUid(msg(reason), { details });
      case 68: // entryAlreadyExists
        return new AlreadyExists(msg(reason), { details });
      case 3: // timeLimitExceeded
      case 11: // adminLimitExceeded
      case 51: // busy
      case 52: // unavailable
      case 80: // other (OpenLDAP uses it for transient backend errors)
        return new Retryable(msg(reason), { details });
      default:
        return new Rejected(msg(reason), { details });
    }
  }
  const e = err as { code?: string; message?: string };
  const reason = e.message ?? String(err);
  if ((e.code && UNREACHABLE.has(e.code)) || /connection timeout|connect ETIMEDOUT/i.test(reason)) return new ConnectionFailed(msg(reason));
  if ((e.code && LOST.has(e.code)) || /socket|connection (closed|ended)|timeout/i.test(reason)) return new Retryable(msg(reason));
  return err;
}
