/**
 * Verifies a Malipo webhook on the receiving side, in either signature scheme (see signing.ts).
 * Self-contained (only node:crypto) so a receiver can copy this one file into its own code base.
 *
 *   app.post('/webhooks/malipo', express.raw({ type: 'application/json' }), (req, res) => {
 *     const event = verifyWebhook(req.body, req.headers, process.env.MALIPO_WEBHOOK_SECRET!);
 *     // dedupe on event.id, then handle event.type
 *     res.sendStatus(204);
 *   });
 */
import crypto from 'node:crypto';

/** The event object every webhook carries. */
export interface WebhookEvent<T = unknown> {
  id: string;
  type: string;
  /** Unix seconds when the event was created (not the attempt). */
  created: number;
  data: T;
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export interface VerifyWebhookOptions {
  /** Largest accepted distance between the signed timestamp and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in unix seconds (tests); defaults to the clock. */
  now?: number;
}

/** Node's `req.headers`, a fetch `Headers`, or a plain record. */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  let value = record[name];
  if (value === undefined) {
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  return Array.isArray(value) ? value.join(',') : value;
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // timingSafeEqual needs equal lengths; compare against itself to keep the time flat
  if (ab.length !== bb.length) {
    crypto.timingSafeEqual(ab, ab);
    return false;
  }
  return crypto.timingSafeEqual(ab, bb);
}

function checkTimestamp(text: string | undefined, now: number, tolerance: number): number {
  if (text === undefined || !/^\d{1,12}$/.test(text)) {
    throw new WebhookVerificationError('the signature timestamp is missing or not unix seconds');
  }
  const t = Number(text);
  if (now - t > tolerance) throw new WebhookVerificationError('the signature timestamp is too old');
  if (t - now > tolerance) throw new WebhookVerificationError('the signature timestamp is in the future');
  return t;
}

function verifyStandard(
  body: Buffer,
  headers: WebhookHeaders,
  secret: string,
  now: number,
  tol: number,
): void {
  const id = header(headers, 'webhook-id');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !signatures) throw new WebhookVerificationError('webhook-id or webhook-signature is missing');
  const t = checkTimestamp(header(headers, 'webhook-timestamp'), now, tol);
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  const expected = crypto
    .createHmac('sha256', Buffer.from(b64, 'base64'))
    .update(`${id}.${t}.`)
    .update(body)
    .digest('base64');
  let ok = false;
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    if (safeEqual(entry.slice(comma + 1), expected)) ok = true;
  }
  if (!ok) throw new WebhookVerificationError('no webhook-signature matches the secret');
}

function verifyPaylod(body: Buffer, headers: WebhookHeaders, secret: string, now: number, tol: number): void {
  const value = header(headers, 'x-webhook-signature');
  if (!value) throw new WebhookVerificationError('x-webhook-signature is missing');
  let tText: string | undefined;
  const v1: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't') tText = v;
    else if (k === 'v1') v1.push(v);
  }
  const t = checkTimestamp(tText, now, tol);
  if (v1.length === 0) throw new WebhookVerificationError('x-webhook-signature has no v1 signature');
  const expected = crypto.createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  let ok = false;
  for (const s of v1) if (safeEqual(s, expected)) ok = true;
  if (!ok) throw new WebhookVerificationError('no x-webhook-signature v1 matches the secret');
}

/**
 * Checks a delivery's signature (Standard Webhooks headers when present, else paylod's
 * `x-webhook-signature`; either scheme is enough) and timestamp, then returns the parsed event.
 * `rawBody` must be the bytes as received, before any JSON parsing. Throws WebhookVerificationError.
 */
export function verifyWebhook<T = unknown>(
  rawBody: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  opts: VerifyWebhookOptions = {},
): WebhookEvent<T> {
  if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
    throw new WebhookVerificationError('pass the raw request body (string or Buffer), not a parsed object');
  }
  if (typeof secret !== 'string' || secret === '') throw new WebhookVerificationError('the secret is empty');
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : Buffer.from(rawBody);
  const tolerance = opts.toleranceSeconds ?? 300;
  const now = opts.now ?? Math.floor(Date.now() / 1000);

  const errors: string[] = [];
  let verified = false;
  for (const [present, check] of [
    [header(headers, 'webhook-signature') !== undefined, verifyStandard],
    [header(headers, 'x-webhook-signature') !== undefined, verifyPaylod],
  ] as const) {
    if (!present) continue;
    try {
      check(body, headers, secret, now, tolerance);
      verified = true;
      break;
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) throw err;
      errors.push(err.message);
    }
  }
  if (!verified) {
    throw new WebhookVerificationError(
      errors.length === 0 ? 'no webhook-signature or x-webhook-signature header' : errors.join('; '),
    );
  }
  let event: unknown;
  try {
    event = JSON.parse(body.toString('utf8'));
  } catch {
    throw new WebhookVerificationError('the body is not JSON');
  }
  const e = event as Partial<WebhookEvent<T>> | null;
  if (!e || typeof e !== 'object' || typeof e.id !== 'string' || typeof e.type !== 'string') {
    throw new WebhookVerificationError('the body is not a webhook event');
  }
  return e as WebhookEvent<T>;
}
