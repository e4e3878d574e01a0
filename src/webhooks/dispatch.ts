/**
 * Starting delivery workflows. One `deliverWebhook` execution per delivery row, with the row's
 * deterministic workflow id (`whk:<eventId>:<target>[:r<n>]`), so starting twice is harmless:
 * a running one is reused, a finished one is never started again.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { DeliverWebhookInput } from '../../activities/webhook-types';
import type { DeliveryRef, Owner, WebhookRepository } from './repository';

/** Starts the workflow of one delivery (a fake in tests). */
export interface DeliveryStarter {
  start(ref: DeliveryRef): Promise<void>;
}

/** The workflow type name, as exported from workflows/index.ts. */
export const DELIVER_WEBHOOK_WORKFLOW = 'deliverWebhook';

export interface DeliveryStarterOptions {
  /** Test-only (MALIPO_WEBHOOK_SCHEDULE_SCALE): multiplies the schedule's waits; 1 (the default) is left out of the input. */
  scheduleScale?: number;
  /**
   * Ask the server to hand the delivery's first workflow task straight back to this process's
   * worker (eager workflow start): no trip through the task queue. Needs a client on the worker's
   * own NativeConnection; the server falls back to the task queue when it cannot.
   */
  eager?: boolean;
}

/** The options one delivery's workflow is started with (the starter's, and what tests check). */
export function deliveryStartOptions(ref: DeliveryRef, taskQueue: string, opts: DeliveryStarterOptions = {}) {
  const scale = opts.scheduleScale;
  const scaled = scale !== undefined && scale !== 1 ? { scheduleScale: scale } : {};
  return {
    taskQueue,
    workflowId: ref.workflowId,
    args: [{ deliveryId: ref.deliveryId, eventId: ref.eventId, ...scaled }] as [DeliverWebhookInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    ...(opts.eager ? { requestEagerStart: true } : {}),
  };
}

export function temporalDeliveryStarter(
  client: Client,
  taskQueue: string,
  opts: DeliveryStarterOptions = {},
): DeliveryStarter {
  return {
    async start(ref) {
      try {
        await client.workflow.start(DELIVER_WEBHOOK_WORKFLOW, deliveryStartOptions(ref, taskQueue, opts));
      } catch (err) {
        // the delivery already ran to its end: nothing to start again
        if (err instanceof WorkflowExecutionAlreadyStartedError) return;
        throw err;
      }
    },
  };
}

/** The automatic deliveries of a new event (what dispatchWebhooks does, for callers outside activities). */
export async function dispatchEvent(
  repo: WebhookRepository,
  starter: DeliveryStarter,
  eventId: string,
): Promise<DeliveryRef[]> {
  const refs = await repo.planDeliveries(eventId);
  for (const ref of refs) await starter.start(ref);
  return refs;
}

/** `POST /v1/events/:id/redeliver`: new deliveries of the same event id, to all targets or one endpoint. */
export async function redeliverEvent(
  repo: WebhookRepository,
  starter: DeliveryStarter,
  owner: Owner,
  eventId: string,
  opts: { endpointId?: string } = {},
): Promise<DeliveryRef[]> {
  const refs = await repo.createRedelivery(owner, eventId, opts);
  for (const ref of refs) await starter.start(ref);
  return refs;
}
