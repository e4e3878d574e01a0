/**
 * The pay form's token: issued by the server with each form, so a client cannot mint its own
 * idempotency keys. `<linkId>.<expires, unix seconds>.<nonce>.<mac>`, the MAC an HMAC-SHA256 over the
 * rest with a secret derived from the encryption key (SecretBox.derive, like the callback secret).
 * The nonce is the submission's identity: one payment per token, a resent form joins it.
 */
import crypto from 'node:crypto';

/** How long a form may stay open before its token expires. */
export const FORM_TOKEN_TTL_MS = 60 * 60_000;

export type FormTokenCheck =
  | { ok: true; nonce: string }
  | { ok: false; reason: 'missing' | 'forged' | 'expired' | 'other_link' };

const SHAPE = /^(lnk_[0-9A-Za-z]{6,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export class FormTokens {
  readonly #secret: string;

  constructor(
    secret: string,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = FORM_TOKEN_TTL_MS,
  ) {
    this.#secret = secret;
  }

  #mac(linkId: string, expires: string, nonce: string): string {
    return crypto
      .createHmac('sha256', this.#secret)
      .update(`pay-form.${linkId}.${expires}.${nonce}`)
      .digest('base64url');
  }

  issue(linkId: string): string {
    const expires = String(Math.ceil((this.now() + this.ttlMs) / 1000));
    const nonce = crypto.randomBytes(16).toString('base64url');
    return `${linkId}.${expires}.${nonce}.${this.#mac(linkId, expires, nonce)}`;
  }

  /** Whether `token` is one this server issued for `linkId` and has not expired. */
  check(linkId: string, token: unknown): FormTokenCheck {
    if (typeof token !== 'string' || token === '') return { ok: false, reason: 'missing' };
    const m = SHAPE.exec(token);
    if (!m) return { ok: false, reason: 'forged' };
    const [, tokenLink, expires, nonce, mac] = m as unknown as [string, string, string, string, string];
    const expected = Buffer.from(this.#mac(tokenLink, expires, nonce));
    if (!crypto.timingSafeEqual(expected, Buffer.from(mac))) return { ok: false, reason: 'forged' };
    if (tokenLink !== linkId) return { ok: false, reason: 'other_link' };
    if (Number(expires) * 1000 <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, nonce };
  }
}

/** What the page says for each refused token. */
export const TOKEN_MESSAGES: Record<Exclude<FormTokenCheck, { ok: true }>['reason'], string> = {
  missing: 'This form is missing its security code. Reload the page and try again.',
  forged: 'This form could not be verified. Reload the page and try again.',
  expired: 'This form has expired. Reload the page and try again.',
  other_link: 'This form belongs to another payment link. Reload the page and try again.',
};
