/**
 * The delivery workflow on the time-skipping server with stub activities: the whole three-day
 * schedule in seconds of wall time, jitter bounds, 410 Gone, Retry-After, skipped targets, the
 * state query, and replay of a jittered history and of every recorded `histories/webhook-*.json`.
 * Set MALIPO_RECORD_HISTORIES=1 to rewrite the current ones, then `npx biome format --write
 * test/workflows/histories`. The workflow has no `patched()` branches: every history is of the
 * current code (every activity local).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type {
  AttemptDeliveryInput,
  AttemptOutcome,
  DisableEndpointInput,
  MarkDeliveryFinishedInput,
  NoteNextAttemptInput,
  WebhookDeliveryActivities,
} from '../../activities/webhook-types';
import { nominalAttemptOffsets, WEBHOOK_RETRY_DELAYS_MS } from '../../src/domain/webhook-schedule';
import { bundleWorkflows } from '../../src/temporal/worker';
import { deliverWebhook, webhookDeliveryState } from '../../workflows/webhook-delivery';
import { timeSkipping } from '../helpers/temporal';

const WORKFLOW = path.join(__dirname, '..', '..', 'workflows', 'webhook-delivery.ts');
const HISTORIES = path.join(__dirname, 'histories');
const RECORD = process.env.MALIPO_RECORD_HISTORIES === '1';

/** Saves the finished run's history as `histories/webhook-<name>.json` (only when recording). */
async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (!RECORD) return;
  const history = await handle.fetchHistory();
  fs.mkdirSync(HISTORIES, { recursive: true });
  fs.writeFileSync(
    path.join(HISTORIES, `webhook-${name}.json`),
    `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`,
  );
}

/** Stub activities that answer from `respond` and record what the workflow asked. */
function stubs(respond: (attempt: number) => AttemptOutcome) {
  const calls = {
    attempts: [] as Array<{ attempt: number }>,
    finished: [] as MarkDeliveryFinishedInput[],
    disabled: [] as DisableEndpointInput[],
    notes: [] as NoteNextAttemptInput[],
  };
  const activities: WebhookDeliveryActivities = {
    async attemptDelivery({ attempt }: AttemptDeliveryInput) {
      calls.attempts.push({ attempt });
      return respond(attempt);
    },
    async noteNextAttempt(input) {
      calls.notes.push(input);
    },
    async markDeliveryFinished(input) {
      calls.finished.push(input);
    },
    async disableEndpoint(input) {
      calls.disabled.push(input);
      return { disabled: true };
    },
  };
  return { activities, calls };
}

const fail500: AttemptOutcome = { outcome: 'failed', statusCode: 500, latencyMs: 12 };
const status = (
  outcome: 'succeeded' | 'failed' | 'gone',
  statusCode: number,
  extra = {},
): AttemptOutcome => ({
  outcome,
  statusCode,
  latencyMs: 5,
  ...extra,
});

/** When each attempt started, in workflow time (the time-skipping server's clock). */
const attemptTimes = (state: { log: Array<{ at: string }> }) => state.log.map((e) => Date.parse(e.at));

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;
const eventNames = (events: HistoryEvent[]) =>
  events.map((e) => EventType[e.eventType ?? 0]!.replace('EVENT_TYPE_', ''));
const count = (events: HistoryEvent[], type: temporal.api.enums.v1.EventType) =>
  events.filter((e) => e.eventType === type).length;
const scheduledActivities = (events: HistoryEvent[]) =>
  events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
const markers = (events: HistoryEvent[]) =>
  events.flatMap((e) => e.markerRecordedEventAttributes?.markerName ?? []);

let bundle: { code: string };
let env: TestWorkflowEnvironment;
let queueNo = 0;

before(async () => {
  [bundle, env] = await Promise.all([bundleWorkflows(WORKFLOW), timeSkipping()]);
});
after(async () => {
  await env?.teardown();
});

