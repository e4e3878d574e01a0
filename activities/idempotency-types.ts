/** The contract between the idempotency-key sweep workflow and its activity; imported with `import type`. */

/** Input of the `idempotencySweep` workflow, fixed by the Temporal Schedule that starts it. */
export interface IdempotencySweepInput {
  /** Keys older than this are deleted (replays are promised for 24 hours). */
  retentionHours: number;
  /** Rows deleted by one activity call, one DELETE statement. */
  batchSize: number;
  /** Batches one run deletes at most; the next scheduled run goes on. */
  maxBatches: number;
  /** The pause between two batches, so the database serves requests in between. */
  pauseMs: number;
}

export interface IdempotencySweepBatch {
  retentionHours: number;
  batchSize: number;
}

export interface IdempotencySweepResult {
  deleted: number;
  batches: number;
  /** False when the run stopped at `maxBatches` with expired keys maybe left. */
  complete: boolean;
}

export interface IdempotencySweepActivities {
  /** Deletes at most `batchSize` expired keys; returns how many it deleted. */
  sweepIdempotencyKeys(input: IdempotencySweepBatch): Promise<number>;
}
