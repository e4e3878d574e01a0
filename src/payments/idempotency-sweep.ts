/**
 * The Temporal Schedule that runs workflow `idempotencySweep` every hour. Every worker ensures it at
 * start: the first creates it, the others find it there and leave it as it is (an operator may pause
 * or edit it in the Temporal UI; deleting it makes the next worker start create it again). Runs never
 * overlap, and a run missed while Temporal was down is caught up once.
 */
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { IdempotencySweepInput } from '../../activities/idempotency-types';
import { idempotencySweep } from '../../workflows/idempotency-sweep';
import { SWEEP_RETENTION_MS } from './idempotency';

export const IDEMPOTENCY_SWEEP_SCHEDULE_ID = 'malipo-idempotency-sweep';

/** 48 h retention; up to 100 × 500 rows an hour, one second apart. */
export const IDEMPOTENCY_SWEEP_INPUT: IdempotencySweepInput = {
  retentionHours: SWEEP_RETENTION_MS / 3_600_000,
  batchSize: 500,
  maxBatches: 100,
  pauseMs: 1000,
};

export interface EnsureSweepOptions {
  taskQueue: string;
  /** How often the sweep runs (default hourly). */
  every?: string;
  input?: IdempotencySweepInput;
  scheduleId?: string;
}

/** Creates the schedule unless it exists; says which. */
export async function ensureIdempotencySweepSchedule(
  client: Client,
  opts: EnsureSweepOptions,
): Promise<'created' | 'exists'> {
  const scheduleId = opts.scheduleId ?? IDEMPOTENCY_SWEEP_SCHEDULE_ID;
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: opts.every ?? '1 hour' }] },
      action: {
        type: 'startWorkflow',
        workflowType: idempotencySweep,
        args: [opts.input ?? IDEMPOTENCY_SWEEP_INPUT],
        taskQueue: opts.taskQueue,
        workflowId: scheduleId,
        workflowExecutionTimeout: '1 hour',
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      state: {
        note: 'Deletes Idempotency-Key records older than the retention; created by the Malipo worker',
      },
    });
    return 'created';
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return 'exists';
    throw err;
  }
}
