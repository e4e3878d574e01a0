/**
 * Pure types shared by the payouts API and workflow `b2cPayout`: the workflow input, its knobs, its
 * live state and the signals the Daraja hook routes send it. Payouts reuse the payment status set
 * (`pending`, `success`, `failed`, `needs_review`) with reasons of their own.
 */
import type { PaymentStatus } from './payment';
import type { ResolvedBy } from './reconciliation';
import type { PaymentEnvironment } from './stk';

export type PayoutStatus = PaymentStatus;

/** Daraja's B2C CommandID. */
export type PayoutCommand = 'BusinessPayment' | 'SalaryPayment' | 'PromotionPayment';
export const PAYOUT_COMMANDS: readonly PayoutCommand[] = [
  'BusinessPayment',
  'SalaryPayment',
  'PromotionPayment',
];

/** Why a payout failed: money did not leave the shortcode. */
export type PayoutFailureReason =
  | 'rejected' // Daraja refused the request (validation, credentials, limits, account state)
  | 'insufficient_funds' // the B2C utility account could not cover it (ResultCode 1)
  | 'recipient_invalid' // not a registered or valid M-Pesa customer (2040, SFC_IC0003)
  | 'queue_timeout' // M-Pesa timed the request out in its queue and Transaction Status confirms nothing moved
  | 'not_completed' // in review, Transaction Status later found the transaction failed, declined, cancelled or reversed
  | 'reviewed'; // it was in needs_review, and a manual resolution says no money moved

export const PAYOUT_FAILURE_REASONS: readonly PayoutFailureReason[] = [
  'rejected',
  'insufficient_funds',
  'recipient_invalid',
  'queue_timeout',
  'not_completed',
  'reviewed',
];

/** Why a payout needs an operator: money may have moved and Malipo cannot prove either way. */
export type PayoutReviewReason =
  | 'ambiguous_initiation' // the request may have reached Daraja; it is never sent again
  | 'result_missing' // accepted, but neither the result nor Transaction Status ever said what happened
  | 'amount_mismatch' // the result reports a different amount
  | 'failure_unconfirmed'; // the result says it failed, and Transaction Status could not confirm that

export const PAYOUT_REVIEW_REASONS: readonly PayoutReviewReason[] = [
  'ambiguous_initiation',
  'result_missing',
  'amount_mismatch',
  'failure_unconfirmed',
];

/** Who decided the current status. */
export type PayoutDecisionSource = 'initiation' | 'result' | 'status' | 'deadline' | 'manual';

/** What we know about the B2C request itself (as for STK: an ambiguous request is never sent again). */
export type PayoutInitiationState = 'pending' | 'accepted' | 'rejected' | 'ambiguous';

/** Timing knobs, in milliseconds. */
export interface PayoutConfig {
  /** How long after acceptance (or an ambiguous request) we wait for the ResultURL/QueueTimeOutURL callback. Default 2 min. */
  resultWaitMs: number;
  /** How long each Transaction Status request waits for its own result callback. Default 60 s. */
  statusWaitMs: number;
  /** Transaction Status requests before giving up with `needs_review`. Default 3. */
  maxStatusQueries: number;
  /** Pause between two Transaction Status requests; doubles each time. Default 30 s. */
  statusRetryDelayMs: number;
  /** How long a `needs_review` payout keeps listening for a late result that settles it. Default 24 h. */
  graceMs: number;
  /** Multiplies every offset of the reconciliation schedule (RECONCILE_SCHEDULE_MS) of a review. Default 1; test stacks only. */
  reconcileScheduleScale: number;
}

export const DEFAULT_PAYOUT_CONFIG: Readonly<PayoutConfig> = {
  resultWaitMs: 2 * 60_000,
  statusWaitMs: 60_000,
  maxStatusQueries: 3,
  statusRetryDelayMs: 30_000,
  graceMs: 24 * 3600_000,
  reconcileScheduleScale: 1,
};

export function resolvePayoutConfig(partial: Partial<PayoutConfig> | undefined): PayoutConfig {
  const out: PayoutConfig = { ...DEFAULT_PAYOUT_CONFIG };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (typeof v === 'number' && k in out) (out as unknown as Record<string, number>)[k] = v;
  }
  return out;
}

/**
 * Input of workflow `b2cPayout`. No secret: the initiator password and the SecurityCredential are
 * loaded and computed inside the activity; the ResultURL token is minted there too.
 */
