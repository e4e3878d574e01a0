/**
 * How a `needs_review` payment or payout is left: the reconciliation schedule its own workflow keeps
 * (durable timers), and the manual resolution an operator or merchant sends. Types and constants only
 * (workflow code imports this file).
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * When a `needs_review` payment or payout asks Daraja again, counted from the moment it entered
 * review: soon (a lost answer often reappears within minutes), then spaced out (each ask costs a
 * Daraja call and a few history events), then daily until {@link RECONCILE_HORIZON_MS}.
 */
export const RECONCILE_SCHEDULE_MS: readonly number[] = [
  5 * MINUTE,
  15 * MINUTE,
  HOUR,
  6 * HOUR,
  DAY,
  2 * DAY,
  3 * DAY,
  4 * DAY,
  5 * DAY,
  6 * DAY,
  7 * DAY,
];

/**
 * After a week without an answer Daraja will not give one (a customer or recipient complaint reaches
 * the merchant long before); the workflow ends, still `needs_review`, and only a manual resolution
 * (written directly to the database) settles it.
 */
export const RECONCILE_HORIZON_MS = 7 * DAY;

/**
 * {@link RECONCILE_SCHEDULE_MS} with every offset multiplied by `scale` (at least 1 ms each). Scale 1
 * (the default, the only value production mode allows) is the schedule itself; a smaller scale is for
 * test stacks that must see reconciliation within minutes (`MALIPO_RECONCILE_SCHEDULE_SCALE`).
 */
export function reconcileSchedule(scale = 1): readonly number[] {
  if (scale === 1) return RECONCILE_SCHEDULE_MS;
  return RECONCILE_SCHEDULE_MS.map((ms) => Math.max(1, Math.round(ms * scale)));
}

/** Daraja's STK query is meant for recent pushes: a day after the push Malipo stops asking it. */
export const STK_QUERY_HORIZON_MS = DAY;

/**
 * A customer whose prompt never came pays the paybill soon after, not days later: a C2B confirmation
 * counts as this payment only if it arrived within this long after the push.
 */
export const C2B_MATCH_WINDOW_MS = 2 * HOUR;

/** Who took a payment or payout out of `needs_review`: its own workflow, or a person. */
export type ResolvedBy = 'reconciliation' | 'manual';

/** A manual resolution, as the API sends it to the workflow (or writes it when the workflow has ended). */
export interface ManualResolution {
  status: 'success' | 'failed';
  /** Required for `success`: the M-Pesa receipt that proves the money moved. */
  mpesaReceipt?: string | undefined;
  /** Why, in the resolver's words (kept in the audit log). */
  note: string;
  /** Who: the API key id. */
  actor: string;
  requestId?: string | undefined;
}

/** An M-Pesa receipt (TransID): 10 uppercase letters and digits. */
export const MPESA_RECEIPT = /^[A-Z0-9]{10}$/;

/** Longest note kept with a manual resolution. */
export const RESOLUTION_NOTE_MAX = 500;

/** ApplicationFailure types of a refused `resolve` update; the API maps both to 409. */
export const RESOLVE_ERRORS = {
  /** The payment or payout is not (or no longer) in `needs_review`. */
  notInReview: 'NotInReview',
  /** A different manual resolution was already applied. */
  conflict: 'ResolutionConflict',
  /** The workflow is ending: the resolution is written to the database directly instead. */
  closing: 'WorkflowClosing',
} as const;

/** Does `r` repeat the resolution that settled a record with this status and receipt? */
export function sameResolution(
  r: Pick<ManualResolution, 'status' | 'mpesaReceipt'>,
  settled: { status: string; mpesaReceipt?: string | null | undefined },
): boolean {
  if (r.status !== settled.status) return false;
  return r.status === 'failed' || r.mpesaReceipt === (settled.mpesaReceipt ?? undefined);
}
