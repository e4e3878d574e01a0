/**
 * Time-skipping tests of workflow `stkPush` with stub activities (plain functions that record their
 * calls), one per branch, plus replay of the recorded histories in `histories/`.
 * Set MALIPO_RECORD_HISTORIES=1 to rewrite the recorded histories from this run (as `stk-<name>.json`),
 * then `npx biome format --write test/workflows/histories` (the repository format check covers JSON).
 * The workflow has no `patched()` branches: every history is of the current code, re-recorded when
 * it changes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WithStartWorkflowOperation, type WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type {
  InitiateStkPushInput,
  InitiateStkPushResult,
  QueryStkStatusInput,
  QueryStkStatusResult,
  RecordPaymentStatusInput,
  StkActivities,
} from '../../activities/types';
import type {
  AttemptDeliveryInput,
  AttemptOutcome,
  MarkDeliveryFinishedInput,
  WebhookDeliveryActivities,
} from '../../activities/webhook-types';
import {
  MalipoAmount,
  MalipoChannelId,
  MalipoMerchantId,
  MalipoReference,
  MalipoStatus,
} from '../../src/domain/search-attributes';
import type { StkCallbackSignal, StkPaymentState, StkPushConfig, StkPushInput } from '../../src/domain/stk';
import { bundleWorkflows } from '../../src/temporal/worker';
import {
  awaitInitiationUpdate,
  paymentStateQuery,
  refreshUpdate,
  stkCallbackSignal,
  stkPush,
} from '../../workflows/stk-push';
import type { DeliveryState } from '../../workflows/webhook-delivery';
import { timeSkipping } from '../helpers/temporal';

const WORKFLOWS = path.join(__dirname, '..', '..', 'workflows', 'index.ts');
const HISTORIES = path.join(__dirname, 'histories');
const RECORD = process.env.MALIPO_RECORD_HISTORIES === '1';
const AMOUNT = 250;
/** Prefix of the STK histories. */
const PREFIX = 'stk-';
/** The STK histories (`stk-<name>.json`), recorded by the tests below and by reconciliation.test.ts. */
const STK_HISTORIES = [
  'ambiguous-then-callback',
  'callback-cancelled',
  'callback-success',
  'late-success',
  'phone-busy-then-success',
  'query-success',
  'timeout',
  'validation-rejected',
  'ambiguous-silent',
  'reconciled-by-query',
] as const;

let env: TestWorkflowEnvironment;
let bundle: { code: string };
let seq = 0;

before(async () => {
  [env, bundle] = await Promise.all([timeSkipping(), bundleWorkflows(WORKFLOWS)]);
});
after(async () => {
  await env?.teardown();
});

// ---- stubs ------------------------------------------------------------------------------------

interface Call<I> {
  input: I;
  /** Test-server time, ms after the first push of this payment. */
  at: number;
}
interface Calls {
  initiate: Call<InitiateStkPushInput>[];
  query: Call<QueryStkStatusInput>[];
  record: RecordPaymentStatusInput[];
}
type InitiateFn = (
  input: InitiateStkPushInput,
  n: number,
) => InitiateStkPushResult | Promise<InitiateStkPushResult>;
type QueryFn = (input: QueryStkStatusInput, n: number) => QueryStkStatusResult;

const accepted = (input: { paymentId: string }): InitiateStkPushResult => ({
  kind: 'accepted',
  checkoutRequestId: checkoutId(input.paymentId),
  merchantRequestId: `mr-${input.paymentId}`,
});
const checkoutId = (paymentId: string): string => `ws_CO_${paymentId}`;
const PENDING: QueryStkStatusResult = { kind: 'pending' };
const final = (resultCode: string, resultDesc = `desc ${resultCode}`): QueryStkStatusResult => ({
  kind: 'final',
  resultCode,
  resultDesc,
});

function stubs(opts: { initiate?: InitiateFn; query?: QueryFn } = {}): { acts: StkActivities; calls: Calls } {
  const calls: Calls = { initiate: [], query: [], record: [] };
  let t0: number | undefined;
  const now = async (): Promise<number> => {
    const t = await env.currentTimeMs();
    t0 ??= t;
    return t - t0;
  };
  const acts: StkActivities = {
    async initiateStkPush(input) {
      calls.initiate.push({ input, at: await now() });
      return (opts.initiate ?? accepted)(input, calls.initiate.length);
    },
    async queryStkStatus(input) {
      calls.query.push({ input, at: await now() });
      return (opts.query ?? (() => PENDING))(input, calls.query.length);
    },
    async recordPaymentStatus(input) {
      calls.record.push(input);
      return { applied: true, eventId: input.status === 'pending' ? null : `evt_${input.version}` };
    },
    async findC2bMatch() {
      return { found: false };
    },
  };
  return { acts, calls };
}

