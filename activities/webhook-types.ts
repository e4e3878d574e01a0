/** The contract between the webhook delivery workflow and its activities; imported with `import type`. */

/** Input of the `deliverWebhook` workflow: ids only, never a secret or a body. */
export interface DeliverWebhookInput {
  deliveryId: string;
  eventId: string;
  /**
   * Test-only: multiplies every wait of the schedule (MALIPO_WEBHOOK_SCHEDULE_SCALE, in (0, 1]).
   * Absent means 1. Carried in the input, never read from the environment, so replay is deterministic.
   */
  scheduleScale?: number;
  /**
   * The first attempt, already made inline by the workflow whose change created the event: the
   * delivery goes on from attempt 2 on the schedule, as if it had made attempt 1 itself.
   */
  first?: FirstAttempt;
}

/** An attempt made before the delivery workflow started (see {@link DeliverWebhookInput.first}). */
export interface FirstAttempt {
  /** ISO time the attempt was started (workflow time of the workflow that made it). */
  at: string;
  result: AttemptOutcome;
}

/**
 * A delivery of a new event as the workflow that created the event receives it: it makes the first
 * attempt itself (a local activity) and starts workflow `workflowId` with `input` only if that fails.
 */
export interface InlineDelivery {
  workflowId: string;
  input: DeliverWebhookInput;
}

export interface AttemptDeliveryInput {
  deliveryId: string;
  /** 1-based; recorded with the attempt row (a retried activity overwrites its own row). */
  attempt: number;
}

/**
 * What one attempt did:
 * - `succeeded`: a 2xx within 15 s;
 * - `failed`: anything else (non-2xx, 3xx, timeout, network error, SSRF refusal at delivery) — retry per schedule;
 * - `gone`: 410 Gone — stop now and disable the endpoint;
 * - `skipped`: nothing was sent because the target is deleted or disabled — stop now.
 */
export type AttemptOutcome =
  | {
      outcome: 'succeeded' | 'failed' | 'gone';
      statusCode: number | null;
      latencyMs: number;
      error?: string;
      retryAfterSeconds?: number;
      /** Set when this failure ended a 5-day failure run and the endpoint was disabled. */
      endpointDisabled?: string;
    }
  | { outcome: 'skipped'; reason: string };

export interface MarkDeliveryFinishedInput {
  deliveryId: string;
  status: 'succeeded' | 'failed';
  reason?: string;
}

export interface NoteNextAttemptInput {
  deliveryId: string;
  /** ISO time of the next attempt. */
  at: string;
}

export interface DisableEndpointInput {
  deliveryId: string;
  reason: string;
}

/** The activities the workflow calls (implemented by createWebhookActivities). */
export interface WebhookDeliveryActivities {
  attemptDelivery(input: AttemptDeliveryInput): Promise<AttemptOutcome>;
  noteNextAttempt(input: NoteNextAttemptInput): Promise<void>;
  markDeliveryFinished(input: MarkDeliveryFinishedInput): Promise<void>;
  disableEndpoint(input: DisableEndpointInput): Promise<{ disabled: boolean }>;
}
