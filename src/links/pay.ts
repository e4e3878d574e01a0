/**
 * Paying through a link: checks the form, then starts the payment through the SAME PaymentService as
 * POST /v1/payments/stk-push (merchant, environment and channel from the link; `linkId` on the payment).
 * One payment per form: the server-issued form token (form-token.ts) is checked, and its nonce becomes
 * the Idempotency-Key, so a resent form joins the first payment and a client cannot mint keys of its own.
 */
import crypto from 'node:crypto';
import { assertNever } from '../domain/assert';
import { MalipoError } from '../domain/errors';
import { MAX_TRANSACTION_KES } from '../domain/money';
import type { FailureReason, PaymentStatus } from '../domain/payment';
import { type Msisdn, normalizePhone } from '../domain/phone';
import type { PaymentService } from '../payments/service';
import type { PaymentView } from '../payments/repository';
import type { RateLimitStore } from '../http/middleware/rate-limit';
import type { AuthContext } from '../platform/scopes';
import { type FormTokens, TOKEN_MESSAGES } from './form-token';
import { amountOf, type LinkRepository, type LinkRow, type LinkStatus, statusOf } from './links';
import type { LinkSlots } from './slots';

export const LINK_ID = /^lnk_[0-9A-Za-z]{6,64}$/;
export const PAYMENT_ID = /^pay_[0-9A-Za-z]{6,64}$/;

export interface PayForm {
  phone?: unknown;
  amount?: unknown;
  /** The server-issued form token (form-token.ts). */
  formKey?: unknown;
  /** The honeypot: people never see it, bots fill it. */
  website?: unknown;
}

export type FieldErrors = Partial<Record<'phone' | 'amount' | 'form', string>>;

export type PayOutcome =
  | { kind: 'started'; payment: PaymentView }
  | { kind: 'invalid'; errors: FieldErrors }
  | { kind: 'unavailable'; status: Exclude<LinkStatus, 'active'> | 'not_found' }
  /** Not started: every place of the link is held (409), or a per-phone or per-link limit (429). */
  | {
      kind: 'refused';
      code: 'CONFLICT' | 'RATE_LIMIT_EXCEEDED';
      message: string;
      retryAfterSeconds?: number | undefined;
    };

/** What the public status URL reveals: nothing but the payment's state. */
export interface PublicPaymentState {
  status: PaymentStatus;
  mpesaReceipt?: string;
  message?: string;
}

const FAILURE_MESSAGES: Record<FailureReason, string> = {
  cancelled: 'The M-Pesa prompt was cancelled on your phone. No money was taken.',
  timeout: 'We did not get an answer from your phone in time. No money was taken.',
  insufficient_funds: 'Your M-Pesa balance was not enough for this payment. No money was taken.',
  wrong_pin: 'The M-Pesa PIN entered was wrong. No money was taken.',
  expired: 'The M-Pesa prompt expired before it was answered. No money was taken.',
  phone_busy: 'Your phone was busy with another M-Pesa request. No money was taken.',
  rejected: 'M-Pesa could not process this payment. No money was taken.',
  reviewed: 'The merchant checked this payment: no money was taken.',
};

export const REVIEW_MESSAGE =
  'We could not confirm this payment yet. If M-Pesa sent you a confirmation message, keep it: the merchant will check the payment.';

export function failureMessage(reason: FailureReason | null): string {
  return reason ? FAILURE_MESSAGES[reason] : 'The payment did not go through. No money was taken.';
}

export function publicState(
  p: Pick<PaymentView, 'status' | 'mpesaReceipt' | 'failureReason'>,
): PublicPaymentState {
  switch (p.status) {
    case 'success':
      return { status: 'success', ...(p.mpesaReceipt ? { mpesaReceipt: p.mpesaReceipt } : {}) };
    case 'failed':
      return { status: 'failed', message: failureMessage(p.failureReason) };
    case 'needs_review':
      return { status: 'needs_review', message: REVIEW_MESSAGE };
    default:
      return { status: 'pending' };
  }
}

