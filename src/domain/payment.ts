/** The payment status machine: a closed set of statuses and failure reasons, and the rules between them. */
import { assertNever } from './assert';

/**
 * - `pending`: accepted by Malipo; the customer has not answered or Daraja has not told us yet.
 * - `success`: money moved; confirmed by Daraja and carrying an M-Pesa receipt. Final forever.
 * - `failed`: money did not move; `failureReason` says why.
 * - `needs_review`: money may have moved but Malipo cannot prove either way; an operator decides.
 */
export type PaymentStatus = 'pending' | 'success' | 'failed' | 'needs_review';

export const PAYMENT_STATUSES: readonly PaymentStatus[] = ['pending', 'success', 'failed', 'needs_review'];

/** Why a payment failed, in words a merchant can act on. */
export type FailureReason =
  | 'cancelled' // the customer dismissed the prompt
  | 'timeout' // no answer before the deadline; the customer could not be reached or did nothing
  | 'insufficient_funds'
  | 'wrong_pin'
  | 'expired' // the prompt expired on the handset
  | 'phone_busy' // another prompt was open on the phone for longer than the retry window
  | 'rejected' // Daraja or the operator refused the request (validation, limits, unreachable)
  | 'reviewed'; // it was in needs_review, and a manual resolution says no money moved

export const FAILURE_REASONS: readonly FailureReason[] = [
  'cancelled',
  'timeout',
  'insufficient_funds',
  'wrong_pin',
  'expired',
  'phone_busy',
  'rejected',
  'reviewed',
];

/** Why a payment needs review. */
export type ReviewReason =
  | 'ambiguous_initiation' // the push may have reached Daraja, and nothing ever answered
  | 'unknown_result_code'
  | 'amount_mismatch'
  | 'unconfirmed_success'; // a success callback the STK query contradicts or cannot confirm

export function isFinal(status: PaymentStatus): boolean {
  switch (status) {
    case 'pending':
      return false;
    case 'success':
    case 'failed':
    case 'needs_review':
      return true;
    default:
      return assertNever(status, 'payment status');
  }
}

/**
 * Rank for monotonic projection writes: a write never lowers the rank.
 * `failed`/`needs_review` may still become `success` (a confirmed late callback); nothing leaves `success`.
 */
export function statusRank(status: PaymentStatus): number {
  switch (status) {
    case 'pending':
      return 0;
    case 'failed':
    case 'needs_review':
      return 1;
    case 'success':
      return 2;
    default:
      return assertNever(status, 'payment status');
  }
}

/** May a payment in `from` move to `to`? */
export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  if (from === to) return false;
  if (from === 'success') return false;
  if (from === 'pending') return true;
  // failed <-> needs_review, or a late confirmed success
  return to !== 'pending';
}
