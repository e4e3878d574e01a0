/** Pure types shared by the STK push API and workflow: the workflow input, its live state, and the callback signal. */
import type { FailureReason, PaymentStatus, ReviewReason } from './payment';
import type { ResolvedBy } from './reconciliation';

/** The key environment a payment belongs to (the API key's `test`/`live`). */
export type PaymentEnvironment = 'test' | 'live';

/**
 * Timing and belief knobs of one STK payment. Every duration is in milliseconds so the
 * workflow's arithmetic is plain and the JSON in history is unambiguous.
 */
export interface StkPushConfig {
  /** How long after Daraja accepted the push (or the push became ambiguous) we wait for an answer. Default 3 min. */
  deadlineMs: number;
  /** How long a payment that did not succeed keeps listening for a late callback. Default 30 min. */
  graceMs: number;
  /** First STK query this long after acceptance; Daraja rarely knows anything sooner. Default 20 s. */
  firstQueryDelayMs: number;
  /** Each later query waits the previous interval times this. Default 1.5 (20 s, 30 s, 45 s …). */
  queryBackoffCoefficient: number;
  /** Cap on the interval between two queries. Default 60 s. */
  maxQueryIntervalMs: number;
  /** After this many failed queries (errors, not "being processed") the workflow stops querying and only listens. Default 5. */
  maxQueryErrors: number;
  /** Confirm a success callback by an STK query before believing it. Default true. */
  confirmSuccessByQuery: boolean;
  /** Delay before re-querying to confirm a success claim the last query could not confirm yet. Default 5 s. */
  confirmRetryDelayMs: number;
  /** Queries spent confirming one success claim before it becomes `needs_review/unconfirmed_success`. Default 4. */
  maxConfirmQueries: number;
  /** First wait after "unable to lock subscriber"; doubles each time. Default 20 s. */
  phoneBusyInitialDelayMs: number;
  /** Total time we keep re-pushing to a busy phone before `failed/phone_busy`. Default 3 min. */
  phoneBusyMaxTotalMs: number;
  /** First wait after a transient rejection (spike arrest, rate limit); doubles each time. Default 5 s. */
  transientRetryInitialDelayMs: number;
  /** Re-pushes after transient rejections before `failed/rejected`. Default 3. */
  transientRetryMaxAttempts: number;
  /** Multiplies every offset of the reconciliation schedule (RECONCILE_SCHEDULE_MS) of a review. Default 1; test stacks only. */
  reconcileScheduleScale: number;
}

export const DEFAULT_STK_CONFIG: Readonly<StkPushConfig> = {
  deadlineMs: 3 * 60_000,
  graceMs: 30 * 60_000,
  firstQueryDelayMs: 20_000,
  queryBackoffCoefficient: 1.5,
  maxQueryIntervalMs: 60_000,
  maxQueryErrors: 5,
  confirmSuccessByQuery: true,
  confirmRetryDelayMs: 5_000,
  maxConfirmQueries: 4,
  phoneBusyInitialDelayMs: 20_000,
  phoneBusyMaxTotalMs: 3 * 60_000,
  transientRetryInitialDelayMs: 5_000,
  transientRetryMaxAttempts: 3,
  reconcileScheduleScale: 1,
};

