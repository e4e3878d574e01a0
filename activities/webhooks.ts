/**
 * The webhook activities: one signed HTTP attempt per call (loading body and secrets from the DB, so
 * neither passes through Temporal), the delivery bookkeeping, and dispatching a new event's deliveries.
 */
import type { Db } from '../src/db';
import type { Logger } from '../src/logger';
import { type DeliveryRequest, type DeliveryResult, deliverOnce } from '../src/webhooks/deliver';
import type { DeliveryStarter } from '../src/webhooks/dispatch';
import { type SecretSealer, WebhookRepository } from '../src/webhooks/repository';
import { signDelivery } from '../src/webhooks/signing';
import type { Resolver, WebhookMode } from '../src/webhooks/ssrf';
import type {
  AttemptDeliveryInput,
  AttemptOutcome,
  DisableEndpointInput,
  MarkDeliveryFinishedInput,
  NoteNextAttemptInput,
  WebhookDeliveryActivities,
} from './webhook-types';

export interface WebhookActivityDeps {
  db: Db;
  /** Opens sealed secrets: the SecretBox from src/platform/secret-box.ts. */
  box: SecretSealer;
  /** `production` enforces https and refuses loopback; see src/webhooks/ssrf.ts. */
  mode: WebhookMode;
  logger?: Logger;
  /** DNS for the SSRF guard (tests inject one). */
  resolve?: Resolver;
  /** Sends one request (tests may replace the network). */
  send?: (req: DeliveryRequest) => Promise<DeliveryResult>;
  now?: () => Date;
  /** Starts delivery workflows; needed only by dispatchWebhooks. */
  starter?: DeliveryStarter;
}

export function createWebhookActivities(deps: WebhookActivityDeps) {
  const now = deps.now ?? (() => new Date());
  const repo = new WebhookRepository(deps.db, deps.box, {
    mode: deps.mode,
    now,
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
  });
  const send = deps.send ?? deliverOnce;

  const activities = {
    /** One attempt: load, sign with every active secret, POST, record the attempt row, report. */
    async attemptDelivery({ deliveryId, attempt }: AttemptDeliveryInput): Promise<AttemptOutcome> {
      const ctx = await repo.attemptContext(deliveryId);
      if (ctx.kind === 'skip') return { outcome: 'skipped', reason: ctx.reason };
      const at = now();
      const headers = signDelivery({
        eventId: ctx.eventId,
        eventType: ctx.eventType,
        body: ctx.body,
        timestamp: Math.floor(at.getTime() / 1000),
        secrets: ctx.secrets,
      });
      const result = await send({
        url: ctx.url,
        body: ctx.body,
        headers,
        mode: deps.mode,
        ...(deps.resolve ? { resolve: deps.resolve } : {}),
      });
      const recorded = await repo.recordAttempt(deliveryId, {
        attempt,
        at,
        url: ctx.url,
        ok: result.ok,
        statusCode: result.statusCode,
        latencyMs: result.latencyMs,
        error: result.error,
        responseSnippet: result.responseSnippet,
      });
      deps.logger?.info(
        {
          deliveryId,
          eventId: ctx.eventId,
          attempt,
          statusCode: result.statusCode,
          latencyMs: result.latencyMs,
        },
        'webhook attempt',
      );
      return {
        outcome: result.ok ? 'succeeded' : result.statusCode === 410 ? 'gone' : 'failed',
        statusCode: result.statusCode,
        latencyMs: result.latencyMs,
        ...(result.error !== undefined ? { error: result.error } : {}),
        ...(result.retryAfterSeconds !== undefined ? { retryAfterSeconds: result.retryAfterSeconds } : {}),
        ...(recorded.endpointDisabled !== undefined ? { endpointDisabled: recorded.endpointDisabled } : {}),
      };
    },

    async noteNextAttempt({ deliveryId, at }: NoteNextAttemptInput): Promise<void> {
      await repo.setNextAttempt(deliveryId, new Date(at));
    },

    async markDeliveryFinished({ deliveryId, status, reason }: MarkDeliveryFinishedInput): Promise<void> {
      await repo.finishDelivery(deliveryId, status, reason);
    },

    async disableEndpoint({ deliveryId, reason }: DisableEndpointInput): Promise<{ disabled: boolean }> {
      return repo.disableTargetOf(deliveryId, reason);
    },

    /**
     * Creates the deliveries of a new event (its callback URL and matching endpoints) and starts one
     * `deliverWebhook` workflow for each. Idempotent: a retry finds the same rows and workflow ids.
     * The payment workflow calls this after recording a status change; it does not wait for delivery.
     */
    async dispatchWebhooks({ eventId }: { eventId: string }): Promise<{ deliveryIds: string[] }> {
      if (!deps.starter) throw new Error('dispatchWebhooks needs a delivery starter (a Temporal client)');
      const refs = await repo.planDeliveries(eventId);
      for (const ref of refs) await deps.starter.start(ref);
      return { deliveryIds: refs.map((r) => r.deliveryId) };
    },
  } satisfies WebhookDeliveryActivities & Record<string, unknown>;
  return activities;
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
