// The identity of an AccessChange's content: SHA-256 over its RFC 8785 canonical JSON. The ledger's
// decision names it, and the apply step refuses a change whose content differs from what was decided.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json.js';
import type { AccessChange } from './access-change.js';

export function accessChangeHash(change: AccessChange): string {
  return createHash('sha256').update(canonicalJson(change)).digest('hex');
}