// ---- harness ----------------------------------------------------------------------------------

interface Run {
  id: string;
  taskQueue: string;
  input: StkPushInput;
}

function newRun(config?: Partial<StkPushConfig>): Run {
  seq++;
  const id = `pay_stktest${seq}_${Date.now().toString(36)}`;
  return {
    id,
    taskQueue: `stk-push-${seq}-${Date.now().toString(36)}`,
    input: {
      paymentId: id,
      merchantId: 'mer_test',
      channelId: 'ch_test',
      environment: 'test',
      amount: AMOUNT,
      phone: '254708374149',
      reference: 'INV0042',
      description: 'Payment',
      ...(config ? { config } : {}),
    },
  };
}

const startAttributes = (input: StkPushInput) => [
  { key: MalipoStatus, value: 'pending' },
  { key: MalipoMerchantId, value: input.merchantId },
  { key: MalipoChannelId, value: input.channelId },
  { key: MalipoReference, value: input.reference },
  { key: MalipoAmount, value: input.amount },
];

async function withWorker<T>(
  run: Run,
  acts: StkActivities | (StkActivities & WebhookDeliveryActivities),
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: run.taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  return worker.runUntil(fn);
}

async function start(run: Run): Promise<WorkflowHandle<typeof stkPush>> {
  return env.client.workflow.start(stkPush, {
    taskQueue: run.taskQueue,
    workflowId: run.id,
    args: [run.input],
    typedSearchAttributes: startAttributes(run.input),
  });
}

/** Starts the payment as the API does: Update-with-Start, answered from the first workflow task. */
async function updateWithStart(
  run: Run,
): Promise<{ handle: WorkflowHandle<typeof stkPush>; initiated: StkPaymentState }> {
  const op = new WithStartWorkflowOperation(stkPush, {
    workflowId: run.id,
    taskQueue: run.taskQueue,
    args: [run.input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: startAttributes(run.input),
  });
  const initiated = await env.client.workflow.executeUpdateWithStart(awaitInitiationUpdate, {
    startWorkflowOperation: op,
  });
  return { handle: await op.workflowHandle(), initiated };
}

/** Starts the payment and waits (no timers involved) until Daraja's answer to the push is known. */
async function startAndAwaitInitiation(run: Run): Promise<[WorkflowHandle<typeof stkPush>, StkPaymentState]> {
  const handle = await start(run);
  return [handle, await handle.executeUpdate(awaitInitiationUpdate)];
}

const successCb = (run: Run, over: Partial<StkCallbackSignal> = {}): StkCallbackSignal => ({
  checkoutRequestId: checkoutId(run.id),
  merchantRequestId: `mr-${run.id}`,
  resultCode: '0',
  resultDesc: 'The service request is processed successfully.',
  amount: AMOUNT,
  receipt: 'SA12BCD3EF',
  transactionDate: '20240101120021',
  phone: '254708374149',
  ...over,
});
const failureCb = (run: Run, resultCode: string, resultDesc: string): StkCallbackSignal => ({
  checkoutRequestId: checkoutId(run.id),
  merchantRequestId: `mr-${run.id}`,
  resultCode,
  resultDesc,
});

/**
 * The recorded statuses, one per version: a local activity whose workflow task was superseded (a
 * signal arrived meanwhile) runs again on replay with the same version, which the projection ignores.
 */
function statuses(calls: Calls): string[] {
  const byVersion = new Map<number, RecordPaymentStatusInput>();
  for (const r of calls.record) {
    const prev = byVersion.get(r.version);
    if (prev)
      assert.deepEqual({ ...r, changedAt: '' }, { ...prev, changedAt: '' }, 'same version, same snapshot');
    byVersion.set(r.version, r);
  }
  return [...byVersion.values()].map((r) =>
    r.status === 'failed'
      ? `failed/${r.failureReason}`
      : r.status === 'needs_review'
        ? `needs_review/${r.reviewReason}`
        : r.status,
  );
}

async function eventCount(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return history.events?.length ?? 0;
}

/** Saves the finished run's history for the replay test as `stk-<name>.json` (only when recording). */
async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (!RECORD) return;
  const history = await handle.fetchHistory();
  fs.mkdirSync(HISTORIES, { recursive: true });
  fs.writeFileSync(
    path.join(HISTORIES, `${PREFIX}${name}.json`),
    `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`,
  );
}

const secondsApart = (calls: Call<unknown>[]): number[] => calls.map((c) => Math.round(c.at / 1000));

