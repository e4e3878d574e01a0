/**
 * Callback URL tokens. Daraja's callbacks are unsigned, so the CallBackURL itself carries proof:
 * `/hooks/daraja/stk/<paymentId>/<token>` with token = HMAC-SHA256(server secret, "stk:" + paymentId),
 * base64url, 32 characters. Only Malipo can mint it; the route checks it in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type CallbackPurpose = 'stk' | 'b2c' | 'c2b' | 'lookup' | 'reversal';

export function callbackToken(secret: string, purpose: CallbackPurpose, id: string): string {
  return createHmac('sha256', secret).update(`${purpose}:${id}`).digest('base64url').slice(0, 32);
}

export function verifyCallbackToken(
  secret: string,
  purpose: CallbackPurpose,
  id: string,
  token: unknown,
): boolean {
  if (typeof token !== 'string') return false;
  const want = Buffer.from(callbackToken(secret, purpose, id));
  const got = Buffer.from(token);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The path Daraja calls back. It avoids words Daraja refuses in URLs ("mpesa", "safaricom", "query"…). */
export function stkCallbackPath(secret: string, paymentId: string): string {
  return `/hooks/daraja/stk/${paymentId}/${callbackToken(secret, 'stk', paymentId)}`;
}