/** Checks phone and amount the way the page explains them. */
export function checkForm(
  link: LinkRow,
  form: PayForm,
): { phone?: string; amount?: number; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const phoneText =
    typeof form.phone === 'string' ? form.phone : typeof form.phone === 'number' ? String(form.phone) : '';
  let phone: string | undefined;
  if (phoneText.trim() === '') errors.phone = 'Enter your M-Pesa phone number, for example 0712 345 678.';
  else {
    const p = normalizePhone(phoneText);
    if (p.ok) phone = p.msisdn;
    else errors.phone = 'Enter a Kenyan mobile number such as 0712 345 678 or +254 712 345 678.';
  }
  const fixed = amountOf(link);
  let amount: number | undefined;
  if (typeof fixed === 'number') amount = fixed;
  else {
    const text =
      typeof form.amount === 'number'
        ? String(form.amount)
        : typeof form.amount === 'string'
          ? form.amount.trim()
          : '';
    const max = Math.min(fixed.max, MAX_TRANSACTION_KES);
    if (text === '') errors.amount = `Enter an amount between KES ${kes(fixed.min)} and KES ${kes(max)}.`;
    else if (!/^\d{1,7}$/.test(text.replace(/,/g, '')))
      errors.amount = 'Enter the amount in whole shillings, without cents.';
    else {
      const n = Number(text.replace(/,/g, ''));
      if (n < fixed.min || n > max)
        errors.amount = `Enter an amount between KES ${kes(fixed.min)} and KES ${kes(max)}.`;
      else amount = n;
    }
  }
  return { ...(phone ? { phone } : {}), ...(amount !== undefined ? { amount } : {}), errors };
}

export function kes(n: number): string {
  return n.toLocaleString('en-KE');
}

export interface PayLimits {
  /** STK prompts per phone per clock hour, across links. */
  promptsPerPhonePerHour: number;
  /** STK prompts per link per minute. */
  promptsPerLinkPerMinute: number;
}

export interface LinkPaymentsOptions {
  tokens: FormTokens;
  slots: LinkSlots;
  /** Counts the per-phone and per-link prompts (the per-IP limits' store). */
  store: RateLimitStore;
  limits: PayLimits;
  /** Keys the per-phone counters, so the counter table does not hold phone numbers. */
  phoneBucketSecret: string;
  now?: (() => number) | undefined;
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

const FULL_MESSAGE =
  'Every payment this link allows is already under way. If one of them does not go through, its place opens again: please try again in a few minutes.';
const PHONE_LIMIT_MESSAGE =
  'This phone number has had too many M-Pesa prompts in the last hour. Please try again later.';
const LINK_LIMIT_MESSAGE = 'This payment link is busy right now. Please wait a minute and try again.';
const SPENT_MESSAGE = 'This form was already used for another payment. Reload the page to pay again.';

export class LinkPayments {
  readonly tokens: FormTokens;
  readonly #opts: LinkPaymentsOptions;
  readonly #now: () => number;

