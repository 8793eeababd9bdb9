// Runs a passport strategy for one request and reports what it decided (redirect, success, fail,
// error) instead of letting it write the response. Sign-in must store the attempt in PostgreSQL
// before the browser is sent to the provider, or a fast provider could call back to a replica that
// does not know the attempt yet; passport's redirect answers the response itself, so it is captured.
import type { Request, Response } from 'express';
import passport from 'passport';
import type { Strategy } from 'passport';

export type StrategyOutcome =
  | { kind: 'redirect'; url: string }
  | { kind: 'success'; user: unknown }
  | { kind: 'fail'; info: unknown }
  | { kind: 'error'; error: unknown };

// One authenticator for Gatehouse; strategies are passed per call, never registered globally.
const authenticator = new passport.Authenticator();

/** `strategy` is any passport strategy (openid-client's declares a narrower `this` than @types/passport). */
export function runStrategy(strategy: object, req: Request, options: passport.AuthenticateOptions = {}): Promise<StrategyOutcome> {
  return new Promise((resolve) => {
    let location: string | undefined;
    // Only what passport's redirect() touches; anything else on it would be a bug worth seeing.
    const captured = {
      statusCode: 200,
      setHeader(name: string, value: string) {
        if (name.toLowerCase() === 'location') location = value;
      },
      end() {
        resolve(location ? { kind: 'redirect', url: location } : { kind: 'error', error: new Error('the sign-in strategy ended the response without a redirect') });
      },
    } as unknown as Response;
    // passport binds success/fail/redirect onto the strategy object it is given; a fresh object per
    // request keeps concurrent sign-ins from answering each other's responses.
    const perRequest = Object.create(strategy) as Strategy;
    const middleware = authenticator.authenticate(perRequest, { ...options, session: false }, (error: unknown, user: unknown, info: unknown) => {
      if (error) resolve({ kind: 'error', error });
      else if (user) resolve({ kind: 'success', user });
      else resolve({ kind: 'fail', info });
    }) as (req: Request, res: Response, next: (err?: unknown) => void) => void;
    middleware(req, captured, (err?: unknown) => resolve({ kind: 'error', error: err ?? new Error('the sign-in strategy passed the request on') }));
  });
}
