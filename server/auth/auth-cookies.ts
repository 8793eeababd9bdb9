// The two cookies sign-in sets: the session, and the short-lived sign-in attempt that carries a
// browser through its OpenID Provider and back. Both HttpOnly; Secure with the __Host- prefix when
// Gatehouse is served over TLS (PUBLIC_URL is https://), so no sibling host can plant them.
import type { Request, Response } from 'express';
import { parseCookie } from 'cookie';

export interface AuthCookies {
  readonly sessionName: string;
  readonly attemptName: string;
  read(req: Request, name: string): string | undefined;
  setSession(res: Response, secret: string, expiresAt: Date): void;
  clearSession(res: Response): void;
  setAttempt(res: Response, secret: string, maxAgeMs: number): void;
  clearAttempt(res: Response): void;
}

export function createAuthCookies(options: { secure: boolean }): AuthCookies {
  const prefix = options.secure ? '__Host-' : '';
  const sessionName = `${prefix}gatehouse.sid`;
  const attemptName = `${prefix}gatehouse.signin`;
  const base = { httpOnly: true, secure: options.secure, path: '/' } as const;
  return {
    sessionName,
    attemptName,
    read(req, name) {
      const header = req.headers.cookie;
      if (!header) return undefined;
      const value = parseCookie(header)[name];
      return value ? value : undefined;
    },
    // Strict: the UI reaches the API by same-site fetches only, so no cross-site request carries it.
    setSession(res, secret, expiresAt) {
      res.cookie(sessionName, secret, { ...base, sameSite: 'strict', expires: expiresAt });
    },
    clearSession(res) {
      res.clearCookie(sessionName, { ...base, sameSite: 'strict' });
    },
    // Lax: it must ride along on the provider's top-level redirect back to the callback.
    setAttempt(res, secret, maxAgeMs) {
      res.cookie(attemptName, secret, { ...base, sameSite: 'lax', maxAge: maxAgeMs });
    },
    clearAttempt(res) {
      res.clearCookie(attemptName, { ...base, sameSite: 'lax' });
    },
  };
}
