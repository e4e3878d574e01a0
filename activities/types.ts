/**
 * The contract between workflow `stkPush` and its activities: types only. `createActivities(deps)`
 * returns an object that satisfies {@link StkActivities}; the workflow imports these types and nothing else.
 * Every input and output is a plain, JSON-serialisable object (it is written into workflow history).
 */
import type {
  PaymentEnvironment,
  STK_INITIATION_ERRORS,
  StkPaymentState,
  StkPushInput,
} from '../src/domain/stk';
import type { ManualResolution } from '../src/domain/reconciliation';
import type { InlineDelivery } from './webhook-types';

/** The error types `initiateStkPush` may throw (see `STK_INITIATION_ERRORS`). */
export type StkInitiationErrorType = (typeof STK_INITIATION_ERRORS)[keyof typeof STK_INITIATION_ERRORS];

// ---------------------------------------------------------------------------------------------
// initiateStkPush

/** The payment fields a push needs, as the workflow received them (see {@link StkPushInput}). */
export type InitiateStkPushInput = Pick<
  StkPushInput,
  'paymentId' | 'merchantId' | 'channelId' | 'environment' | 'amount' | 'phone' | 'reference' | 'description'
> & {
  /**
   * 1 for the first push of this payment, then 2, 3 … for each re-push the workflow decides on after
   * a definitive phone-busy or transient rejection. Distinct from Temporal's own retry `attempt`.
   */
  pushNumber: number;
};

/**
 * The business outcome of one push request. Outcomes are returned, never thrown.
 *
 * Throwing is reserved for failures before Daraja could have received the request:
 * - `ApplicationFailure.retryable(msg, 'StkPushNotSent')`: provably not sent (DNS, connection refused,
 *   OAuth token failure); Temporal retries it per the workflow's retry policy.
 * - `ApplicationFailure.nonRetryable(msg, 'StkChannelMisconfigured')`: the channel cannot push
 *   (credentials missing or undecryptable, channel disabled); nothing was sent.
 *
 * **Double-push guard (MUST):** Temporal also retries an attempt that timed out or crashed, and such
 * an attempt may have sent the request. Before sending, the implementation records "push
 * `pushNumber` of `paymentId` sent" durably; an attempt (`activityInfo().attempt > 1`) that finds
 * that mark must NOT send again and returns `{ kind: 'ambiguous' }` instead, unless the earlier attempt
 * recorded Daraja's answer (accepted or rejected) with the mark: then it returns that answer, so a
 * workflow task that was lost after the push returned (a local activity's result is durable only
 * with its task) is retried to the same decision. Any error that may have happened after sending is
 * returned as `ambiguous`, never thrown.
 */
export type InitiateStkPushResult =
  | {
      kind: 'accepted';
      /** Daraja's `CheckoutRequestID` (`ws_CO_…`): correlates the callback and the STK query. */
      checkoutRequestId: string;
      /** Daraja's `MerchantRequestID`. */
      merchantRequestId: string;
      /** Daraja's `CustomerMessage`, for logs. */
      customerMessage?: string | undefined;
    }
  | {
      kind: 'rejected';
      /** Daraja's `errorCode` (e.g. `400.002.02`, `500.001.1001`) or HTTP status as a string. */
      code: string;
      /** Daraja's `errorMessage` as sent; shown to the merchant on a validation rejection. */
      message: string;
      /** Spike arrest, rate limiting, "system busy": the same push may succeed if sent again later. */
      transient: boolean;
      /** "Unable to lock subscriber": another prompt is open on the phone; retry after a back-off. */
      phoneBusy: boolean;
    }
  | {
      kind: 'ambiguous';
      /** Why we cannot tell whether Daraja got the push (timeout after send, reset, 5xx without body…). */
      reason: string;
    };

// ---------------------------------------------------------------------------------------------
// queryStkStatus

export interface QueryStkStatusInput {
  paymentId: string;
  channelId: string;
  environment: PaymentEnvironment;
  /** The push to ask about. */
  checkoutRequestId: string;
}

/**
 * What Daraja's STK query said. Returned for every answer, including errors, so the workflow
 * decides what to do; the activity throws only for its own bugs (the workflow treats a throw like
 * `unavailable`).
 */
