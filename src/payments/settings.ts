/** STK timing settings from configuration, as the workflow's config block. */
import type { Config } from '../config';
import type { StkPushConfig } from '../domain/stk';

export function stkConfigFrom(
  config: Pick<
    Config,
    | 'MALIPO_STK_DEADLINE_SECONDS'
    | 'MALIPO_STK_GRACE_SECONDS'
    | 'MALIPO_STK_CONFIRM_SUCCESS'
    | 'MALIPO_STK_QUERY_FIRST_SECONDS'
    | 'MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS'
    | 'MALIPO_RECONCILE_SCHEDULE_SCALE'
  >,
): Partial<StkPushConfig> {
  return {
    deadlineMs: config.MALIPO_STK_DEADLINE_SECONDS * 1000,
    graceMs: config.MALIPO_STK_GRACE_SECONDS * 1000,
    confirmSuccessByQuery: config.MALIPO_STK_CONFIRM_SUCCESS,
    firstQueryDelayMs: config.MALIPO_STK_QUERY_FIRST_SECONDS * 1000,
    maxQueryIntervalMs: config.MALIPO_STK_QUERY_MAX_INTERVAL_SECONDS * 1000,
    // only a compressed schedule enters the input: production payments keep their input as it was
    ...(config.MALIPO_RECONCILE_SCHEDULE_SCALE !== 1
      ? { reconcileScheduleScale: config.MALIPO_RECONCILE_SCHEDULE_SCALE }
      : {}),
  };
}
