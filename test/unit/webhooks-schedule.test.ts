/** The retry schedule, its jitter and the Retry-After rule, as pure functions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  jittered,
  nextAttemptDelay,
  nominalAttemptOffsets,
  parseRetryAfter,
  WEBHOOK_DEADLINE_MS,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_MS,
} from '../../src/webhooks/schedule';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe('webhook schedule', () => {
  it("is Standard Webhooks' example: ten attempts, the last at 75:35:05", () => {
    assert.equal(WEBHOOK_MAX_ATTEMPTS, 10);
    assert.deepEqual(nominalAttemptOffsets(), [
      0,
      5 * S,
      5 * M + 5 * S,
      35 * M + 5 * S,
      2 * H + 35 * M + 5 * S,
      7 * H + 35 * M + 5 * S,
      17 * H + 35 * M + 5 * S,
      31 * H + 35 * M + 5 * S,
      51 * H + 35 * M + 5 * S,
      75 * H + 35 * M + 5 * S,
    ]);
  });

  it('keeps every jittered wait within ±10 %', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, r) => {
          const base = WEBHOOK_RETRY_DELAYS_MS[attempt - 1]!;
          const next = nextAttemptDelay({ attempt, random: r, elapsedMs: 0 })!;
          return (
            next.delayMs >= base * 0.9 - 1 && next.delayMs <= base * 1.1 + 1 && next.reason === 'schedule'
          );
        },
      ),
    );
    assert.equal(jittered(1000, 0), 900);
    assert.equal(jittered(1000, 0.5), 1000);
  });

  it('stops after the tenth attempt', () => {
    assert.equal(nextAttemptDelay({ attempt: 10, random: 0.5, elapsedMs: 0 }), undefined);
  });

  it('honours Retry-After on 429 and 503 up to the next-but-one slot, never earlier than the schedule', () => {
    assert.deepEqual(
      nextAttemptDelay({ attempt: 1, random: 0.5, statusCode: 429, retryAfterSeconds: 60, elapsedMs: 0 }),
      {
        delayMs: 60 * S,
        reason: 'retry-after',
      },
    );
    // capped at 5 s + 5 min
    assert.equal(
      nextAttemptDelay({ attempt: 1, random: 0.5, statusCode: 503, retryAfterSeconds: 86_400, elapsedMs: 0 })!
        .delayMs,
      305 * S,
    );
    // shorter than the schedule: the schedule wins
    assert.deepEqual(
      nextAttemptDelay({ attempt: 3, random: 0.5, statusCode: 429, retryAfterSeconds: 1, elapsedMs: 0 }),
      {
        delayMs: 30 * M,
        reason: 'schedule',
      },
    );
    // other statuses ignore it
    assert.equal(
      nextAttemptDelay({ attempt: 1, random: 0.5, statusCode: 500, retryAfterSeconds: 60, elapsedMs: 0 })!
        .delayMs,
      5 * S,
    );
    // the last wait is capped at itself
    assert.equal(
      nextAttemptDelay({
        attempt: 9,
        random: 0,
        statusCode: 429,
        retryAfterSeconds: 30 * 3600,
        elapsedMs: 0,
      })!.delayMs,
      24 * H,
    );
  });

  it('never schedules an attempt after the deadline', () => {
    const next = nextAttemptDelay({ attempt: 9, random: 0.99, elapsedMs: WEBHOOK_DEADLINE_MS - H })!;
    assert.deepEqual(next, { delayMs: H, reason: 'deadline' });
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('120'), 120);
    assert.equal(parseRetryAfter(' 0 '), 0);
    assert.equal(parseRetryAfter(new Date(1_000_000 + 90_000).toUTCString(), 1_000_000), 90);
    assert.equal(parseRetryAfter(new Date(0).toUTCString(), 1_000_000), 0);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
});