const EventType = temporal.api.enums.v1.EventType;
type HistoryEvents = temporal.api.history.v1.IHistoryEvent[];
const eventTypes = (events: HistoryEvents): string[] =>
  events.map((e) => EventType[e.eventType ?? 0] ?? String(e.eventType));
const count = (events: HistoryEvents, type: temporal.api.enums.v1.EventType): number =>
  events.filter((e) => e.eventType === type).length;
/** Whether the history has any `patched()` marker (there are none left). */
const hasPatchMarker = (events: HistoryEvents): boolean =>
  events.some(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED &&
      e.markerRecordedEventAttributes?.markerName === 'core_patch',
  );

// ---- tests ------------------------------------------------------------------------------------

describe('stkPush: callback paths', () => {
  it('Update-with-Start returns the CheckoutRequestID; a confirmed success callback settles success', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: () => final('0') });
    await withWorker(run, acts, async () => {
      const { handle, initiated } = await updateWithStart(run);
      assert.equal(initiated.status, 'pending');
      assert.equal(initiated.initiation, 'accepted');
      assert.equal(initiated.checkoutRequestId, checkoutId(run.id));
      assert.equal(initiated.merchantRequestId, `mr-${run.id}`);

      await handle.signal(stkCallbackSignal, successCb(run));
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SA12BCD3EF');
      assert.equal(done.transactionDate, '20240101120021');
      assert.equal(done.resultCode, '0');
      assert.equal(done.decidedBy, 'callback');
      assert.equal(calls.initiate.length, 1);
      assert.equal(calls.query.length, 1, 'one confirmation query');
      assert.deepEqual(statuses(calls), ['pending', 'success']);
      assert.deepEqual(
        calls.record.map((r) => r.version),
        [1, 2],
      );
      assert.equal(calls.record[0]?.checkoutRequestId, checkoutId(run.id));
      assert.equal(calls.record[1]?.mpesaReceipt, 'SA12BCD3EF');

      // The measured history of the main success path (Update-with-Start + callback + confirmation query).
      const events = await eventCount(handle);
      const history = (await handle.fetchHistory()).events ?? [];
      if (process.env.MALIPO_PRINT_HISTORY === '1') {
        console.log(
          eventTypes(history)
            .map((t, i) => `${i + 1} ${t}`)
            .join('\n'),
        );
      }
      assert.ok(events <= 25, `main success path has ${events} history events`);
      assert.equal(events, MAIN_PATH_EVENTS, `main success path has ${events} history events`);
      // The push is a local activity: a marker, no activity task; and the update that answers the
      // POST completes in the first workflow task, the one that ran the push.
      assert.ok(!hasPatchMarker(history), 'no patch marker');
      assert.equal(count(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 0);
      const types = eventTypes(history);
      const updateCompleted = types.indexOf('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED');
      assert.ok(updateCompleted > 0, 'the update completed');
      assert.equal(
        types.slice(0, updateCompleted).filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED').length,
        1,
        'awaitInitiation completed in the first workflow task',
      );
      const described = await handle.describe();
      assert.equal(described.typedSearchAttributes.get(MalipoStatus), 'success');
      await keepHistory('callback-success', handle);
    });
  });

  it('a retried Update-with-Start (same payment id) joins the running payment: same answer, one push', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: () => final('0') });
    await withWorker(run, acts, async () => {
      const post = () =>
        env.client.workflow.executeUpdateWithStart(awaitInitiationUpdate, {
          startWorkflowOperation: new WithStartWorkflowOperation(stkPush, {
            workflowId: run.id,
            taskQueue: run.taskQueue,
            args: [run.input],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
      const first = await post();
      const again = await post();
      assert.equal(again.checkoutRequestId, first.checkoutRequestId);
      assert.equal(calls.initiate.length, 1);
      const handle = env.client.workflow.getHandle<typeof stkPush>(run.id);
      await handle.signal(stkCallbackSignal, successCb(run));
      assert.equal((await handle.result()).status, 'success');
    });
  });

  const failures: [string, string, string][] = [
    ['1032', 'Request cancelled by user', 'cancelled'],
    ['1037', 'DS timeout user cannot be reached', 'timeout'],
    ['1', 'The balance is insufficient for the transaction.', 'insufficient_funds'],
    ['2001', 'The initiator information is invalid.', 'wrong_pin'],
    ['1019', 'Transaction has expired.', 'expired'],
  ];
  for (const [code, desc, reason] of failures) {
    it(`a failure callback ${code} settles failed/${reason} without a query`, async () => {
      const run = newRun();
      const { acts, calls } = stubs();
      await withWorker(run, acts, async () => {
        const [handle] = await startAndAwaitInitiation(run);
        await handle.signal(stkCallbackSignal, failureCb(run, code, desc));
        const done = await handle.result();
        assert.equal(done.status, 'failed');
        assert.equal(done.failureReason, reason);
        assert.equal(done.resultCode, code);
        assert.equal(done.resultDesc, desc);
        assert.equal(calls.query.length, 0);
        assert.deepEqual(statuses(calls), ['pending', `failed/${reason}`]);
        if (code === '1032') await keepHistory('callback-cancelled', handle);
      });
    });
  }

  it('an unknown result code settles needs_review/unknown_result_code, never failed', async () => {
    const run = newRun();
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, failureCb(run, '4242', 'Something new'));
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'unknown_result_code');
      assert.deepEqual(statuses(calls), ['pending', 'needs_review/unknown_result_code']);
    });
  });

  it('ignores duplicate and foreign callbacks', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: () => final('0') });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, { ...successCb(run), checkoutRequestId: 'ws_CO_someone_else' });
      await handle.signal(stkCallbackSignal, failureCb(run, '1032', 'Request cancelled by user'));
      await handle.signal(stkCallbackSignal, failureCb(run, '1032', 'Request cancelled by user'));
      await handle.signal(stkCallbackSignal, failureCb(run, '1037', 'DS timeout user cannot be reached'));
      const done = await handle.result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'cancelled', 'the first answer stands');
      assert.equal(calls.query.length, 0, 'the foreign success claim was never even queried');
      assert.deepEqual(statuses(calls), ['pending', 'failed/cancelled']);
    });
  });

  it('a duplicated success callback is confirmed and recorded once', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: () => final('0') });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, successCb(run));
      await handle.signal(stkCallbackSignal, successCb(run));
      const done = await handle.result();
      assert.equal(done.status, 'success');
      // 1, or 2 when the second signal superseded the task that ran the first (local activities are
      // at-least-once; the query is read-only)
      assert.ok(calls.query.length <= 2, `${calls.query.length} queries`);
      assert.deepEqual(statuses(calls), ['pending', 'success']);
    });
  });

  it('a success callback the STK query contradicts settles needs_review/unconfirmed_success', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: () => final('1032', 'Request cancelled by user') });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, successCb(run));
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'unconfirmed_success');
      // the claimed receipt is named for the operator, but never becomes the payment's receipt
      assert.equal(done.mpesaReceipt, undefined);
      assert.match(done.message ?? '', /SA12BCD3EF/);
      assert.deepEqual(statuses(calls), ['pending', 'needs_review/unconfirmed_success']);
    });
  });

  it('a success callback the query cannot confirm yet is re-checked, then believed', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: (_i, n) => (n < 3 ? PENDING : final('0')) });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, successCb(run));
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.deepEqual(secondsApart(calls.query), [0, 5, 10]);
    });
  });

  it('a success callback for another amount settles needs_review/amount_mismatch', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ query: () => final('0') });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, successCb(run, { amount: 1 }));
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'amount_mismatch');
      assert.deepEqual(statuses(calls), ['pending', 'needs_review/amount_mismatch']);
    });
  });

  it('with confirmation off, a success callback is believed without a query', async () => {
    const run = newRun({ confirmSuccessByQuery: false });
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, successCb(run));
      assert.equal((await handle.result()).status, 'success');
      assert.equal(calls.query.length, 0);
    });
  });
});