/** Fills unset knobs with defaults; ignores keys whose value is `undefined`. */
export function resolveStkConfig(partial: Partial<StkPushConfig> | undefined): StkPushConfig {
  const out: StkPushConfig = { ...DEFAULT_STK_CONFIG };
  if (!partial) return out;
  for (const [k, v] of Object.entries(partial) as [
    keyof StkPushConfig,
    StkPushConfig[keyof StkPushConfig],
  ][]) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

/**
 * Input of workflow `stkPush`. Ids and non-secret fields only: credentials, the passkey and the
 * Daraja CallBackURL token are loaded or minted inside the activities so they never enter history.
 *
 * `metadata` is deliberately absent: it is merchant data (up to 2 KiB, possibly personal) that no
 * decision depends on; it lives in the payments row and the API echoes it from there, so it is
 * not copied into every history event, query answer and recorded snapshot.
 */
export interface StkPushInput {
  /** `pay_…`; also the workflow id and the key of the payments row. */
  paymentId: string;
  merchantId: string;
  /** The Daraja channel (shortcode + credentials) to push through; `ch_…`. */
  channelId: string;
  environment: PaymentEnvironment;
  /** Whole KES, 1 … channel maximum. The amount a success callback must match. */
  amount: number;
  /** Normalised MSISDN, `2547XXXXXXXX` or `2541XXXXXXXX`. */
  phone: string;
  /** Daraja AccountReference, ≤ 12 characters. */
  reference: string;
  /** Daraja TransactionDesc, ≤ 13 characters. */
  description: string;
  /**
   * The merchant's own per-request webhook URL (not Daraja's CallBackURL, which the activity builds
   * because it carries a secret token). Carried for the webhook step; the workflow does not call it.
   */
  callbackUrl?: string | undefined;
  /** Overrides of the defaults in {@link DEFAULT_STK_CONFIG}, e.g. per channel. */
  config?: Partial<StkPushConfig> | undefined;
}

/**
 * What we know about the push request itself:
 * - `pending`: not yet answered by Daraja (includes phone-busy and transient back-offs);
 * - `accepted`: Daraja returned a CheckoutRequestID;
 * - `rejected`: Daraja (or our own pre-send checks) definitively refused; no prompt was shown;
 * - `ambiguous`: the request may have reached Daraja but we never saw the answer. Never pushed again.
 */
export type InitiationState = 'pending' | 'accepted' | 'rejected' | 'ambiguous';

/** Who made the current decision: Daraja (a callback or a query) or our own deadline. */
export type DecisionSource = 'callback' | 'query' | 'deadline' | 'initiation' | 'reconciliation' | 'manual';

/** The live state of one STK payment: the `paymentState` query answer and every update's result. */
export interface StkPaymentState {
  paymentId: string;
  status: PaymentStatus;
  initiation: InitiationState;
  amount: number;
  phone: string;
  reference: string;
  /** Daraja's id of the push; from the acceptance, or adopted from the first callback after an ambiguous push. */
  checkoutRequestId?: string | undefined;
  merchantRequestId?: string | undefined;
  /** M-Pesa receipt; only a success callback carries one (an STK query does not). */
  mpesaReceipt?: string | undefined;
  /** `YYYYMMDDHHmmss` Nairobi time, from the success callback. */
  transactionDate?: string | undefined;
  /** Daraja's ResultCode behind the current decision (or the rejection's errorCode). */
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  /** Set when `status` is `failed`. */
  failureReason?: FailureReason | undefined;
  /** Set when `status` is `needs_review`. */
  reviewReason?: ReviewReason | undefined;
  /** One human sentence on why the payment is where it is. */
  message?: string | undefined;
  decidedBy?: DecisionSource | undefined;
  /** Push requests sent (phone-busy and transient retries included). */
  initiationAttempts: number;
  /** STK queries run (timer, confirmation and refresh). */
  queries: number;
  /** Strictly increasing with every recorded change; orders the projection writes. */
  version: number;
  /** ISO instants (workflow time). */
  acceptedAt?: string | undefined;
  deadlineAt?: string | undefined;
  settledAt?: string | undefined;
  /** Until when a non-success settlement still listens for a late callback. */
  graceUntil?: string | undefined;
  /** Who took the payment out of `needs_review`, once someone did. */
  resolvedBy?: ResolvedBy | undefined;
  /** The `c2b` payment that reconciliation matched to this one (the customer paid the paybill directly). */
  matchedC2bPaymentId?: string | undefined;
}

/**
 * Payload of signal `stkCallback`: Daraja's STK callback as parsed by the hook route. An unsigned
 * hint: the workflow decides what to believe. Serialisable only (no Date).
 */
export interface StkCallbackSignal {
  checkoutRequestId: string;
  merchantRequestId?: string | undefined;
  /** Normalised ResultCode as a string: `"0"`, `"1032"`, `"SFC_IC0003"`. */
  resultCode: string;
  resultDesc: string;
  /** Success only: the amount paid, as sent (may be `10` for `10.00`). */
  amount?: number | undefined;
  /** Success only: the M-Pesa receipt number. */
  receipt?: string | undefined;
  /** Success only: `YYYYMMDDHHmmss`. */
  transactionDate?: string | undefined;
  /** Success only: the paying MSISDN. */
  phone?: string | undefined;
}

/**
 * ApplicationFailure types the `initiateStkPush` activity throws. Values, so the workflow can
 * match them; the activity implementation must use exactly these strings.
 */
export const STK_INITIATION_ERRORS = {
  /** The request provably never reached Daraja (DNS, connect refused, OAuth failure before the push). Retryable. */
  notSent: 'StkPushNotSent',
  /** The channel cannot push at all (missing/invalid credentials, disabled channel). Non-retryable; nothing was sent. */
  misconfigured: 'StkChannelMisconfigured',
} as const;
