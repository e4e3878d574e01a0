/** The idempotency-key sweep activity: one bounded DELETE per call (workflows/idempotency-sweep.ts loops). */
import type { Db } from '../src/db';
import { IdempotencyStore } from '../src/payments/idempotency';
import type { IdempotencySweepActivities } from './idempotency-types';

export function createIdempotencyActivities(deps: { db: Db }): IdempotencySweepActivities {
  const store = new IdempotencyStore(deps.db);
  return {
    async sweepIdempotencyKeys(input) {
      return store.sweep({ olderThanMs: input.retentionHours * 3_600_000, limit: input.batchSize });
    },
  };
}