describe('stkPush: query and deadline paths', () => {
  it('no callback: the first query (20 s after acceptance) finds the success', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      query: () => final('0', 'The service request is processed successfully.'),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'query');
      assert.equal(done.mpesaReceipt, undefined, 'an STK query carries no receipt');
      assert.deepEqual(secondsApart(calls.query), [20]);
      await keepHistory('query-success', handle);
    });
  });

  it('a success the query settled takes its receipt from the late success callback, with no second success', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      query: () => final('0', 'The service request is processed successfully.'),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      // the 20 s query settles it; the workflow then listens for the receipt
      await env.sleep('25 seconds');
      assert.equal((await handle.query(paymentStateQuery)).status, 'success');
      // a callback for another push, or without a receipt, completes nothing
      await handle.signal(stkCallbackSignal, successCb(run, { checkoutRequestId: 'ws_CO_other' }));
      await handle.signal(stkCallbackSignal, successCb(run, { receipt: undefined }));
      await handle.signal(stkCallbackSignal, successCb(run));
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SA12BCD3EF');
      assert.equal(done.transactionDate, '20240101120021');
      assert.deepEqual(statuses(calls), ['pending', 'success', 'success']);
      const last = calls.record.at(-1)!;
      assert.equal(last.mpesaReceipt, 'SA12BCD3EF');
      assert.equal(last.decidedBy, 'callback');
    });
  });

  it('query "being processed" twice, then a final answer (20 s, 50 s, 95 s)', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      query: (_i, n) => (n < 3 ? PENDING : final('1032', 'Request cancelled by user')),
    });
    await withWorker(run, acts, async () => {
      const done = await (await start(run)).result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'cancelled');
      assert.deepEqual(secondsApart(calls.query), [20, 50, 95]);
    });
  });

  it('query errors are bounded: the workflow stops asking and only listens', async () => {
    const run = newRun({ maxQueryErrors: 2 });
    const { acts, calls } = stubs({ query: () => ({ kind: 'unavailable', message: 'HTTP 503' }) });
    await withWorker(run, acts, async () => {
      const done = await (await start(run)).result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'timeout');
      const untilDeadline = secondsApart(calls.query).filter((t) => t <= 180);
      assert.equal(untilDeadline.length, 2, 'during the wait it stops asking after two errors');
    });
  });

  it('deadline: nothing final within 3 minutes → failed/timeout, after a last query at the deadline', async () => {
    const run = newRun();
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await handle.result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'timeout');
      assert.equal(done.decidedBy, 'deadline');
      const times = secondsApart(calls.query);
      assert.deepEqual(times.slice(0, 5), [20, 50, 95, 155, 180]);
      // then, because nobody answered, Daraja is asked about every minute through the 30-minute grace window
      const later = times.slice(5);
      assert.equal(later[0], 240);
      for (let i = 1; i < later.length; i++) {
        const gap = later[i]! - later[i - 1]!;
        assert.ok(gap >= 59 && gap <= 62, `gap ${gap} s between grace-window queries`);
      }
      assert.ok(later.length >= 28 && later.at(-1)! <= 180 + 30 * 60, `${later.length} grace-window queries`);
      assert.deepEqual(statuses(calls), ['pending', 'failed/timeout']);
      const started = Date.parse(done.acceptedAt!);
      assert.equal(Date.parse(done.graceUntil!) - Date.parse(done.settledAt!), 30 * 60_000);
      assert.equal(Date.parse(done.deadlineAt!) - started, 3 * 60_000);
      await keepHistory('timeout', handle);
    });
  });

  it('a timeout nobody answered keeps querying in the grace window; a success found there wins', async () => {
    const run = newRun();
    // the callback was lost and the first queries fail or say "being processed"
    const { acts, calls } = stubs({
      query: (_i, n) =>
        n <= 5 ? (n % 2 ? PENDING : { kind: 'unavailable', message: 'HTTP 503' }) : final('0'),
    });
    await withWorker(run, acts, async () => {
      const done = await (await start(run)).result();
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'query');
      assert.deepEqual(secondsApart(calls.query), [20, 50, 95, 155, 180, 240]);
      assert.deepEqual(statuses(calls), ['pending', 'failed/timeout', 'success']);
    });
  });

  it('a late success callback after the timeout, within the grace window, turns failed into success', async () => {
    const run = newRun();
    let paid = false;
    const { acts, calls } = stubs({ query: () => (paid ? final('0') : PENDING) });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      // after the 180 s deadline, before the first grace-window query (240 s)
      await env.sleep('210 seconds');
      const timedOut = await handle.query(paymentStateQuery);
      assert.equal(timedOut.status, 'failed');
      assert.equal(timedOut.failureReason, 'timeout');
      paid = true;
      await handle.signal(stkCallbackSignal, successCb(run));
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SA12BCD3EF');
      assert.deepEqual(statuses(calls), ['pending', 'failed/timeout', 'success']);
      await keepHistory('late-success', handle);
    });
  });

  it('refresh runs an STK query now and returns the new state', async () => {
    const run = newRun();
    let answer: QueryStkStatusResult = PENDING;
    const { acts, calls } = stubs({ query: () => answer });
    await withWorker(run, acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      const still = await handle.executeUpdate(refreshUpdate);
      assert.equal(still.status, 'pending');
      assert.equal(still.queries, 1);
      answer = final('1032', 'Request cancelled by user');
      const refreshed = await handle.executeUpdate(refreshUpdate);
      assert.equal(refreshed.status, 'failed');
      assert.equal(refreshed.failureReason, 'cancelled');
      assert.equal(calls.query.length, 2);
      assert.equal((await handle.query(paymentStateQuery)).status, 'failed');
      assert.equal((await handle.result()).status, 'failed');
    });
  });
});