export type QueryStkStatusResult =
  | {
      /** `500.001.1001` "The transaction is being processed": no answer yet. */
      kind: 'pending';
    }
  | {
      kind: 'final';
      /** Normalised ResultCode string (`"0"`, `"1032"`, `"SFC_IC0003"`), mapped by `outcomeForResultCode`. */
      resultCode: string;
      /** ResultDesc with any `[STK_CB - ]` prefix stripped. */
      resultDesc: string;
    }
  | {
      /** Timeout, rate limit, 5xx, token failure: ask again later. */
      kind: 'unavailable';
      message: string;
    };

// ---------------------------------------------------------------------------------------------
// recordPaymentStatus

/**
 * A full snapshot of the payment after a change. The implementation writes the projection row
 * only if `version` is newer than the stored one and never moves a row out of `success`
 * (monotonic, so retries and reordering are harmless), and in the same transaction appends the
 * event `payment.success` / `payment.failed` / `payment.needs_review` when `status` is final.
 * `pending` snapshots (the acceptance, carrying `checkoutRequestId`) append no event.
 */
export type RecordPaymentStatusInput = Pick<
  StkPaymentState,
  | 'paymentId'
  | 'version'
  | 'status'
  | 'initiation'
  | 'checkoutRequestId'
  | 'merchantRequestId'
  | 'mpesaReceipt'
  | 'transactionDate'
  | 'resultCode'
  | 'resultDesc'
  | 'failureReason'
  | 'reviewReason'
  | 'decidedBy'
  | 'resolvedBy'
  | 'matchedC2bPaymentId'
> & {
  /** A manual resolution: written to the audit log in the same transaction (who and why). */
  resolution?: Pick<ManualResolution, 'actor' | 'note' | 'requestId'> | undefined;
  /** Why, in one sentence (stored on the event for operators). */
  reason: string;
  /** ISO instant of the change in workflow time (deterministic; use it rather than the DB clock if you like). */
  changedAt: string;
};

export interface RecordPaymentStatusResult {
  /** False when the row already had this or a newer version (a retry or a stale write). */
  applied: boolean;
  /** The appended event's id, if one was appended. */
  eventId: string | null;
  /**
   * The event's deliveries (one per target: the callback URL, each subscribed endpoint), planned in
   * the database and not started: the workflow attempts each once inline and hands a failed one to
   * its `deliverWebhook` workflow. Also returned on a retry, so a hand-off is never lost.
   */
  deliveries?: InlineDelivery[];
}

// ---------------------------------------------------------------------------------------------
// findC2bMatch

/** A `needs_review` payment's identity, to find a C2B confirmation the customer made instead. */
export interface FindC2bMatchInput {
  paymentId: string;
  channelId: string;
  phone: string;
  amount: number;
  /** The push's AccountReference; compared trimmed and case-insensitively with the BillRefNumber. */
  reference: string;
  /** ISO instants: the confirmation must have been recorded in [from, to). */
  from: string;
  to: string;
}

/**
 * The `c2b` payment claimed for this payment, if any. The claim is durable and exclusive (one C2B
 * confirmation settles at most one payment), and a retry returns the payment's earlier claim.
 */
export type FindC2bMatchResult =
  | { found: false }
  | { found: true; c2bPaymentId: string; mpesaReceipt: string; transactionDate?: string | undefined };

// ---------------------------------------------------------------------------------------------

/** The activities workflow `stkPush` calls. */
export interface StkActivities {
  /** Sends one STK push. Business outcomes are returned; see {@link InitiateStkPushResult} for what may be thrown. */
  initiateStkPush(input: InitiateStkPushInput): Promise<InitiateStkPushResult>;
  /** Runs one STK query (`/mpesa/stkpushquery/v1/query`). Read-only, so safe to repeat. */
  queryStkStatus(input: QueryStkStatusInput): Promise<QueryStkStatusResult>;
  /** Writes the projection row and its event, idempotently and monotonically (keyed by `paymentId` + `version`). */
  recordPaymentStatus(input: RecordPaymentStatusInput): Promise<RecordPaymentStatusResult>;
  /** Finds and claims a C2B confirmation matching a `needs_review` payment (a database read and one write). */
  findC2bMatch(input: FindC2bMatchInput): Promise<FindC2bMatchResult>;
}
