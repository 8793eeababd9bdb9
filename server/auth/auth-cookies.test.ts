// Sign-in's cookies: HttpOnly always; behind TLS, Secure and __Host- prefixed so no sibling host can
// set them.
import { describe, expect, it } from 'vitest';
import type { Request, Response } from 'express';
import { parseSetCookie } from 'cookie';
import { createAuthCookies } from './auth-cookies.js';

function capture() {
  const set: string[] = [];
  const res = {
    cookie(name: string, value: string, options: Record<string, unknown>) {
      set.push(JSON.stringify({ name, value, options }));
      return res;
    },
    clearCookie(name: string, options: Record<string, unknown>) {
      set.push(JSON.stringify({ name, value: '', options: { ...options, cleared: true } }));
      return res;
    },
  };
  return { res: res as unknown as Response, set: () => set.map((s) => JSON.parse(s) as { name: string; value: string; options: Record<string, unknown> }) };
}

describe('auth cookies', () => {
  it('behind TLS: __Host- names, Secure, HttpOnly, Path=/', () => {
    const cookies = createAuthCookies({ secure: true });
    expect(cookies.sessionName).toBe('__Host-gatehouse.sid');
    expect(cookies.attemptName).toBe('__Host-gatehouse.signin');
    const { res, set } = capture();
    cookies.setSession(res, 'secret', new Date('2030-01-01T00:00:00Z'));
    cookies.setAttempt(res, 'attempt', 600_000);
    expect(set()).toEqual([
      { name: '__Host-gatehouse.sid', value: 'secret', options: { httpOnly: true, secure: true, path: '/', sameSite: 'strict', expires: '2030-01-01T00:00:00.000Z' } },
      { name: '__Host-gatehouse.signin', value: 'attempt', options: { httpOnly: true, secure: true, path: '/', sameSite: 'lax', maxAge: 600_000 } },
    ]);
  });

  it('over plain HTTP (development): no prefix, not Secure', () => {
    const cookies = createAuthCookies({ secure: false });
    expect(cookies.sessionName).toBe('gatehouse.sid');
    const { res, set } = capture();
    cookies.clearSession(res);
    expect(set()[0]).toMatchObject({ name: 'gatehouse.sid', options: { secure: false, httpOnly: true, cleared: true } });
  });

  it('reads a cookie from the request header', () => {
    const cookies = createAuthCookies({ secure: false });
    const req = { headers: { cookie: 'a=1; gatehouse.sid=abc; b=2' } } as unknown as Request;
    expect(cookies.read(req, 'gatehouse.sid')).toBe('abc');
    expect(cookies.read({ headers: {} } as Request, 'gatehouse.sid')).toBeUndefined();
    expect(parseSetCookie('x=1; HttpOnly').httpOnly).toBe(true);
  });
});