describe('stkPush: initiation paths', () => {
  it('ambiguous initiation, then a callback: adopts its CheckoutRequestID, success, exactly one push', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      initiate: () => ({ kind: 'ambiguous', reason: 'timeout after sending' }),
      query: () => final('0'),
    });
    await withWorker(run, acts, async () => {
      const [handle, initiated] = await startAndAwaitInitiation(run);
      assert.equal(initiated.initiation, 'ambiguous');
      assert.equal(initiated.checkoutRequestId, undefined);
      await env.sleep('1 minute');
      await handle.signal(stkCallbackSignal, successCb(run, { checkoutRequestId: 'ws_CO_adopted' }));
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.checkoutRequestId, 'ws_CO_adopted');
      assert.equal(calls.initiate.length, 1, 'never pushed again');
      assert.equal(calls.query[0]?.input.checkoutRequestId, 'ws_CO_adopted');
      assert.deepEqual(statuses(calls), ['success']);
      await keepHistory('ambiguous-then-callback', handle);
    });
  });

  it('ambiguous initiation and silence → needs_review/ambiguous_initiation, one push, no queries', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ initiate: () => ({ kind: 'ambiguous', reason: 'connection reset' }) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'ambiguous_initiation');
      assert.equal(calls.initiate.length, 1);
      assert.equal(calls.query.length, 0);
      assert.deepEqual(statuses(calls), ['needs_review/ambiguous_initiation']);
      await keepHistory('ambiguous-silent', handle);
    });
  });

  it('an activity failure that may have happened after sending is ambiguous too', async () => {
    const run = newRun();
    const { ApplicationFailure } = await import('@temporalio/common');
    const { acts, calls } = stubs({
      initiate: () => {
        throw ApplicationFailure.nonRetryable('socket hang up after write', 'DarajaTransportError');
      },
    });
    await withWorker(run, acts, async () => {
      const [handle, initiated] = await startAndAwaitInitiation(run);
      assert.equal(initiated.initiation, 'ambiguous');
      assert.equal((await handle.result()).reviewReason, 'ambiguous_initiation');
      assert.equal(calls.initiate.length, 1);
    });
  });

  it('a validation rejection fails at once with Daraja’s message', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      initiate: () => ({
        kind: 'rejected',
        code: '400.002.02',
        message: 'Bad Request - Invalid PhoneNumber',
        transient: false,
        phoneBusy: false,
      }),
    });
    await withWorker(run, acts, async () => {
      const [handle, initiated] = await startAndAwaitInitiation(run);
      assert.equal(initiated.initiation, 'rejected');
      assert.equal(initiated.status, 'failed');
      const done = await handle.result();
      assert.equal(done.failureReason, 'rejected');
      assert.equal(done.resultDesc, 'Bad Request - Invalid PhoneNumber');
      assert.match(done.message ?? '', /Invalid PhoneNumber/);
      assert.equal(calls.initiate.length, 1);
      assert.deepEqual(statuses(calls), ['failed/rejected']);
      await keepHistory('validation-rejected', handle);
    });
  });

  it('transient rejections are retried with a bounded back-off (5 s, 10 s)', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      initiate: (input, n) =>
        n < 3
          ? {
              kind: 'rejected',
              code: '429',
              message: 'Spike arrest violation',
              transient: true,
              phoneBusy: false,
            }
          : accepted(input),
      query: () => final('0'),
    });
    await withWorker(run, acts, async () => {
      const done = await (await start(run)).result();
      assert.equal(done.status, 'success');
      assert.deepEqual(secondsApart(calls.initiate), [0, 5, 15]);
      assert.deepEqual(
        calls.initiate.map((c) => c.input.pushNumber),
        [1, 2, 3],
      );
    });
  });

  const busy: InitiateStkPushResult = {
    kind: 'rejected',
    code: '500.001.1001',
    message: 'Unable to lock subscriber, a transaction is already in process for the current subscriber',
    transient: false,
    phoneBusy: true,
  };

  it('phone busy twice, then accepted and paid: pushes at 0 s, 20 s, 60 s', async () => {
    const run = newRun();
    const { acts, calls } = stubs({
      initiate: (input, n) => (n < 3 ? busy : accepted(input)),
      query: () => final('0'),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.initiationAttempts, 3);
      assert.deepEqual(secondsApart(calls.initiate), [0, 20, 60]);
      // the deadline counts from acceptance, not from the first push
      assert.equal(Date.parse(done.deadlineAt!) - Date.parse(done.acceptedAt!), 3 * 60_000);
      await keepHistory('phone-busy-then-success', handle);
    });
  });

  it('phone busy for 3 minutes → failed/phone_busy after pushes at 0, 20, 60, 140, 180 s', async () => {
    const run = newRun();
    const { acts, calls } = stubs({ initiate: () => busy });
    await withWorker(run, acts, async () => {
      const done = await (await start(run)).result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'phone_busy');
      assert.deepEqual(secondsApart(calls.initiate), [0, 20, 60, 140, 180]);
      assert.deepEqual(statuses(calls), ['failed/phone_busy']);
    });
  });
});

