// Sign-ins in flight: what the browser must bring back from the OpenID Provider (the PKCE verifier,
// state and nonce), kept in PostgreSQL so whichever replica receives the callback can finish it.
// The row is keyed by the hash of a cookie-held secret and sealed under a key derived from it, and
// taken exactly once.
import type { MikroORM } from '@mikro-orm/postgresql';
import { randomSecret, seal, secretHash, unseal } from './secret-values.js';

export interface SignInAttempt<State> {
  provider: string;
  returnTo: string;
  state: State;
}

export function createSignInAttemptStore<State>(deps: { orm: MikroORM; ttlMs: number; now?: () => Date }) {
  const now = deps.now ?? (() => new Date());
  const connection = () => deps.orm.em.getConnection();

  return {
    ttlMs: deps.ttlMs,

    /** Stores the attempt; the returned secret goes into the browser's sign-in cookie. */
    async save(attempt: SignInAttempt<State>): Promise<string> {
      const secret = randomSecret();
      await connection().execute('INSERT INTO auth_sign_in_attempt (id_hash, provider, return_to, sealed_state, expires_at) VALUES (?, ?, ?, ?, ?)', [
        secretHash(secret),
        attempt.provider,
        attempt.returnTo,
        seal(attempt.state, secret),
        new Date(now().getTime() + deps.ttlMs),
      ]);
      return secret;
    },

    /** Removes and returns the attempt; undefined when unknown, already taken, expired, or altered. */
    async take(secret: string): Promise<SignInAttempt<State> | undefined> {
      const rows = await connection().execute<{ provider: string; return_to: string; sealed_state: string; expires_at: string }[]>(
        'DELETE FROM auth_sign_in_attempt WHERE id_hash = ? RETURNING provider, return_to, sealed_state, expires_at',
        [secretHash(secret)],
      );
      const row = rows[0];
      if (!row || new Date(row.expires_at) <= now()) return undefined;
      const state = unseal<State>(row.sealed_state, secret);
      return state === undefined ? undefined : { provider: row.provider, returnTo: row.return_to, state };
    },
  };
}

export type SignInAttemptStore<State> = ReturnType<typeof createSignInAttemptStore<State>>;
