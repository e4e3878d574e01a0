/** Activities are built by createActivities(deps): production passes real clients, tests pass fakes. */
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import { TokenCache } from '../src/daraja';
import type { Db } from '../src/db';
import type { Logger } from '../src/logger';
import { channelUrlPolicy } from '../src/platform/channels';
import type { SecretBox } from '../src/platform/secret-box';
import { deliveryStartOptions, dispatchEvent, temporalDeliveryStarter } from '../src/webhooks/dispatch';
import {
  type DeliveryRef,
  type EventHead,
  type TargetSource,
  WebhookRepository,
} from '../src/webhooks/repository';
import { createIdempotencyActivities } from './idempotency';
import { createLookupActivities } from './lookups';
import { createPayoutActivities } from './payouts';
import { createReversalActivities } from './reversals';
import { createStkActivities } from './stk';
import { createWebhookActivities } from './webhooks';

export interface ActivityDeps {
  config: Config;
  db: Db;
  logger: Logger;
  secretBox: SecretBox;
  callbackSecret: string;
  /** Starts webhook delivery workflows for new events. */
  temporal: Client;
  /**
   * A client on the worker's own NativeConnection: delivery workflows then start eagerly on this
   * worker (their first task skips the task queue). Without it `temporal` starts them normally.
   */
  workerClient?: Client;
  /** Injected for tests; one cache per process otherwise. */
  tokenCache?: TokenCache;
}

export function createActivities(deps: ActivityDeps) {
  const mode = deps.config.isProduction ? 'production' : 'development';
  const deliveryOptions = { scheduleScale: deps.config.MALIPO_WEBHOOK_SCHEDULE_SCALE };
  const starter = temporalDeliveryStarter(
    deps.workerClient ?? deps.temporal,
    deps.config.TEMPORAL_TASK_QUEUE,
    {
      ...deliveryOptions,
      eager: deps.workerClient !== undefined,
    },
  );
  const webhookRepo = new WebhookRepository(deps.db, deps.secretBox, { mode });
  const tokenCache = deps.tokenCache ?? new TokenCache();
  // a payment's status never waits on its webhooks: this only plans rows and starts workflows
  const onEvent = async (eventId: string): Promise<void> => {
    await dispatchEvent(webhookRepo, starter, eventId);
  };
  // a payment's workflow makes each first attempt itself and starts a delivery workflow only for a failed one
  const inline = (refs: DeliveryRef[]) =>
    refs.map((ref) => {
      const o = deliveryStartOptions(ref, deps.config.TEMPORAL_TASK_QUEUE, deliveryOptions);
      return { workflowId: o.workflowId, input: o.args[0] };
    });
  const deliveries = {
    planNew: async (trx: Db, event: EventHead, payment: TargetSource) =>
      inline(await new WebhookRepository(trx, deps.secretBox, { mode }).planNewDeliveries(event, payment)),
    plan: async (eventId: string) => inline(await webhookRepo.planDeliveries(eventId)),
  };
  // what every Daraja-calling activity needs (activities/daraja.ts), built once
  const daraja = {
    db: deps.db,
    box: deps.secretBox,
    logger: deps.logger,
    publicUrl: deps.config.publicUrl,
    callbackSecret: deps.callbackSecret,
    darajaTimeoutMs: deps.config.MALIPO_DARAJA_TIMEOUT_MS,
    tokenCache,
    channelPolicy: channelUrlPolicy(deps.config),
  };
  return {
    ...createStkActivities({ ...daraja, deliveries }),
    ...createPayoutActivities({ ...daraja, onEvent }),
    ...createReversalActivities({ ...daraja, onEvent }),
    ...createLookupActivities(daraja),
    ...createWebhookActivities({ db: deps.db, box: deps.secretBox, mode, logger: deps.logger, starter }),
    ...createIdempotencyActivities({ db: deps.db }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