describe('stkPush: search attributes and input', () => {
  it('sets its own search attributes when started without them', async () => {
    const run = newRun();
    const { acts } = stubs({ query: () => final('0') });
    await withWorker(run, acts, async () => {
      const handle = await env.client.workflow.start(stkPush, {
        taskQueue: run.taskQueue,
        workflowId: run.id,
        args: [run.input],
      });
      await handle.result();
      const sa = (await handle.describe()).typedSearchAttributes;
      assert.equal(sa.get(MalipoStatus), 'success');
      assert.equal(sa.get(MalipoMerchantId), 'mer_test');
      assert.equal(sa.get(MalipoAmount), AMOUNT);
    });
  });

  it('invalid input fails the workflow with an ApplicationFailure (not a stuck task)', async () => {
    const run = newRun();
    run.input.phone = '0708374149';
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      await assert.rejects((await start(run)).result(), /workflow execution failed/i);
      assert.equal(calls.initiate.length, 0);
    });
  });
});

// Last on purpose: the Java test server stops skipping time for the rest of its life once an
// activity has been retried (its time lock is not released), so this runs after every timer test.
describe('stkPush: Temporal retries of the push (runs last)', () => {
  it('"not sent" errors are retried by Temporal; exhausted ones fail the payment as rejected', async () => {
    const { ApplicationFailure } = await import('@temporalio/common');
    const run = newRun();
    const { acts, calls } = stubs({
      initiate: (input, n) => {
        if (n < 2) throw ApplicationFailure.retryable('ECONNREFUSED', 'StkPushNotSent');
        return accepted(input);
      },
      query: () => final('0'),
    });
    await withWorker(run, acts, async () => {
      const [, initiated] = await startAndAwaitInitiation(run);
      assert.equal(initiated.initiation, 'accepted');
      assert.equal(initiated.initiationAttempts, 1, 'one push decision; the retries were Temporal attempts');
      assert.equal(calls.initiate.length, 2);
    });

    const never = newRun();
    const dead = stubs({
      initiate: () => {
        throw ApplicationFailure.nonRetryable('no consumer secret for ch_test', 'StkChannelMisconfigured');
      },
    });
    await withWorker(never, dead.acts, async () => {
      const done = await (await start(never)).result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'rejected');
      assert.match(done.message ?? '', /could not send/);
      assert.equal(dead.calls.initiate.length, 1);
    });
  });
});

