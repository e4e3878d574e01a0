/**
 * Paying through a link: checks the form, then starts the payment through the SAME PaymentService as
 * POST /v1/payments/stk-push (merchant, environment and channel from the link; `linkId` on the payment).
 * One payment per form submission: the form's hidden key becomes the Idempotency-Key.
 */
import { MalipoError } from '../domain/errors';
import { MAX_TRANSACTION_KES } from '../domain/money';
import type { FailureReason, PaymentStatus } from '../domain/payment';
import { type Msisdn, normalizePhone } from '../domain/phone';
import type { PaymentService } from '../payments/service';
import type { PaymentView } from '../payments/repository';
import type { AuthContext } from '../platform/scopes';
import { amountOf, type LinkRepository, type LinkRow, type LinkStatus, statusOf } from './links';

/** The hidden per-form key: random, URL-safe. */
export const FORM_KEY = /^[A-Za-z0-9_-]{16,64}$/;
export const LINK_ID = /^lnk_[0-9A-Za-z]{6,64}$/;
export const PAYMENT_ID = /^pay_[0-9A-Za-z]{6,64}$/;

export interface PayForm {
  phone?: unknown;
  amount?: unknown;
  formKey?: unknown;
  /** The honeypot: people never see it, bots fill it. */
  website?: unknown;
}

export type FieldErrors = Partial<Record<'phone' | 'amount' | 'form', string>>;

export type PayOutcome =
  | { kind: 'started'; payment: PaymentView }
  | { kind: 'invalid'; errors: FieldErrors }
  | { kind: 'unavailable'; status: Exclude<LinkStatus, 'active'> | 'not_found' };

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

export class LinkPayments {
  constructor(
    readonly links: LinkRepository,
    private readonly payments: PaymentService,
  ) {}

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
    const formKey = typeof form.formKey === 'string' ? form.formKey : '';
    if (!FORM_KEY.test(formKey)) {
      return { kind: 'invalid', errors: { form: 'This form has expired. Reload the page and try again.' } };
    }
    const checked = checkForm(link, form);
    if (checked.phone === undefined || checked.amount === undefined)
      return { kind: 'invalid', errors: checked.errors };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.start(link, checked.phone as Msisdn, checked.amount, formKey);
      } catch (err) {
        // a double click: the first submission is still starting the payment; its answer is replayed
        if (err instanceof MalipoError && err.code === 'IDEMPOTENCY_KEY_IN_USE' && attempt < 30) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        throw err;
      }
    }
  }

  private async start(link: LinkRow, phone: Msisdn, amount: number, formKey: string): Promise<PayOutcome> {
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
        `link:${link.id}:${formKey}`,
        { linkId: link.id, phone, amount },
      );
      return { kind: 'started', payment: result.body };
    } catch (err) {
      if (err instanceof MalipoError && err.code === 'IDEMPOTENCY_KEY_MISMATCH') {
        return {
          kind: 'invalid',
          errors: { form: 'This form was already used for another payment. Reload the page to pay again.' },
        };
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
