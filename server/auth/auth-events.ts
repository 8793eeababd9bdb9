// What sign-in reports as it happens: sign-ins, failed sign-ins, sign-outs, tokens created and
// revoked, and every permission refusal. Each is one `events.record(...)` call where it happens;
// the server's sink writes each to the ledger and the security log.
import type { Logger } from '../logger.js';
import type { Actor as LedgerActor, LedgerAppender, NewLedgerEntry } from '../../audit/index.js';

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
  | { type: 'permission-refused'; actor: Actor; action: string; subject: string; method: string; path: string }
  /** Two or more active directory identities carry the e-mail of someone who signed in: linked to none. */
  | { type: 'identity-link-refused'; userId: string; provider: string; identities: { id: string; directoryId: string }[] };

export interface AuthEventSink {
  /** Resolves once the event is durable where the sink keeps it; a failure fails the action. */
  record(event: AuthEvent): Promise<void>;
}

/** The security log (warn for refusals and failures). */
export function logAuthEvents(log: Logger): AuthEventSink {
  const security = log.child({ component: 'auth' });
  return {
    async record(event) {
      const failure = event.type === 'sign-in-failed' || event.type === 'permission-refused' || event.type === 'identity-link-refused';
      security[failure ? 'warn' : 'info']({ authEvent: event }, event.type);
    },
  };
}

const ledgerActor = (a: Actor): LedgerActor => ({ kind: a.kind === 'token' ? 'nhi' : a.kind, id: a.id });

/** An auth event as a ledger entry: who did what to which user or token, never a secret. */
export function authEventToLedgerEntry(event: AuthEvent): NewLedgerEntry {
  switch (event.type) {
    case 'sign-in':
      return {
        action: 'auth.signin.succeeded',
        actor: { kind: 'human', id: event.userId },
        subject: { type: 'user', id: event.userId },
        details: { method: event.method, ...(event.provider ? { provider: event.provider } : {}), roles: event.roles, sessionId: event.sessionId },
      };
    case 'sign-in-failed':
      return {
        action: 'auth.signin.failed',
        actor: { kind: 'human', id: event.userId ?? 'unknown' },
        ...(event.userId ? { subject: { type: 'user', id: event.userId } } : {}),
        details: { method: event.method, ...(event.provider ? { provider: event.provider } : {}), reason: event.reason, detail: event.detail },
      };
    case 'sign-out':
      return { action: 'auth.signout', actor: { kind: 'human', id: event.userId }, subject: { type: 'user', id: event.userId }, details: { sessionId: event.sessionId } };
    case 'api-token-created':
      return {
        action: 'auth.apitoken.created',
        actor: ledgerActor(event.by),
        target: { type: 'apiToken', id: event.tokenId, display: event.name },
        details: { scopes: event.scopes, expiresAt: event.expiresAt },
      };
    case 'api-token-revoked':
      return { action: 'auth.apitoken.revoked', actor: ledgerActor(event.by), target: { type: 'apiToken', id: event.tokenId } };
    case 'user-disabled':
    case 'user-enabled':
      return { action: event.type === 'user-disabled' ? 'auth.user.disabled' : 'auth.user.enabled', actor: ledgerActor(event.by), subject: { type: 'user', id: event.userId } };
    case 'identity-link-refused':
      return {
        action: 'auth.identity_link.refused',
        actor: { kind: 'human', id: event.userId },
        subject: { type: 'user', id: event.userId },
        details: {
          provider: event.provider,
          reason: `${event.identities.length} active directory identities carry this person's e-mail; they are linked to none of them until an admin resolves the duplicate`,
          identities: event.identities,
        },
      };
    case 'permission-refused':
      return {
        action: 'auth.permission.refused',
        actor: ledgerActor(event.actor),
        details: { action: event.action, subject: event.subject, method: event.method, path: event.path },
      };
  }
}

/** Every auth event in the ledger, and in the security log as before. */
export function ledgerAuthEvents(ledger: LedgerAppender, log: Logger): AuthEventSink {
  const security = logAuthEvents(log);
  return {
    async record(event) {
      await security.record(event);
      await ledger.append(authEventToLedgerEntry(event));
    },
  };
}
