// Sign-in steps the end-to-end tests share: the OpenID Connect flow driven hop by hop (with hooks to
// tamper with the authorization request or the callback), reading who is signed in, and an event
// sink that keeps what sign-in reported.
import type { AuthEvent, AuthEventSink } from '../../server/auth/auth-events.js';
import type { TestBrowser } from './test-browser.js';

export interface OidcSignInResult {
  /** The authorization request Gatehouse sent the browser to (as sent, before any tampering). */
  authorizeUrl: URL;
  /** The provider's redirect back to Gatehouse (as delivered, after any tampering). */
  callbackUrl: URL;
  /** Gatehouse's answer to the callback. */
  status: number;
  location: string | undefined;
  sessionCookieSet: boolean;
}

export async function oidcSignIn(
  browser: TestBrowser,
  gatehouseUrl: string,
  providerId: string,
  options: { returnTo?: string; tamperAuthorize?: (url: URL) => void; tamperCallback?: (url: URL) => void } = {},
): Promise<OidcSignInResult> {
  const query = options.returnTo ? `?returnTo=${encodeURIComponent(options.returnTo)}` : '';
  const start = await browser.fetch(`${gatehouseUrl}/api/auth/oidc/${providerId}/sign-in${query}`);
  if (start.status !== 303 || !start.hop.location) throw new Error(`sign-in start answered ${start.status}: ${await start.text()}`);
  const authorizeUrl = new URL(start.hop.location);
  const sent = new URL(authorizeUrl);
  options.tamperAuthorize?.(sent);
  const callbackPrefix = `${gatehouseUrl}/api/auth/oidc/${providerId}/callback`;
  const flow = await browser.followUntil(sent.href, (next) => next.startsWith(callbackPrefix));
  if (!flow.stoppedAt) throw new Error(`the provider did not redirect back: ${flow.hops.map((h) => `${h.status} ${h.url}`).join(' -> ')} ${await flow.last.text()}`);
  const callbackUrl = new URL(flow.stoppedAt);
  options.tamperCallback?.(callbackUrl);
  const done = await browser.fetch(callbackUrl.href);
  await done.arrayBuffer();
  return {
    authorizeUrl,
    callbackUrl,
    status: done.status,
    location: done.hop.location,
    sessionCookieSet: done.hop.setCookies.some((c) => c.name.endsWith('gatehouse.sid') && Boolean(c.value)),
  };
}

export interface SessionInfo {
  principal: { kind: string; id: string; displayName?: string; email?: string; roles: string[]; scopes?: string[] };
  via: 'session' | 'api-token';
  csrfToken?: string;
  provider?: string | null;
  expiresAt?: string;
}

export async function whoAmI(browser: TestBrowser, gatehouseUrl: string): Promise<{ status: number; body: SessionInfo }> {
  const res = await browser.fetch(`${gatehouseUrl}/api/auth/session`);
  return { status: res.status, body: (await res.json()) as SessionInfo };
}

/** Keeps every event sign-in reports, in order, for assertions. */
export function capturingEvents(): AuthEventSink & { events: AuthEvent[]; ofType<T extends AuthEvent['type']>(type: T): Extract<AuthEvent, { type: T }>[] } {
  const events: AuthEvent[] = [];
  return {
    events,
    async record(event) {
      events.push(event);
    },
    ofType(type) {
      return events.filter((e) => e.type === type) as never;
    },
  };
}