export interface PayoutInput {
  /** `po_…`: the workflow id, the payouts row key, and Daraja's OriginatorConversationID. */
  payoutId: string;
  merchantId: string;
  channelId: string;
  environment: PaymentEnvironment;
  /** Whole KES. */
  amount: number;
  /** Normalised MSISDN `2547…`/`2541…`. */
  phone: string;
  commandId: PayoutCommand;
  /** Daraja Remarks, 2–100 characters. */
  remarks: string;
  occasion?: string | undefined;
  /** The merchant's reference, for search attributes and the API. */
  reference: string;
  config?: Partial<PayoutConfig> | undefined;
}

/**
 * A ResultURL or QueueTimeOutURL callback, parsed and checked by the hook route (its token proves it
 * was addressed to this payout).
 */
export interface PayoutResultSignal {
  /** `result`: the ResultURL callback; `queue_timeout`: the QueueTimeOutURL one. */
  kind: 'result' | 'queue_timeout';
  /** Normalised ResultCode string (`"0"`, `"2040"`, `"SFC_IC0003"`). */
  resultCode: string;
  resultDesc: string;
  conversationId?: string | undefined;
  originatorConversationId?: string | undefined;
  /** TransactionReceipt (success) or TransactionID. */
  receipt?: string | undefined;
  /** TransactionAmount, whole KES. */
  amount?: number | undefined;
  /** ReceiverPartyPublicName, e.g. `2547XXXXXXXX - JANE DOE`. */
  receiverName?: string | undefined;
  /** TransactionCompletedDateTime as Daraja sends it (`dd.MM.yyyy HH:mm:ss`). */
  completedAt?: string | undefined;
}

/** The result callback of a Transaction Status request the workflow made, parsed by the hook route. */
export interface PayoutStatusSignal {
  /** The Transaction Status request's ConversationID, to tell answers to old requests apart. */
  conversationId?: string | undefined;
  /** Normalised ResultCode string; `"0"` means the lookup itself succeeded. */
  resultCode: string;
  resultDesc: string;
  /** `TransactionStatus` (e.g. `Completed`), when the lookup found the transaction. */
  transactionStatus?: string | undefined;
  /** `ReceiptNo`. */
  receipt?: string | undefined;
  /** `Amount`, whole KES. */
  amount?: number | undefined;
  /** `CreditPartyName`. */
  receiverName?: string | undefined;
  /** `FinalisedTime`. */
  completedAt?: string | undefined;
}

/**
 * A Result that does not name this payout's B2C request by both the ConversationID and the
 * OriginatorConversationID Daraja returned when it accepted it: recorded, logged, never believed.
 */
export interface SuspiciousPayoutResult {
  /** `missing_ids`: one or both ids absent; `foreign_ids`: they name another request. */
  reason: 'missing_ids' | 'foreign_ids';
  kind: PayoutResultSignal['kind'];
  resultCode: string;
  resultDesc: string;
  conversationId: string | null;
  originatorConversationId: string | null;
}

/** The live state of one payout: the `payoutState` query answer. */
export interface PayoutState {
  payoutId: string;
  status: PayoutStatus;
  initiation: PayoutInitiationState;
  amount: number;
  phone: string;
  conversationId?: string | undefined;
  originatorConversationId?: string | undefined;
  /** The M-Pesa receipt of the payout (success only). */
  mpesaReceipt?: string | undefined;
  receiverName?: string | undefined;
  completedAt?: string | undefined;
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  failureReason?: PayoutFailureReason | undefined;
  reviewReason?: PayoutReviewReason | undefined;
  decidedBy?: PayoutDecisionSource | undefined;
  /** One human sentence on why the payout is where it is. */
  message?: string | undefined;
  /** B2C requests sent: 0 or 1, never more. */
  requests: number;
  /** Transaction Status requests sent. */
  statusQueries: number;
  /** Results ignored because they did not name this payout's request (see SuspiciousPayoutResult). */
  suspiciousResults: number;
  /** Strictly increasing with every recorded change. */
  version: number;
  acceptedAt?: string | undefined;
  settledAt?: string | undefined;
  /** Who took the payout out of `needs_review`, once someone did. */
  resolvedBy?: ResolvedBy | undefined;
}

/** ResultCode → failure reason for a definitive B2C failure. */
export function payoutFailureReasonFor(resultCode: string): PayoutFailureReason {
  switch (resultCode) {
    case '1':
      return 'insufficient_funds';
    case '2040':
    case 'SFC_IC0003':
      return 'recipient_invalid';
    default:
      return 'rejected';
  }
}
