/**
 * The webhook retry schedule (Standard Webhooks' example schedule), its ±10 % jitter and the
 * `Retry-After` rule. Pure and deterministic given its random input, so the delivery workflow
 * runs it with its seeded `Math.random` and tests run it with fixed numbers.
 *
 * Worked example (no jitter): attempt 1 at 0:00:00, attempt 2 at 0:00:05, attempt 3 at 0:05:05,
 * 4 at 0:35:05, 5 at 2:35:05, 6 at 7:35:05, 7 at 17:35:05, 8 at 31:35:05, 9 at 51:35:05 and
 * attempt 10, the last, at 75:35:05, about three days after the event.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * The wait before attempt n + 2 after attempt n + 1 failed (index 0 is the wait between the
 * first and the second attempt). Attempt 1 happens at once.
 */
export const WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  14 * HOUR,
  20 * HOUR,
  24 * HOUR,
];

/** Ten attempts: the immediate one and one after each delay. */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_MS.length + 1;

/** Each wait is stretched or shrunk by up to this fraction. */
export const WEBHOOK_JITTER = 0.1;

/** 75 h 35 m 5 s: the sum of the unjittered waits. */
export const WEBHOOK_SCHEDULE_SPAN_MS = WEBHOOK_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0);

/**
 * No attempt is ever made later than this after the first one: the span with every wait at its
 * jitter maximum (about 83 h 8 m). A `Retry-After` can move attempts later, never past this.
 */
export const WEBHOOK_DEADLINE_MS = Math.round(WEBHOOK_SCHEDULE_SPAN_MS * (1 + WEBHOOK_JITTER));

/** HTTP statuses whose `Retry-After` is honoured. */
export const RETRY_AFTER_STATUSES: readonly number[] = [429, 503];

/** The unjittered wait after attempt `attempt` (1-based) fails, or undefined after the last. */
export function baseDelayAfter(attempt: number): number | undefined {
  return WEBHOOK_RETRY_DELAYS_MS[attempt - 1];
}

/** `baseMs` scaled into [0.9, 1.1) × baseMs by `random` in [0, 1). */
export function jittered(baseMs: number, random: number): number {
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(baseMs * (1 - WEBHOOK_JITTER + 2 * WEBHOOK_JITTER * r));
}

export interface NextAttemptInput {
  /** The attempt that just failed, 1-based. */
  attempt: number;
  /** A number in [0, 1) for the jitter (the workflow's seeded Math.random()). */
  random: number;
  /** HTTP status of the failed attempt, if any answer came back. */
  statusCode?: number | null | undefined;
  /** Parsed `Retry-After` of that answer, in seconds. */
  retryAfterSeconds?: number | null | undefined;
  /** Milliseconds since the first attempt, at the moment the failed attempt finished. */
  elapsedMs: number;
}

export interface NextAttempt {
  /** Milliseconds to wait before the next attempt. */
  delayMs: number;
  /** Why this wait: the plain schedule, a honoured Retry-After, or either cut to the deadline. */
  reason: 'schedule' | 'retry-after' | 'deadline';
}

/**
 * When to try again after a failed attempt, or `undefined` when it was the last one.
 *
 * Rule for `Retry-After` (only on 429 and 503): the wait is the larger of the jittered schedule
 * wait and the receiver's `Retry-After`, but never more than the unjittered wait to the
 * next-but-one slot (this wait plus the following one; for the last wait, just the last wait).
 * Malipo never retries *earlier* than its schedule because a receiver asked, and a receiver can
 * postpone at most one step. Every wait is also cut so that no attempt falls after
 * WEBHOOK_DEADLINE_MS from the first one; the number of attempts stays ten.
 */
export function nextAttemptDelay(input: NextAttemptInput): NextAttempt | undefined {
  const base = baseDelayAfter(input.attempt);
  if (base === undefined) return undefined;
  let delayMs = jittered(base, input.random);
  let reason: NextAttempt['reason'] = 'schedule';
  const retryAfter = input.retryAfterSeconds;
  if (
    input.statusCode != null &&
    RETRY_AFTER_STATUSES.includes(input.statusCode) &&
    retryAfter != null &&
    Number.isFinite(retryAfter) &&
    retryAfter > 0
  ) {
    const cap = base + (baseDelayAfter(input.attempt + 1) ?? 0);
    const wanted = Math.min(Math.round(retryAfter * SECOND), cap);
    if (wanted > delayMs) {
      delayMs = wanted;
      reason = 'retry-after';
    }
  }
  const remaining = WEBHOOK_DEADLINE_MS - Math.max(0, input.elapsedMs);
  if (delayMs > remaining) {
    delayMs = Math.max(0, remaining);
    reason = 'deadline';
  }
  return { delayMs, reason };
}

/** The attempt times (ms after the first) with no jitter and no Retry-After: the worked example above. */
export function nominalAttemptOffsets(): number[] {
  const out = [0];
  for (const d of WEBHOOK_RETRY_DELAYS_MS) out.push(out[out.length - 1]! + d);
  return out;
}