  constructor(
    readonly links: LinkRepository,
    private readonly payments: PaymentService,
    opts: LinkPaymentsOptions,
  ) {
    this.tokens = opts.tokens;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The link and its current status; undefined when no such link. */
  async load(linkId: string): Promise<{ row: LinkRow; status: LinkStatus } | undefined> {
    if (!LINK_ID.test(linkId)) return undefined;
    const row = await this.links.findById(linkId);
    if (!row) return undefined;
    const stats = (await this.links.stats([row.id])).get(row.id);
    return {
      row,
      status: statusOf(row, stats ?? { payments: 0, successfulPayments: 0, amountCollected: 0 }),
    };
  }

  /**
   * A submission, in order: the link takes payments, the honeypot is empty, the token is this server's
   * for this link and unexpired, the fields are valid; then a slot (see slots.ts): this token's payment
   * or the phone's open prompt is shown instead of a second push, a link whose places are all held
   * refuses; then the per-phone and per-link prompt limits; then the payment is started.
   */
  async pay(linkId: string, form: PayForm): Promise<PayOutcome> {
    const found = await this.load(linkId);
    if (!found) return { kind: 'unavailable', status: 'not_found' };
    if (found.status !== 'active') return { kind: 'unavailable', status: found.status };
    const link = found.row;
    if (typeof form.website === 'string' && form.website.trim() !== '') {
      return {
        kind: 'invalid',
        errors: { form: 'This form could not be sent. Reload the page and try again.' },
      };
    }
    const token = this.tokens.check(link.id, form.formKey);
    if (!token.ok) return { kind: 'invalid', errors: { form: TOKEN_MESSAGES[token.reason] } };
    const checked = checkForm(link, form);
    if (checked.phone === undefined || checked.amount === undefined)
      return { kind: 'invalid', errors: checked.errors };
    const phone = checked.phone as Msisdn;
    const amount = checked.amount;

    for (let attempt = 0; ; attempt++) {
      const r = await this.#opts.slots.reserve(link.id, token.nonce, phone, amount);
      switch (r.kind) {
        case 'reserved':
          return this.startReserved(link, token.nonce, phone, amount);
        case 'existing':
          return this.existing(link, r.paymentId);
        case 'mismatch':
          return { kind: 'invalid', errors: { form: SPENT_MESSAGE } };
        case 'full':
          return { kind: 'refused', code: 'CONFLICT', message: FULL_MESSAGE };
        case 'starting':
          // a double click, or the same phone from another tab: the first is starting its payment
          if (attempt >= 60) {
            return {
              kind: 'refused',
              code: 'CONFLICT',
              message: 'A prompt is on its way to this phone. Please check your phone.',
            };
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
          break;
        default:
          return assertNever(r);
      }
    }
  }

  private async existing(link: LinkRow, paymentId: string): Promise<PayOutcome> {
    const payment = await this.payments.repo.get(link.merchant_id, paymentId);
    if (!payment) throw new MalipoError('INTERNAL_ERROR', `slot of ${link.id} names a missing payment`);
    return { kind: 'started', payment };
  }

  /** Counts one prompt against `bucket`; over `limit`, the seconds until its window ends. */
  private async over(bucket: string, windowMs: number, limit: number): Promise<number | undefined> {
    const t = this.#now();
    const windowStart = Math.floor(t / windowMs) * windowMs;
    const count = await this.#opts.store.hit(bucket, windowStart, windowMs);
    return count > limit ? Math.max(1, Math.ceil((windowStart + windowMs - t) / 1000)) : undefined;
  }

  private async startReserved(
    link: LinkRow,
    nonce: string,
    phone: Msisdn,
    amount: number,
  ): Promise<PayOutcome> {
    const { limits, phoneBucketSecret } = this.#opts;
    const phoneKey = crypto
      .createHmac('sha256', phoneBucketSecret)
      .update(phone)
      .digest('base64url')
      .slice(0, 22);
    const phoneWait = await this.over(`pay.phone:${phoneKey}`, HOUR_MS, limits.promptsPerPhonePerHour);
    const linkWait =
      phoneWait === undefined
        ? await this.over(`pay.link:${link.id}`, MINUTE_MS, limits.promptsPerLinkPerMinute)
        : undefined;
    if (phoneWait !== undefined || linkWait !== undefined) {
      await this.#opts.slots.release(link.id, nonce);
      return phoneWait !== undefined
        ? {
            kind: 'refused',
            code: 'RATE_LIMIT_EXCEEDED',
            message: PHONE_LIMIT_MESSAGE,
            retryAfterSeconds: phoneWait,
          }
        : {
            kind: 'refused',
            code: 'RATE_LIMIT_EXCEEDED',
            message: LINK_LIMIT_MESSAGE,
            retryAfterSeconds: linkWait,
          };
    }
    let outcome: PayOutcome;
    try {
      outcome = await this.start(link, phone, amount, nonce);
    } catch (err) {
      await this.#opts.slots.release(link.id, nonce).catch(() => undefined);
      throw err;
    }
    if (outcome.kind === 'started') await this.#opts.slots.attach(link.id, nonce, outcome.payment.id);
    else await this.#opts.slots.release(link.id, nonce);
    return outcome;
  }

  private async start(link: LinkRow, phone: Msisdn, amount: number, nonce: string): Promise<PayOutcome> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.startOnce(link, phone, amount, nonce);
      } catch (err) {
        // the same token still starting in another process: its answer is replayed
        if (err instanceof MalipoError && err.code === 'IDEMPOTENCY_KEY_IN_USE' && attempt < 30) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        throw err;
      }
    }
  }

  private async startOnce(link: LinkRow, phone: Msisdn, amount: number, nonce: string): Promise<PayOutcome> {
    // the payment is the link's: its merchant, environment and channel; the link id stands for the key
    const auth: AuthContext = {
      merchantId: link.merchant_id,
      environment: link.environment,
      keyId: link.id,
      scopes: ['payments:create'],
    };
    try {
      const result = await this.payments.createStk(
        auth,
        {
          phone,
          amount,
          reference: link.reference,
          description: 'Payment link',
          channelId: link.channel_id ?? undefined,
          linkId: link.id,
        },
        `link:${link.id}:${nonce}`,
        { linkId: link.id, phone, amount },
      );
      return { kind: 'started', payment: result.body };
    } catch (err) {
      if (err instanceof MalipoError && err.code === 'IDEMPOTENCY_KEY_MISMATCH') {
        return { kind: 'invalid', errors: { form: SPENT_MESSAGE } };
      }
      throw err;
    }
  }

  /** A payment of this link, as the public status URL shows it; undefined for any other payment. */
  async state(
    linkId: string,
    paymentId: string,
  ): Promise<{ payment: PaymentView; link: LinkRow } | undefined> {
    if (!LINK_ID.test(linkId) || !PAYMENT_ID.test(paymentId)) return undefined;
    const link = await this.links.findById(linkId);
    if (!link) return undefined;
    const payment = await this.payments.repo.get(link.merchant_id, paymentId);
    if (!payment || payment.linkId !== link.id || payment.environment !== link.environment) return undefined;
    return { payment, link };
  }
}