// ---- the first webhook attempt inline --------------------------------------------------------

/** Stubs for a payment whose success event has one delivery; `respond` answers each attempt. */
function withDelivery(run: Run, respond: (attempt: number) => AttemptOutcome) {
  const base = stubs({ query: () => final('0') });
  const workflowId = `whk:evt_${run.id}:we_1`;
  const deliveryId = `dlv_${run.id}`;
  const attempts: AttemptDeliveryInput[] = [];
  const finished: MarkDeliveryFinishedInput[] = [];
  const acts: StkActivities & WebhookDeliveryActivities = {
    ...base.acts,
    async recordPaymentStatus(input) {
      const r = await base.acts.recordPaymentStatus(input);
      if (input.status !== 'success') return r;
      return { ...r, deliveries: [{ workflowId, input: { deliveryId, eventId: `evt_${run.id}` } }] };
    },
    async attemptDelivery(input) {
      attempts.push(input);
      return respond(attempts.length);
    },
    async noteNextAttempt() {},
    async markDeliveryFinished(input) {
      finished.push(input);
    },
    async disableEndpoint() {
      return { disabled: false };
    },
  };
  return { acts, calls: base.calls, attempts, finished, workflowId, deliveryId };
}

const ok204: AttemptOutcome = { outcome: 'succeeded', statusCode: 204, latencyMs: 3 };
const fail500: AttemptOutcome = { outcome: 'failed', statusCode: 500, latencyMs: 3 };

