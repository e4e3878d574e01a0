/**
 * Deletes expired Idempotency-Key records in bounded batches: one activity call (one DELETE of at most
 * `batchSize` rows) per batch, a pause between batches, and at most `maxBatches` per run, so a large
 * backlog never holds the database for long; the next run goes on where this one stopped. Started
 * hourly by the Temporal Schedule that the worker ensures at start (src/payments/idempotency-sweep.ts).
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type {
  IdempotencySweepActivities,
  IdempotencySweepInput,
  IdempotencySweepResult,
} from '../activities/idempotency-types';

export type { IdempotencySweepInput, IdempotencySweepResult } from '../activities/idempotency-types';

const { sweepIdempotencyKeys } = proxyActivities<IdempotencySweepActivities>({
  // one DELETE of a few hundred rows takes well under a second; a minute covers a slow database
  startToCloseTimeout: '1 minute',
  // a retry is harmless (it deletes what is still expired); give up after a few, the next run retries
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});

export async function idempotencySweep(input: IdempotencySweepInput): Promise<IdempotencySweepResult> {
  let deleted = 0;
  let batches = 0;
  while (batches < input.maxBatches) {
    const n = await sweepIdempotencyKeys({
      retentionHours: input.retentionHours,
      batchSize: input.batchSize,
    });
    batches++;
    deleted += n;
    if (n < input.batchSize) return { deleted, batches, complete: true };
    if (batches < input.maxBatches) await sleep(input.pauseMs);
  }
  return { deleted, batches, complete: false };
}
