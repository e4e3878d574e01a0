/**
 * Signs a webhook delivery in both schemes Malipo sends on every attempt, so receivers written for
 * either verify without changes:
 *
 * 1. paylod's scheme — `x-webhook-signature: t=<unix>,v1=<hex>` where each `v1` is
 *    HMAC-SHA256 keyed by the secret *string itself* over `"<t>.<raw body>"`, plus `x-webhook-id`
 *    (the event id) and `x-webhook-event` (the event type).
 * 2. Standard Webhooks — `webhook-id`, `webhook-timestamp`, and `webhook-signature: v1,<base64>`
 *    where the HMAC-SHA256 key is the base64-decoded part after `whsec_`, over
 *    `"<id>.<timestamp>.<raw body>"`.
 *
 * While a rotated secret overlaps, every active secret signs: several `v1=` entries in the paylod
 * header and several space-separated `v1,…` entries in the Standard Webhooks header, in the order of
 * `secrets` (the newest first). A receiver accepts the delivery if any one of them matches.
 *
 * Worked example: secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `evt_1`, timestamp
 * 1700000000, body `{"a":1}` → Standard Webhooks signs `evt_1.1700000000.{"a":1}` with the 24 bytes
 * that base64 decodes to; paylod signs `1700000000.{"a":1}` with the 38 ASCII bytes of the secret.
 */
import crypto from 'node:crypto';

export const STANDARD_SECRET_PREFIX = 'whsec_';

export interface SignDeliveryInput {
  /** The event id: the same on every attempt, the receiver's idempotency key. */
  eventId: string;
  eventType: string;
  /** The exact bytes that will be sent. */
  body: string | Uint8Array;
  /** Unix seconds of this attempt. */
  timestamp: number;
  /** Active signing secrets (`whsec_…`), newest first; at least one. */
  secrets: readonly string[];
}

/** Header names are lower case, as Node's http module presents them to receivers. */
export interface DeliveryHeaders {
  'x-webhook-id': string;
  'x-webhook-event': string;
  'x-webhook-signature': string;
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
  [name: string]: string;
}

/** The HMAC key of the Standard Webhooks scheme: the base64 after `whsec_` (the prefix is optional). */
export function standardSecretKey(secret: string): Buffer {
  const b64 = secret.startsWith(STANDARD_SECRET_PREFIX)
    ? secret.slice(STANDARD_SECRET_PREFIX.length)
    : secret;
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) throw new Error('a webhook secret must be whsec_ followed by base64');
  return key;
}

const bodyBuffer = (body: string | Uint8Array): Buffer =>
  typeof body === 'string'
    ? Buffer.from(body, 'utf8')
    : Buffer.from(body.buffer, body.byteOffset, body.byteLength);

/** Hex HMAC-SHA256 of `"<t>.<body>"` keyed by the secret string (paylod). */
export function paylodSignature(secret: string, timestamp: number, body: string | Uint8Array): string {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.`).update(bodyBuffer(body)).digest('hex');
}

/** Base64 HMAC-SHA256 of `"<id>.<timestamp>.<body>"` keyed by the decoded secret (Standard Webhooks). */
export function standardSignature(
  secret: string,
  id: string,
  timestamp: number,
  body: string | Uint8Array,
): string {
  return crypto
    .createHmac('sha256', standardSecretKey(secret))
    .update(`${id}.${timestamp}.`)
    .update(bodyBuffer(body))
    .digest('base64');
}

/** The headers of one delivery attempt, signed with every active secret in both schemes. */
export function signDelivery(input: SignDeliveryInput): DeliveryHeaders {
  const { eventId, eventType, body, timestamp, secrets } = input;
  if (secrets.length === 0) throw new Error('a delivery needs at least one signing secret');
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0)
    throw new Error('the timestamp must be unix seconds');
  // The Standard Webhooks spec forbids '.' in the id and timestamp: the signed content is split on it.
  if (eventId.includes('.') || eventId === '') throw new Error('the event id must be non-empty without "."');
  const bytes = bodyBuffer(body);
  const v1 = secrets.map((s) => `v1=${paylodSignature(s, timestamp, bytes)}`).join(',');
  const standard = secrets.map((s) => `v1,${standardSignature(s, eventId, timestamp, bytes)}`).join(' ');
  return {
    'x-webhook-id': eventId,
    'x-webhook-event': eventType,
    'x-webhook-signature': `t=${timestamp},${v1}`,
    'webhook-id': eventId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': standard,
  };
}

/** A new Standard Webhooks style secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `${STANDARD_SECRET_PREFIX}${crypto.randomBytes(32).toString('base64')}`;
}
