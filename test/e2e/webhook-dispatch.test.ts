/**
 * How delivery workflows are started, on the real Temporal dev server: with a client on the
 * worker's own NativeConnection the start is eager (the server hands the first workflow task back
 * in its answer, no trip through the task queue); with the API's client it is a plain start; and
 * starting a delivery that already ran to its end is harmless.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { WebhookDeliveryActivities } from '../../activities/webhook-types';
import { bundleWorkflows } from '../../src/temporal/worker';
import {
  DELIVER_WEBHOOK_WORKFLOW,
  deliveryStartOptions,
  temporalDeliveryStarter,
} from '../../src/webhooks/dispatch';
import type { DeliveryRef } from '../../src/webhooks/repository';
import type { DeliveryState } from '../../workflows/webhook-delivery';
import { devServer } from '../helpers/temporal';

const WORKFLOW = path.join(__dirname, '..', '..', 'workflows', 'webhook-delivery.ts');
const TASK_QUEUE = 'whk-dispatch-test';

let env: TestWorkflowEnvironment;
let bundle: { code: string };
const attempted: string[] = [];

const activities: WebhookDeliveryActivities = {
  async attemptDelivery({ deliveryId }) {
    attempted.push(deliveryId);
    return { outcome: 'succeeded', statusCode: 204, latencyMs: 1 };
  },
  async noteNextAttempt() {},
  async markDeliveryFinished() {},
  async disableEndpoint() {
    return { disabled: true };
  },
};

const ref = (n: number): DeliveryRef => ({
  deliveryId: `dlv_dispatch_${n}`,
  eventId: `evt_dispatch_${n}`,
  workflowId: `whk:evt_dispatch_${n}:we_1`,
});

before(async () => {
  [env, bundle] = await Promise.all([devServer(), bundleWorkflows(WORKFLOW)]);
});
after(async () => {
  await env?.teardown();
});

describe('starting delivery workflows', () => {
  it('is eager on the worker connection, plain on another, and harmless when repeated', async () => {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      activities,
    });
    const onWorkerConnection = new Client({ connection: env.nativeConnection });
    await worker.runUntil(async () => {
      const eager = await onWorkerConnection.workflow.start(
        DELIVER_WEBHOOK_WORKFLOW,
        deliveryStartOptions(ref(1), TASK_QUEUE, { eager: true }),
      );
      assert.equal(eager.eagerlyStarted, true, 'the server handed the first task to this worker');
      assert.equal(((await eager.result()) as DeliveryState).status, 'succeeded');

      const plain = await env.client.workflow.start(
        DELIVER_WEBHOOK_WORKFLOW,
        deliveryStartOptions(ref(2), TASK_QUEUE),
      );
      assert.equal(plain.eagerlyStarted, false);
      assert.equal(((await plain.result()) as DeliveryState).status, 'succeeded');

      // the starter: eager on the worker's connection; a second start of a finished delivery is a no-op
      const starter = temporalDeliveryStarter(onWorkerConnection, TASK_QUEUE, { eager: true });
      await starter.start(ref(3));
      await onWorkerConnection.workflow.getHandle(ref(3).workflowId).result();
      await starter.start(ref(3));
    });
    assert.deepEqual(attempted, ['dlv_dispatch_1', 'dlv_dispatch_2', 'dlv_dispatch_3']);
  });

  it('asks for an eager start only when told to', () => {
    assert.equal(deliveryStartOptions(ref(4), TASK_QUEUE, { eager: true }).requestEagerStart, true);
    assert.equal('requestEagerStart' in deliveryStartOptions(ref(4), TASK_QUEUE), false);
    assert.deepEqual(deliveryStartOptions(ref(4), TASK_QUEUE, { scheduleScale: 0.001 }).args, [
      { deliveryId: 'dlv_dispatch_4', eventId: 'evt_dispatch_4', scheduleScale: 0.001 },
    ]);
  });
});
