import { describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, newWebhookSecret, verifyWebhook, webhookSignature } from './flow-webhooks.js';

const secret = newWebhookSecret();
const body = Buffer.from('{"changed":"employees"}');
const now = 1_800_000_000;
const signed = (over: { secret?: string; timestamp?: number; body?: Buffer } = {}) => {
  const timestamp = String(over.timestamp ?? now);
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: webhookSignature(over.secret ?? secret, timestamp, over.body ?? body) };
};
const check = (headers: Record<string, string>, auth: 'hmac' | 'token' = 'hmac') => () => verifyWebhook({ auth, secret, headers, rawBody: body, nowSeconds: now });

describe('flow webhook authentication', () => {
  it('takes a call signed with the secret over its timestamp and body, within five minutes', () => {
    expect(check(signed())).not.toThrow();
    expect(check(signed({ timestamp: now - 299 }))).not.toThrow();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses, saying why: another secret, another body, an old or missing timestamp, no signature', () => {
    expect(check(signed({ secret: newWebhookSecret() }))).toThrow(/gatehouse-webhook-signature does not match/);
    expect(check(signed({ body: Buffer.from('{"changed":"payroll"}') }))).toThrow(/does not match the body and timestamp/);
    expect(check(signed({ timestamp: now - 301 }))).toThrow(/more than 5 minutes from the server's clock/);
    expect(check({ [SIGNATURE_HEADER]: signed()[SIGNATURE_HEADER]! })).toThrow(/gatehouse-webhook-timestamp must be the time of sending/);
    expect(check({ [TIMESTAMP_HEADER]: String(now) })).toThrow(/gatehouse-webhook-signature is missing/);
    try {
      check(signed({ secret: 'wrong' }))();
    } catch (err) {
      expect((err as { code: string }).code).toBe('unauthenticated');
      expect((err as Error).message).not.toContain(secret);
    }
  });

  it('a token flow takes the secret as a bearer token, and nothing else', () => {
    expect(check({ authorization: `Bearer ${secret}` }, 'token')).not.toThrow();
    expect(check({ authorization: `Bearer ${secret}x` }, 'token')).toThrow(/the webhook secret is wrong/);
    expect(check(signed(), 'token')).toThrow(/Authorization: Bearer <secret>/);
  });
});
