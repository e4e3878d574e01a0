/**
 * The contract between workflow `b2cPayout` and its activities: types only. Inputs and outputs are
 * plain JSON (they are written into history) and carry no secret.
 */
import type { PayoutInput, PayoutState, SuspiciousPayoutResult } from '../src/domain/payout';
import type { ManualResolution } from '../src/domain/reconciliation';

/** Errors `initiateB2cPayout` may throw; both mean nothing was sent. */
export const PAYOUT_INITIATION_ERRORS = {
  /** Provably not sent (connection refused, DNS, OAuth failure): Temporal retries the activity. */
  notSent: 'B2cRequestNotSent',
  /** The channel cannot pay out (no initiator, undecryptable credentials, disabled): non-retryable. */
  misconfigured: 'B2cChannelMisconfigured',
} as const;

export type InitiateB2cPayoutInput = Pick<
  PayoutInput,
  'payoutId' | 'channelId' | 'environment' | 'amount' | 'phone' | 'commandId' | 'remarks' | 'occasion'
>;

/**
 * The outcome of the one B2C request of a payout. Returned, never thrown (see
 * {@link PAYOUT_INITIATION_ERRORS} for the throws).
 *
 * **Never twice (MUST):** before sending, the activity records "request of `payoutId` sent" durably.
 * A retried attempt that finds the mark returns `ambiguous` without sending. Anything that may have
 * happened after sending (timeout, reset, 5xx) is `ambiguous`. Daraja's own guard backs this up: the
 * OriginatorConversationID is the payout id, and Daraja refuses a reused one.
 */
export type InitiateB2cPayoutResult =
  | { kind: 'accepted'; conversationId: string; originatorConversationId: string }
  | { kind: 'rejected'; code: string; message: string }
  | { kind: 'ambiguous'; reason: string };

export interface QueryPayoutStatusInput {
  payoutId: string;
  channelId: string;
  environment: PayoutInput['environment'];
  /** The B2C request's OriginatorConversationID (the payout id). */
  originatorConversationId: string;
  /** The B2C receipt, when known. */
  receipt?: string | undefined;
  /** 1, 2, 3 …: numbers the request (its ResultURL is the payout's status hook). */
  queryNumber: number;
}

/**
 * Starting a Transaction Status request: its answer arrives later as a `payoutStatus` signal.
 * `unavailable` means the request was not accepted (try again later); it is safe to repeat (a read).
 */
export type QueryPayoutStatusResult =
  | { kind: 'started'; conversationId: string }
  | { kind: 'unavailable'; message: string };

/**
 * A full snapshot after a change. Written only if `version` is newer than the stored row, never out
 * of `success`; a final status appends one event (`payout.success`, `payout.failed`,
 * `payout.needs_review`) in the same transaction and starts its webhook deliveries.
 */
export type RecordPayoutStatusInput = Pick<
  PayoutState,
  | 'payoutId'
  | 'version'
  | 'status'
  | 'initiation'
  | 'conversationId'
  | 'originatorConversationId'
  | 'mpesaReceipt'
  | 'receiverName'
  | 'completedAt'
  | 'resultCode'
  | 'resultDesc'
  | 'failureReason'
  | 'reviewReason'
  | 'decidedBy'
  | 'resolvedBy'
> & {
  /** A manual resolution: written to the audit log in the same transaction (who and why). */
  resolution?: Pick<ManualResolution, 'actor' | 'note' | 'requestId'> | undefined;
  reason: string;
  /** ISO instant in workflow time. */
  changedAt: string;
  /**
   * This version records a Result that was not believed: the status is unchanged, and a
   * `payout.suspicious_result` event plus an audit row are appended instead of a status event.
   */
  suspicious?: SuspiciousPayoutResult | undefined;
};

export interface RecordPayoutStatusResult {
  applied: boolean;
  eventId: string | null;
}

export interface PayoutActivities {
  initiateB2cPayout(input: InitiateB2cPayoutInput): Promise<InitiateB2cPayoutResult>;
  queryPayoutStatus(input: QueryPayoutStatusInput): Promise<QueryPayoutStatusResult>;
  recordPayoutStatus(input: RecordPayoutStatusInput): Promise<RecordPayoutStatusResult>;
}
