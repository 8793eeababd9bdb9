// What sign-in reports as it happens: sign-ins, failed sign-ins, sign-outs, tokens created and
// revoked, and every permission refusal. Each is one `events.record(...)` call where it happens;
// the sink today writes the security log, and becomes a ledger append once the ledger lands.
import type { Logger } from '../logger.js';

/** Who did something: a person, a token, or an operator at the command line. */
export interface Actor {
  kind: 'human' | 'token' | 'system';
  id: string;
}

export type SignInFailureReason =
  | 'state_mismatch'
  | 'nonce_mismatch'
  | 'id_token_expired'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'invalid_id_token'
  | 'access_denied'
  | 'attempt_missing'
  | 'account_disabled'
  | 'provider_error'
  | 'link_invalid';

export type AuthEvent =
  | { type: 'sign-in'; userId: string; method: 'oidc' | 'bootstrap-link'; provider?: string; roles: string[]; sessionId: string }
  | { type: 'sign-in-failed'; method: 'oidc' | 'bootstrap-link'; provider?: string; reason: SignInFailureReason; detail: string; userId?: string }
  | { type: 'sign-out'; userId: string; sessionId: string }
  | { type: 'api-token-created'; tokenId: string; name: string; scopes: string[]; expiresAt: string; by: Actor }
  | { type: 'api-token-revoked'; tokenId: string; by: Actor }
  | { type: 'user-disabled' | 'user-enabled'; userId: string; by: Actor }
  | { type: 'permission-refused'; actor: Actor; action: string; subject: string; method: string; path: string };

export interface AuthEventSink {
  /** Resolves once the event is durable where the sink keeps it; a failure fails the action. */
  record(event: AuthEvent): Promise<void>;
}

/** The sink until the ledger lands: the security log (warn for refusals and failures). */
export function logAuthEvents(log: Logger): AuthEventSink {
  const security = log.child({ component: 'auth' });
  return {
    async record(event) {
      const failure = event.type === 'sign-in-failed' || event.type === 'permission-refused';
      security[failure ? 'warn' : 'info']({ authEvent: event }, event.type);
    },
  };
}