describe('stkPush: the first webhook attempt inline', () => {
  it('a healthy receiver costs no delivery workflow: one workflow, at most 20 events', async () => {
    const run = newRun();
    const d = withDelivery(run, () => ok204);
    await withWorker(run, d.acts, async () => {
      // as the API starts it: Update-with-Start, so the POST's answer comes from the first task
      const { handle } = await updateWithStart(run);
      await handle.signal(stkCallbackSignal, successCb(run));
      assert.equal((await handle.result()).status, 'success');
      assert.deepEqual(d.attempts, [{ deliveryId: d.deliveryId, attempt: 1 }]);
      await assert.rejects(env.client.workflow.getHandle(d.workflowId).describe(), /not found/i);
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(events.length <= 20, `${events.length} events: ${eventTypes(events).join(' ')}`);
      assert.equal(events.length, MAIN_PATH_EVENTS + 1, 'one marker more than without a webhook');
      assert.equal(count(events, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED), 0);
      await keepHistory('webhook-inline-success', handle);
    });
  });

  it('a failed first attempt hands the rest of the schedule to deliverWebhook, same delivery', async () => {
    const run = newRun();
    const d = withDelivery(run, (n) => (n === 1 ? fail500 : ok204));
    await withWorker(run, d.acts, async () => {
      const [handle] = await startAndAwaitInitiation(run);
      await handle.signal(stkCallbackSignal, successCb(run));
      assert.equal((await handle.result()).status, 'success');
      const delivery: DeliveryState = await env.client.workflow.getHandle(d.workflowId).result();
      assert.equal(delivery.status, 'succeeded');
      assert.equal(delivery.eventId, `evt_${run.id}`);
      assert.deepEqual(
        d.attempts,
        [
          { deliveryId: d.deliveryId, attempt: 1 },
          { deliveryId: d.deliveryId, attempt: 2 },
        ],
        'attempt 1 in the payment workflow, attempt 2 in the delivery workflow, one delivery row',
      );
      assert.deepEqual(
        delivery.log.map((e) => [e.attempt, e.statusCode]),
        [
          [1, 500],
          [2, 204],
        ],
      );
      // attempt 2 waited the schedule's first delay (5 s ± 10 %) after attempt 1
      const gap = Date.parse(delivery.log[1]!.at) - Date.parse(delivery.log[0]!.at);
      assert.ok(gap >= 4_500 && gap <= 7_500, `attempt 2 after ${gap} ms`);
      assert.deepEqual(d.finished, [{ deliveryId: d.deliveryId, status: 'succeeded' }]);

      // Rule: the attempt's marker and the hand-off are one workflow task's output, so no history
      // holds the attempt without the hand-off: a worker that dies before the task completes
      // leaves neither, and the retried task attempts again and hands off.
      const events = (await handle.fetchHistory()).events ?? [];
      const marker = events.filter(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED &&
          e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
      );
      const lastMarker = marker.at(-1)!;
      const handOff = events.find(
        (e) => e.eventType === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
      );
      assert.ok(handOff, 'the child start was recorded');
      assert.equal(
        String(handOff.startChildWorkflowExecutionInitiatedEventAttributes?.workflowTaskCompletedEventId),
        String(lastMarker.markerRecordedEventAttributes?.workflowTaskCompletedEventId),
        'the hand-off was committed with the attempt',
      );
      assert.equal(handOff.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId, d.workflowId);
      await keepHistory('webhook-inline-handoff', handle);
    });
  });
});

describe('stkPush: replay', () => {
  it('every recorded history replays against the current workflow code', async () => {
    const files = fs.existsSync(HISTORIES)
      ? fs.readdirSync(HISTORIES).filter((f) => f.endsWith('.json'))
      : [];
    assert.ok(
      files.length >= 8,
      `expected recorded histories in ${HISTORIES}; run with MALIPO_RECORD_HISTORIES=1`,
    );
    for (const name of STK_HISTORIES)
      assert.ok(files.includes(`${PREFIX}${name}.json`), `${PREFIX}${name}.json missing`);
    const histories = files.map((f) => ({
      workflowId: path.basename(f, '.json'),
      history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8'))),
    }));
    for (const { workflowId, history } of histories) {
      if (!workflowId.startsWith(PREFIX)) continue;
      const events = history.events ?? [];
      assert.ok(!hasPatchMarker(events), `${workflowId} has no patch marker`);
      assert.equal(
        count(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        0,
        `${workflowId} runs every activity locally`,
      );
    }
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });

  it('the replay check catches a nondeterministic change', async () => {
    const changed = await bundleWorkflows(path.join(__dirname, '..', 'fixtures', 'stk-push-changed.ts'));
    const file = path.join(HISTORIES, 'stk-callback-success.json');
    const history = historyFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: changed }, history, 'callback-success'),
      /Nondeterminism|DeterminismViolation/i,
    );
  });
});

/** Events in the main success path's history; see the first test. */
const MAIN_PATH_EVENTS = 18;
