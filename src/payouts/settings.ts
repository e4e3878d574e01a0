/** Payout timing settings from configuration, as the `b2cPayout` workflow's config block. */
import type { Config } from '../config';
import type { PayoutConfig } from '../domain/payout';

export function payoutConfigFrom(
  config: Pick<
    Config,
    | 'MALIPO_PAYOUT_RESULT_WAIT_SECONDS'
    | 'MALIPO_PAYOUT_STATUS_WAIT_SECONDS'
    | 'MALIPO_PAYOUT_STATUS_RETRY_SECONDS'
    | 'MALIPO_PAYOUT_GRACE_SECONDS'
    | 'MALIPO_RECONCILE_SCHEDULE_SCALE'
  >,
): Partial<PayoutConfig> {
  return {
    resultWaitMs: config.MALIPO_PAYOUT_RESULT_WAIT_SECONDS * 1000,
    statusWaitMs: config.MALIPO_PAYOUT_STATUS_WAIT_SECONDS * 1000,
    statusRetryDelayMs: config.MALIPO_PAYOUT_STATUS_RETRY_SECONDS * 1000,
    graceMs: config.MALIPO_PAYOUT_GRACE_SECONDS * 1000,
    // only a compressed schedule enters the input: production payouts keep their input as it was
    ...(config.MALIPO_RECONCILE_SCHEDULE_SCALE !== 1
      ? { reconcileScheduleScale: config.MALIPO_RECONCILE_SCHEDULE_SCALE }
      : {}),
  };
}
