/**
 * One webhook delivery: one event to one target, retried on the Standard Webhooks schedule (at once,
 * then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, each ±10 %) with durable timers.
 * Workflow id `whk:<eventId>:<endpointId | callback>[:r<n>]`; input holds ids only — the activity
 * loads the body and the secrets, signs and sends, so no secret ever enters the history.
 * Stops at the first 2xx, at once on 410 Gone (and disables the endpoint), or when the target is
 * deleted or disabled; `Retry-After` on 429/503 is honoured within the schedule (see
 * src/domain/webhook-schedule.ts). After the tenth failed attempt the delivery is `failed`.
 *
 * A payment's event gets its first attempt inline, in the payment workflow (workflows/stk-push.ts),
 * which starts this workflow only when that attempt fails, with the attempt in `input.first`: the
 * schedule then goes on from attempt 2 exactly as if this workflow had made attempt 1.
 *
 * Every activity is local: the HTTP attempt and the bookkeeping writes (finished, next attempt time,
 * disable the endpoint) run in the worker inside the workflow task, so an attempt is a marker event
 * and no activity task.
 */
import { defineQuery, log, proxyLocalActivities, setHandler, sleep } from '@temporalio/workflow';
import type {
  AttemptOutcome,
  DeliverWebhookInput,
  WebhookDeliveryActivities,
} from '../activities/webhook-types';
import { nextAttemptDelay } from '../src/domain/webhook-schedule';

export type { DeliverWebhookInput } from '../activities/webhook-types';

export interface DeliveryAttemptLog {
  attempt: number;
  /** ISO time the attempt was started by the workflow. */
  at: string;
  outcome: AttemptOutcome['outcome'];
  statusCode: number | null;
  error?: string;
  /** The wait chosen after this attempt, and why. */
  nextDelayMs?: number;
  delayReason?: 'schedule' | 'retry-after' | 'deadline';
}

export interface DeliveryState {
  deliveryId: string;
  eventId: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  /** Why a failed delivery stopped. */
  reason: string | null;
  log: DeliveryAttemptLog[];
}

/** The live state of a delivery, for operators and tests. */
export const webhookDeliveryState = defineQuery<DeliveryState>('webhookDeliveryState');

// One HTTP attempt is bounded at 15 s; the rest covers DNS, TLS and the DB writes. Retries here cover
// Malipo's own faults (e.g. the DB restarting), not the receiver's: those are attempts in the schedule.
const ATTEMPT_OPTIONS = {
  startToCloseTimeout: '45 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 4,
  },
} as const;
/** The attempt as a local activity (a marker event, inside the workflow task). */
const { attemptDelivery } = proxyLocalActivities<WebhookDeliveryActivities>(ATTEMPT_OPTIONS);

// Bookkeeping writes are small and idempotent: retry them until the database is back.
const FINISH_OPTIONS = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;
// The next-attempt time is only shown to people: a few tries, then the schedule goes on without it.
const NOTE_OPTIONS = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
} as const;

const { markDeliveryFinished, disableEndpoint } =
  proxyLocalActivities<WebhookDeliveryActivities>(FINISH_OPTIONS);
const { noteNextAttempt } = proxyLocalActivities<WebhookDeliveryActivities>(NOTE_OPTIONS);

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function deliverWebhook(input: DeliverWebhookInput): Promise<DeliveryState> {
  const state: DeliveryState = {
    deliveryId: input.deliveryId,
    eventId: input.eventId,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: null,
    lastStatusCode: null,
    lastError: null,
    reason: null,
    log: [],
  };
  setHandler(webhookDeliveryState, () => state);

  const finish = async (status: 'succeeded' | 'failed', reason?: string): Promise<DeliveryState> => {
    state.status = status;
    state.nextAttemptAt = null;
    state.reason = reason ?? null;
    await markDeliveryFinished({ deliveryId: input.deliveryId, status, ...(reason ? { reason } : {}) });
    return state;
  };

  // test-only scale (MALIPO_WEBHOOK_SCHEDULE_SCALE), from the input so replay sees the same value
  const scale =
    typeof input.scheduleScale === 'number' && input.scheduleScale > 0 && input.scheduleScale <= 1
      ? input.scheduleScale
      : 1;
  const first = input.first;
  const firstAt = first ? Date.parse(first.at) : Date.now();
  for (let attempt = 1; ; attempt++) {
    state.attempts = attempt;
    state.nextAttemptAt = null;
    const given = attempt === 1 ? first : undefined;
    const entry: DeliveryAttemptLog = {
      attempt,
      at: given ? given.at : new Date().toISOString(),
      outcome: 'failed',
      statusCode: null,
    };
    state.log.push(entry);

    let result: AttemptOutcome;
    try {
      result = given ? given.result : await attemptDelivery({ deliveryId: input.deliveryId, attempt });
    } catch (err) {
      // our side failed four times in a row: count it as a failed attempt and keep to the schedule
      result = {
        outcome: 'failed',
        statusCode: null,
        latencyMs: 0,
        error: `attempt not made: ${message(err)}`,
      };
    }
    entry.outcome = result.outcome;

    if (result.outcome === 'skipped') {
      entry.error = result.reason;
      return finish('failed', result.reason);
    }
    entry.statusCode = result.statusCode;
    if (result.error !== undefined) entry.error = result.error;
    state.lastStatusCode = result.statusCode;
    state.lastError = result.error ?? null;

    if (result.outcome === 'succeeded') return finish('succeeded');
    if (result.outcome === 'gone') {
      const reason = 'the receiver answered 410 Gone';
      await disableEndpoint({
        deliveryId: input.deliveryId,
        reason: `${reason} (delivery ${input.deliveryId})`,
      });
      return finish('failed', reason);
    }
    if (result.endpointDisabled !== undefined) {
      return finish('failed', `the endpoint was disabled: ${result.endpointDisabled}`);
    }

    // deterministic jitter: Math.random is seeded per workflow run and replays identically
    const next = nextAttemptDelay({
      attempt,
      random: Math.random(),
      statusCode: result.statusCode,
      retryAfterSeconds: result.retryAfterSeconds,
      elapsedMs: (Date.now() - firstAt) / scale,
    });
    if (next === undefined) return finish('failed', `no 2xx answer after ${attempt} attempts`);
    const delayMs = scale === 1 ? next.delayMs : Math.round(next.delayMs * scale);
    entry.nextDelayMs = delayMs;
    entry.delayReason = next.reason;
    state.nextAttemptAt = new Date(Date.now() + delayMs).toISOString();
    try {
      await noteNextAttempt({ deliveryId: input.deliveryId, at: state.nextAttemptAt });
    } catch (err) {
      log.warn('could not record the next attempt time', { error: message(err) });
    }
    await sleep(delayMs);
  }
}