async function run(
  respond: (attempt: number) => AttemptOutcome,
  id: string,
  extra: { scheduleScale?: number } = {},
) {
  const { activities, calls } = stubs(respond);
  const taskQueue = `whk-test-${++queueNo}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities,
  });
  const started = Date.now();
  const state = await worker.runUntil(
    env.client.workflow.execute(deliverWebhook, {
      taskQueue,
      workflowId: id,
      args: [{ deliveryId: `dlv_${id}`, eventId: 'evt_test', ...extra }],
    }),
  );
  return { state, calls, wallMs: Date.now() - started, handle: env.client.workflow.getHandle(id) };
}

describe('deliverWebhook', () => {
  it('runs the whole three-day schedule against a receiver that always fails, in seconds', async () => {
    const { state, calls, wallMs, handle } = await run(() => fail500, 'whk:evt_always500:we_1');
    await keepHistory('always-500', handle);
    assert.ok(wallMs < 60_000, `took ${wallMs} ms of wall time`);
    assert.equal(state.status, 'failed');
    assert.equal(state.attempts, 10);
    assert.equal(state.lastStatusCode, 500);
    assert.match(state.reason ?? '', /after 10 attempts/);
    assert.deepEqual(
      calls.attempts.map((a) => a.attempt),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.deepEqual(calls.finished, [
      {
        deliveryId: 'dlv_whk:evt_always500:we_1',
        status: 'failed',
        reason: 'no 2xx answer after 10 attempts',
      },
    ]);
    assert.equal(calls.notes.length, 9);
    assert.equal(calls.disabled.length, 0);

    // each gap between attempts is its schedule step ±10 % (plus a little real time for workflow tasks)
    // when each attempt started, in workflow (skipped) time: local activities carry no server timestamp
    const at = attemptTimes(state);
    const t0 = at[0]!;
    const nominal = nominalAttemptOffsets();
    let jitterSeen = false;
    for (let i = 1; i < calls.attempts.length; i++) {
      const gap = at[i]! - at[i - 1]!;
      const base = WEBHOOK_RETRY_DELAYS_MS[i - 1]!;
      assert.ok(gap >= base * 0.9 - 5 && gap <= base * 1.1 + 2_000, `gap ${i}: ${gap} ms vs ${base} ms`);
      const chosen = state.log[i - 1]!.nextDelayMs!;
      assert.ok(chosen >= base * 0.9 && chosen <= base * 1.1, `delay ${i}: ${chosen} ms vs ${base} ms`);
      assert.equal(state.log[i - 1]!.delayReason, 'schedule');
      if (Math.abs(chosen - base) > 1) jitterSeen = true;
      // and the attempt lands near its nominal offset, within the accumulated ±10 %
      const offset = at[i]! - t0;
      assert.ok(
        Math.abs(offset - nominal[i]!) <= nominal[i]! * 0.1 + 2_000 * i,
        `attempt ${i + 1} at ${offset} ms`,
      );
    }
    assert.ok(jitterSeen, 'the waits are jittered');
    const span = at[9]! - t0;
    assert.ok(span > 68 * 3600_000 && span < 84 * 3600_000, `span ${span / 3600_000} h`);

    // the timers in history are the chosen delays
    const history = await env.client.workflow.getHandle('whk:evt_always500:we_1').fetchHistory();
    const timers = (history.events ?? [])
      .filter((e) => e.timerStartedEventAttributes)
      .map((e) => {
        const t = e.timerStartedEventAttributes!.startToFireTimeout!;
        return Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6);
      });
    assert.deepEqual(
      timers,
      state.log.slice(0, 9).map((l) => l.nextDelayMs),
    );
    // jitter comes from the seeded Math.random, so the history replays
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, 'whk:evt_always500:we_1');
  });

  it('scales every wait by the test-only scheduleScale from its input, and replays', async () => {
    const id = 'whk:evt_scaled:we_1';
    const { state, calls } = await run(() => fail500, id, { scheduleScale: 0.001 });
    assert.equal(state.status, 'failed');
    assert.equal(state.attempts, 10);
    assert.equal(calls.attempts.length, 10);
    for (let i = 0; i < 9; i++) {
      const base = WEBHOOK_RETRY_DELAYS_MS[i]! * 0.001;
      const chosen = state.log[i]!.nextDelayMs!;
      assert.ok(
        chosen >= Math.floor(base * 0.9) && chosen <= Math.ceil(base * 1.1),
        `delay ${i + 1}: ${chosen} ms`,
      );
    }
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    const timers = (history.events ?? [])
      .filter((e) => e.timerStartedEventAttributes)
      .map((e) => {
        const t = e.timerStartedEventAttributes!.startToFireTimeout!;
        return Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6);
      });
    assert.deepEqual(
      timers,
      state.log.slice(0, 9).map((l) => l.nextDelayMs),
    );
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, id);
  });

  it('stops at once on 410 Gone and asks for the endpoint to be disabled', async () => {
    const { state, calls, handle } = await run(
      (n) => (n < 3 ? fail500 : status('gone', 410)),
      'whk:evt_gone:we_1',
    );
    await keepHistory('gone', handle);
    assert.equal(state.status, 'failed');
    assert.equal(state.attempts, 3);
    assert.equal(calls.attempts.length, 3);
    assert.equal(calls.disabled.length, 1);
    assert.match(calls.disabled[0]!.reason, /410 Gone/);
    assert.deepEqual(calls.finished, [
      { deliveryId: 'dlv_whk:evt_gone:we_1', status: 'failed', reason: 'the receiver answered 410 Gone' },
    ]);
  });

  it('honours Retry-After within the schedule', async () => {
    const { state, calls, handle } = await run((n) => {
      if (n === 1) return status('failed', 429, { retryAfterSeconds: 120 });
      if (n === 2) return status('failed', 503, { retryAfterSeconds: 86_400 });
      return status('succeeded', 204);
    }, 'whk:evt_retry_after:we_1');
    await keepHistory('retry-after', handle);
    assert.equal(state.status, 'succeeded');
    assert.equal(state.attempts, 3);
    assert.deepEqual(calls.finished, [{ deliveryId: 'dlv_whk:evt_retry_after:we_1', status: 'succeeded' }]);
    const [a1, a2, a3] = attemptTimes(state) as [number, number, number];
    // 120 s asked, more than the 5 s step: honoured
    assert.equal(state.log[0]!.nextDelayMs, 120_000);
    assert.equal(state.log[0]!.delayReason, 'retry-after');
    assert.ok(a2 - a1 >= 120_000 && a2 - a1 < 122_000, `${a2 - a1}`);
    // a day asked after the 5 min step: cut to the next-but-one slot (5 min + 30 min)
    assert.equal(state.log[1]!.nextDelayMs, 35 * 60_000);
    assert.ok(a3 - a2 >= 35 * 60_000 && a3 - a2 < 35 * 60_000 + 2_000, `${a3 - a2}`);
  });

  it('stops without retrying when the target is gone, and succeeds on the first 2xx', async () => {
    const skipped = await run(
      () => ({ outcome: 'skipped', reason: 'the endpoint was deleted' }),
      'whk:evt_skip:we_1',
    );
    await keepHistory('skipped', skipped.handle);
    assert.equal(skipped.state.status, 'failed');
    assert.equal(skipped.calls.attempts.length, 1);
    assert.equal(skipped.calls.finished[0]!.reason, 'the endpoint was deleted');

    const ok = await run((n) => (n < 4 ? fail500 : status('succeeded', 200)), 'whk:evt_fourth:we_1');
    assert.equal(ok.state.status, 'succeeded');
    assert.equal(ok.calls.attempts.length, 4);
  });

  it('a first-attempt success is one workflow task and no activity task: 7 events, one finish', async () => {
    const id = 'whk:evt_first_ok:we_1';
    const { state, calls, handle } = await run(() => status('succeeded', 200), id);
    assert.equal(state.status, 'succeeded');
    assert.equal(state.attempts, 1);
    assert.equal(calls.attempts.length, 1);
    assert.deepEqual(calls.finished, [{ deliveryId: `dlv_${id}`, status: 'succeeded' }]);

    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    assert.ok(events.length <= 7, `${events.length} events: ${eventNames(events).join(' ')}`);
    assert.equal(count(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), 1, 'one workflow task');
    assert.deepEqual(scheduledActivities(events), [], 'no regular activity');
    assert.deepEqual(markers(events), ['core_local_activity', 'core_local_activity']);
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, id);
    await keepHistory('first-attempt-success', handle);
  });

  it('retries after two 500s and succeeds on the third attempt', async () => {
    const id = 'whk:evt_third_ok:we_1';
    const { state, calls, handle } = await run((n) => (n < 3 ? fail500 : status('succeeded', 200)), id);
    assert.equal(state.status, 'succeeded');
    assert.equal(state.attempts, 3);
    assert.equal(calls.notes.length, 2);
    assert.deepEqual(calls.finished, [{ deliveryId: `dlv_${id}`, status: 'succeeded' }]);
    await keepHistory('500-500-success', handle);
  });

  it('stops when a failure ended a five-day failure run and the endpoint was disabled', async () => {
    const id = 'whk:evt_five_days:we_1';
    const { state, calls, handle } = await run(
      () => ({ ...fail500, endpointDisabled: 'no 2xx answer for 5 days' }),
      id,
    );
    assert.equal(state.status, 'failed');
    assert.equal(state.attempts, 1);
    assert.equal(calls.disabled.length, 0);
    assert.equal(calls.notes.length, 0);
    assert.deepEqual(calls.finished, [
      {
        deliveryId: `dlv_${id}`,
        status: 'failed',
        reason: 'the endpoint was disabled: no 2xx answer for 5 days',
      },
    ]);
    await keepHistory('endpoint-disabled', handle);
  });

  it('exposes its state through a query while it waits', async () => {
    const { activities } = stubs((n) => (n === 1 ? fail500 : status('succeeded', 200)));
    const taskQueue = `whk-test-${++queueNo}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(deliverWebhook, {
        taskQueue,
        workflowId: 'whk:evt_query:we_1',
        args: [{ deliveryId: 'dlv_query', eventId: 'evt_query' }],
      });
      let s = await handle.query(webhookDeliveryState);
      for (let i = 0; i < 100 && s.nextAttemptAt === null; i++) {
        await new Promise((r) => setTimeout(r, 50));
        s = await handle.query(webhookDeliveryState);
      }
      assert.equal(s.status, 'pending');
      assert.equal(s.attempts, 1);
      assert.equal(s.lastStatusCode, 500);
      assert.ok(s.nextAttemptAt, 'the next attempt time is known');
      assert.equal((await handle.result()).status, 'succeeded');
      assert.equal((await handle.query(webhookDeliveryState)).status, 'succeeded');
    });
  });
});

/** The current histories (`webhook-<name>.json`), recorded by the tests above. */
const RECORDED = [
  'first-attempt-success',
  '500-500-success',
  'gone',
  'skipped',
  'retry-after',
  'always-500',
  'endpoint-disabled',
];

describe('deliverWebhook: replay', () => {
  const files = fs.existsSync(HISTORIES)
    ? fs.readdirSync(HISTORIES).filter((f) => f.startsWith('webhook-') && f.endsWith('.json'))
    : [];
  const load = (f: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')));

  it('every recorded webhook-*.json history replays against the current code', async () => {
    for (const name of RECORDED) {
      assert.ok(files.includes(`webhook-${name}.json`), `missing webhook-${name}.json`);
    }
    const failures: string[] = [];
    let replayed = 0;
    const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: load(f) }));
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(replayed, files.length);
  });

  it('every recorded history runs each activity locally and has no patch marker', () => {
    for (const f of files) {
      const events = load(f).events ?? [];
      assert.ok(!markers(events).includes('core_patch'), `${f}: no patch marker`);
      assert.deepEqual(scheduledActivities(events), [], `${f}: every activity local`);
    }
  });
});
