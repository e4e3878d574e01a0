/**
 * Reversals (refunds of a successful payment) as workflow `reversal` and the API see them: statuses,
 * reasons, timing knobs and the messages the hooks hand to the workflow. Pure types, no I/O.
 */
import type { PaymentStatus } from './payment';
import type { PaymentEnvironment } from './stk';

/** `pending` until M-Pesa's Result (or Transaction Status) decides; `success`/`failed` are final. */
export type ReversalStatus = PaymentStatus;

/** Why a reversal failed: nothing was sent back to the customer. */
export type ReversalFailureReason =
  | 'rejected' // Daraja refused the request synchronously, or Malipo could not send it
  | 'declined' // M-Pesa's Result refused it (e.g. R000002 invalid original transaction), confirmed by Transaction Status
  | 'queue_timeout'; // M-Pesa timed it out in its queue and Transaction Status finds no such transaction

export const REVERSAL_FAILURE_REASONS: readonly ReversalFailureReason[] = [
  'rejected',
  'declined',
  'queue_timeout',
];

/** Why a reversal needs an operator: money may have gone back and Malipo cannot prove either way. */
export type ReversalReviewReason =
  | 'ambiguous_initiation' // the request may have reached Daraja; it is never sent again
  | 'result_missing' // no Result, and Transaction Status could not confirm what happened
  | 'amount_mismatch' // M-Pesa reports another amount than the one asked
  | 'failure_unconfirmed'; // the Result says it failed, and Transaction Status could not confirm that

export const REVERSAL_REVIEW_REASONS: readonly ReversalReviewReason[] = [
  'ambiguous_initiation',
  'result_missing',
  'amount_mismatch',
  'failure_unconfirmed',
];

/** Who decided the current status. */
export type ReversalDecisionSource = 'initiation' | 'result' | 'status' | 'deadline';

/** What we know about the one Reversal request. */
export type ReversalInitiationState = 'pending' | 'accepted' | 'rejected' | 'ambiguous';

/** Timing knobs, in milliseconds. */
export interface ReversalConfig {
  /** How long after acceptance (or an ambiguous send) the Result is awaited. Default 2 min. */
  resultWaitMs: number;
  /** How long each Transaction Status request waits for its own Result. Default 60 s. */
  statusWaitMs: number;
  /** Transaction Status requests before giving up with `needs_review`. Default 3. */
  maxStatusQueries: number;
  /** Pause between two Transaction Status requests; doubles each time. Default 30 s. */
  statusRetryDelayMs: number;
}

export const DEFAULT_REVERSAL_CONFIG: Readonly<ReversalConfig> = {
  resultWaitMs: 2 * 60_000,
  statusWaitMs: 60_000,
  maxStatusQueries: 3,
  statusRetryDelayMs: 30_000,
};

export function resolveReversalConfig(partial: Partial<ReversalConfig> | undefined): ReversalConfig {
  const out: ReversalConfig = { ...DEFAULT_REVERSAL_CONFIG };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && k in out) {
      (out as unknown as Record<string, number>)[k] = v;
    }
  }
  return out;
}

/** The workflow's input: ids and amounts only, never a credential. */
export interface ReversalInput {
  /** `rev_…`, also the workflow id. */
  reversalId: string;
  paymentId: string;
  merchantId: string;
  channelId: string;
  environment: PaymentEnvironment;
  /** Whole KES to send back. */
  amount: number;
  /** The original payment's M-Pesa receipt (Daraja's TransactionID). */
  receipt: string;
  /** Daraja Remarks (the reason, cleaned). */
  remarks: string;
  config?: Partial<ReversalConfig> | undefined;
}

/** A ResultURL or QueueTimeOutURL callback, parsed by the hook route. */
export interface ReversalResultSignal {
  kind: 'result' | 'queue_timeout';
  resultCode: string;
  resultDesc: string;
  conversationId?: string | undefined;
  originatorConversationId?: string | undefined;
  /** The reversal's own TransactionID (its receipt) when M-Pesa executed it. */
  transactionId?: string | undefined;
  /** The amount reversed, when the Result names one. */
  amount?: number | undefined;
}

/** The Result of one of the reversal's Transaction Status requests. */
export interface ReversalStatusSignal {
  /** The ConversationID of the Transaction Status request it answers. */
  conversationId?: string | undefined;
  resultCode: string;
  resultDesc: string;
  /** `Completed`, `Failed` … */
  transactionStatus?: string | undefined;
  receipt?: string | undefined;
  amount?: number | undefined;
}

/** The live state (query `reversalState`) and the workflow's result. */
export interface ReversalState {
  reversalId: string;
  status: ReversalStatus;
  initiation: ReversalInitiationState;
  amount: number;
  conversationId?: string | undefined;
  originatorConversationId?: string | undefined;
  /** The reversal's own M-Pesa transaction id, once believed. */
  mpesaReceipt?: string | undefined;
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  failureReason?: ReversalFailureReason | undefined;
  reviewReason?: ReversalReviewReason | undefined;
  decidedBy?: ReversalDecisionSource | undefined;
  /** Reversal requests sent: at most 1, ever. */
  requests: number;
  statusQueries: number;
  message?: string | undefined;
  version: number;
}
