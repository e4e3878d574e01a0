/**
 * The webhook retry schedule for code outside workflows. The schedule itself is pure domain code
 * (src/domain/webhook-schedule.ts) so the delivery workflow can import it; this module adds the
 * HTTP side: reading a `Retry-After` header.
 */
export {
  baseDelayAfter,
  jittered,
  type NextAttempt,
  type NextAttemptInput,
  nextAttemptDelay,
  nominalAttemptOffsets,
  RETRY_AFTER_STATUSES,
  WEBHOOK_DEADLINE_MS,
  WEBHOOK_JITTER,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_MS,
  WEBHOOK_SCHEDULE_SPAN_MS,
} from '../domain/webhook-schedule';

/**
 * `Retry-After` in seconds: either delta-seconds (`120`) or an HTTP date, measured from `nowMs`.
 * Returns undefined when absent or unreadable; a date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
