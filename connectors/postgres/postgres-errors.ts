// PostgreSQL failures as the SPI's named errors, by SQLSTATE (class and code) and by the network
// error the driver reports before any SQL ran.
import { AlreadyExists, ConnectionFailed, ConnectorError, InvalidCredential, PermissionDenied, Rejected, Retryable, UnknownUid } from '../spi/errors.js';

interface PgLikeError {
  code?: string;
  message?: string;
}

const NETWORK_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);
const NETWORK_LOST = new Set(['ECONNRESET', 'EPIPE']);

/** Returns the named error for a driver failure, or the original error when it is not the target's. */
export function translatePgError(err: unknown, action: string, label: string): unknown {
  if (err instanceof ConnectorError) return err;
  const e = err as PgLikeError;
  // Not from the server or the network (a bug of ours): let it through unchanged.
  if (!e.code && !/connect|timeout|SSL|terminated/i.test(e.message ?? '')) return err;
  const code = e.code ?? '';
  const reason = (e.message ?? String(err)).split('\n')[0]!;
  const details: Record<string, string> = code ? { sqlstate: code } : {};
  const msg = `${label}: ${action} failed: ${reason}`;
  const make = (C: new (m: string, o: { details: Record<string, string> }) => ConnectorError) => new C(msg, { details });

  if (NETWORK_UNREACHABLE.has(code) || /timeout expired|timeout exceeded|connection timeout|does not support SSL/i.test(reason)) return make(ConnectionFailed);
  if (NETWORK_LOST.has(code) || /Connection terminated/i.test(reason)) return make(Retryable);
  if (code === '28P01' || code === '28000') return make(InvalidCredential);
  if (code === '3D000') return make(ConnectionFailed);
  if (code === '42501') return make(PermissionDenied);
  if (code === '42710' || code === '23505') return make(AlreadyExists);
  if (code === '42704' || code === '42P01') return make(UnknownUid);
  if (['40001', '40P01', '55P03', '57014', '57P01', '57P02', '57P03'].includes(code) || code.startsWith('53') || code.startsWith('08')) return make(Retryable);
  if (code.startsWith('22') || code.startsWith('42') || code.startsWith('2B') || code.startsWith('0L') || code.startsWith('23')) return make(Rejected);
  return err;
}
