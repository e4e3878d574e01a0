/**
 * The C2B URLs Malipo registers with Daraja for a channel:
 * `${publicUrl}/hooks/daraja/c2b/<channel>/<token>/validation` and `…/confirmation`.
 *
 * Daraja refuses a registration whose URLs contain "mpesa", "safaricom", "exe", "exec", "cmd", "sql"
 * or "query" in any case (daraja.md §9.2). Random base62/base64url text trips over those now and then
 * (a 32-character base64url token contains "exe", "cmd" or "sql" about once in 300), so:
 * - the token is the channel's callback token (`callbackToken(secret, 'c2b', channelId)`, an HMAC only
 *   Malipo can mint) re-encoded as lower-case hex, which cannot spell any of the words;
 * - the channel segment is the channel id, or `h` + the id in hex when the id happens to contain one.
 */
import { timingSafeEqual } from 'node:crypto';
import { callbackToken } from '../payments/callback-token';

/** Daraja's forbidden URL words (the same rule as buildC2bRegisterPayload). */
export const FORBIDDEN_URL_WORDS = /m-?pesa|safaricom|exe|exec|cmd|sql|query/i;

export type C2bHookKind = 'validation' | 'confirmation';

/** The secret path token of a channel's C2B hooks: 48 lower-case hex characters (192 bits of HMAC). */
export function c2bToken(secret: string, channelId: string): string {
  return Buffer.from(callbackToken(secret, 'c2b', channelId), 'base64url').toString('hex');
}

/** Constant-time check of a token from a hook path. */
export function verifyC2bToken(secret: string, channelId: string, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const want = Buffer.from(c2bToken(secret, channelId));
  const got = Buffer.from(token);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The channel's path segment: its id, or `h<hex of the id>` when the id contains a forbidden word. */
export function channelSegment(channelId: string): string {
  return FORBIDDEN_URL_WORDS.test(channelId)
    ? `h${Buffer.from(channelId, 'utf8').toString('hex')}`
    : channelId;
}

/** The channel id a path segment names (the inverse of channelSegment); undefined when it is neither form. */
export function channelIdFromSegment(segment: string): string | undefined {
  if (/^ch_[0-9A-Za-z]{6,64}$/.test(segment)) return segment;
  if (/^h(?:[0-9a-f]{2}){4,70}$/.test(segment)) {
    const id = Buffer.from(segment.slice(1), 'hex').toString('utf8');
    return /^ch_[0-9A-Za-z]{6,64}$/.test(id) ? id : undefined;
  }
  return undefined;
}

export function c2bHookPath(secret: string, channelId: string, kind: C2bHookKind): string {
  return `/hooks/daraja/c2b/${channelSegment(channelId)}/${c2bToken(secret, channelId)}/${kind}`;
}

/** Both URLs to register for a channel. */
export function c2bHookUrls(
  publicUrl: string,
  secret: string,
  channelId: string,
): { validationUrl: string; confirmationUrl: string } {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    validationUrl: `${base}${c2bHookPath(secret, channelId, 'validation')}`,
    confirmationUrl: `${base}${c2bHookPath(secret, channelId, 'confirmation')}`,
  };
}
