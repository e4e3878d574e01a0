/**
 * The contract between workflow `reversal` and its activities: types only. Inputs and outputs are
 * plain JSON (they are written into history) and carry no secret.
 */
import type { ReversalInput, ReversalState } from '../src/domain/reversal';

/** Errors `initiateReversal` may throw; both mean nothing was sent. */
export const REVERSAL_INITIATION_ERRORS = {
  /** Provably not sent (connection refused, DNS, OAuth failure): Temporal retries the activity. */
  notSent: 'ReversalRequestNotSent',
  /** The channel cannot reverse (no initiator, undecryptable credentials): non-retryable. */
  misconfigured: 'ReversalChannelMisconfigured',
} as const;

export type InitiateReversalInput = Pick<
  ReversalInput,
  'reversalId' | 'channelId' | 'environment' | 'amount' | 'receipt' | 'remarks'
>;

/**
 * The outcome of the one Reversal request. **Never twice (MUST):** the activity marks the request
 * sent durably before sending; an attempt that finds the mark answers `ambiguous` without sending.
 * Anything that may have happened after sending (timeout, reset, 5xx) is `ambiguous`.
 */
export type InitiateReversalResult =
  | { kind: 'accepted'; conversationId: string; originatorConversationId: string }
  | { kind: 'rejected'; code: string; message: string }
  | { kind: 'ambiguous'; reason: string };

export interface QueryReversalStatusInput {
  reversalId: string;
  channelId: string;
  environment: ReversalInput['environment'];
  /** The reversal's own M-Pesa transaction id, when a Result named it. */
  transactionId?: string | undefined;
  /** The OriginatorConversationID Daraja gave the Reversal request. */
  originatorConversationId?: string | undefined;
  /** 1, 2, 3 … */
  queryNumber: number;
}

/** Starting a Transaction Status request; its answer arrives as a `reversalStatus` signal. */
export type QueryReversalStatusResult =
  | { kind: 'started'; conversationId: string }
  | { kind: 'unavailable'; message: string };

/**
 * A full snapshot after a change, written only when `version` is newer and never out of `success`.
 * `success` appends `payment.reversed`, `failed` appends `reversal.failed` (and frees the amount
 * for another reversal), `needs_review` appends `reversal.needs_review`, in the same transaction.
 */
export type RecordReversalStatusInput = Pick<
  ReversalState,
  | 'reversalId'
  | 'version'
  | 'status'
  | 'initiation'
  | 'conversationId'
  | 'originatorConversationId'
  | 'mpesaReceipt'
  | 'resultCode'
  | 'resultDesc'
  | 'failureReason'
  | 'reviewReason'
  | 'decidedBy'
> & {
  reason: string;
  /** ISO instant in workflow time. */
  changedAt: string;
};

export interface RecordReversalStatusResult {
  applied: boolean;
  eventId: string | null;
}

export interface ReversalActivities {
  initiateReversal(input: InitiateReversalInput): Promise<InitiateReversalResult>;
  queryReversalStatus(input: QueryReversalStatusInput): Promise<QueryReversalStatusResult>;
  recordReversalStatus(input: RecordReversalStatusInput): Promise<RecordReversalStatusResult>;
}
