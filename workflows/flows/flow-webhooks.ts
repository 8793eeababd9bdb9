// Inbound webhooks that start a flow's run: a system that changed something tells Gatehouse, and the
// flow reads the change from its source (the notification carries no data the flow trusts). The call
// is authenticated by the flow's own secret, kept in Vault, in one of two ways the flow names:
// - hmac (the default): `Gatehouse-Webhook-Timestamp: <unix seconds>` and
//   `Gatehouse-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, the
//   timestamp within five minutes of the server's clock, so a captured call cannot be sent later;
// - token: `Authorization: Bearer <secret>`, for senders that cannot sign.
// Comparisons take constant time. A refusal says what was wrong, never what was expected.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatehouseError } from '../../shared/errors.js';

export const TIMESTAMP_HEADER = 'gatehouse-webhook-timestamp';
export const SIGNATURE_HEADER = 'gatehouse-webhook-signature';
/** How far a signed call's timestamp may be from the server's clock. */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

export type WebhookAuth = 'hmac' | 'token';

/** Where a flow's webhook is called. */
export const webhookPath = (flowName: string) => `/api/hooks/flows/${flowName}`;

/** Where a flow's webhook secret lives in Vault KV. */
export const webhookSecretPath = (flowName: string) => `gatehouse/flows/webhooks/${flowName}`;

/** A new secret: 32 random bytes, base64url. */
export const newWebhookSecret = () => randomBytes(32).toString('base64url');

/** The signature header's value for a body sent at `timestamp` (what a sender computes). */
export function webhookSignature(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

const sameText = (a: string, b: string) => {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
};

const refuse = (message: string) => new GatehouseError('unauthenticated', message, { details: { reason: 'webhook' } });

/** Throws a 401 naming what is wrong with the call; returns when it is authentic. */
export function verifyWebhook(input: { auth: WebhookAuth; secret: string; headers: Record<string, string | string[] | undefined>; rawBody: Buffer; nowSeconds: number }): void {
  const header = (name: string) => {
    const v = input.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  if (input.auth === 'token') {
    const auth = header('authorization');
    if (!auth?.startsWith('Bearer ')) throw refuse('this flow\'s webhook takes its secret as "Authorization: Bearer <secret>"');
    if (!sameText(auth.slice('Bearer '.length), input.secret)) throw refuse('the webhook secret is wrong');
    return;
  }
  const timestamp = header(TIMESTAMP_HEADER);
  const signature = header(SIGNATURE_HEADER);
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) throw refuse(`header ${TIMESTAMP_HEADER} must be the time of sending in unix seconds`);
  if (!signature) throw refuse(`header ${SIGNATURE_HEADER} is missing: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the flow's webhook secret>`);
  if (Math.abs(input.nowSeconds - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) {
    throw refuse(`header ${TIMESTAMP_HEADER} is more than ${TIMESTAMP_TOLERANCE_SECONDS / 60} minutes from the server's clock: a call is signed when it is sent`);
  }
  if (!sameText(signature, webhookSignature(input.secret, timestamp, input.rawBody))) throw refuse(`header ${SIGNATURE_HEADER} does not match the body and timestamp under the flow's webhook secret`);
}
