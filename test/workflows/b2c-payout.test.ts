/**
 * Time-skipping tests of workflow `b2cPayout` with fake activities (plain functions that record every
 * call), one per branch, plus replay of the recorded `histories/b2c-*.json`.
 * Set MALIPO_RECORD_HISTORIES=1 to rewrite the recorded histories from this run, then
 * `npx biome format --write test/workflows/histories` (the repository format check covers JSON).
 * MALIPO_PRINT_HISTORY=1 prints the success path's events.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry, Runtime, Worker } from '@temporalio/worker';
import {
  type InitiateB2cPayoutInput,
  type InitiateB2cPayoutResult,
  PAYOUT_INITIATION_ERRORS,
  type PayoutActivities,
  type QueryPayoutStatusInput,
  type QueryPayoutStatusResult,
  type RecordPayoutStatusInput,
} from '../../activities/payout-types';
import type {
  PayoutConfig,
  PayoutInput,
  PayoutResultSignal,
  PayoutState,
  PayoutStatusSignal,
} from '../../src/domain/payout';
import {
  MalipoAmount,
  MalipoChannelId,
  MalipoMerchantId,
  MalipoReference,
  MalipoStatus,
} from '../../src/domain/search-attributes';
import { RECONCILE_HORIZON_MS, RECONCILE_SCHEDULE_MS } from '../../src/domain/reconciliation';
import { bundleWorkflows } from '../../src/temporal/worker';
import {
  b2cPayout,
  payoutResultSignal,
  payoutStateQuery,
  payoutStatusSignal,
} from '../../workflows/b2c-payout';
import { timeSkipping } from '../helpers/temporal';

const ROOT = path.join(__dirname, '..', '..');
const WORKFLOWS = path.join(ROOT, 'workflows', 'index.ts');
const HISTORIES = path.join(__dirname, 'histories');
const HISTORY_PREFIX = 'b2c-';
const RECORD = process.env.MALIPO_RECORD_HISTORIES === '1';
const AMOUNT = 1500;
const PHONE = '254708374149';
const MASKED_PHONE = '2547****4149';

let env: TestWorkflowEnvironment;
let bundle: { code: string };
let seq = 0;
/** Every SDK log entry of this process (the workflow's own `log` calls included). */
const logs: LogEntry[] = [];

before(async () => {
  // Installed before the helper's (which then keeps this one): the same WARN output on stderr, but every
  // entry is also kept so the log test can look for unmasked phone numbers.
  Runtime.install({
    logger: new DefaultLogger('TRACE', (entry) => {
      logs.push(entry);
      if ((entry.level === 'WARN' || entry.level === 'ERROR') && entry.meta?.sdkComponent !== 'workflow') {
        console.error(`[${entry.level}] ${entry.message}`, entry.meta ?? '');
      }
    }),
  });
  [env, bundle] = await Promise.all([timeSkipping(), bundleWorkflows(WORKFLOWS)]);
});
after(async () => {
  await env?.teardown();
});

// ---- fakes ------------------------------------------------------------------------------------

interface Call<I> {
  input: I;
  /** Test-server time, ms after the first B2C attempt of this payout. */
  at: number;
}
interface Calls {
  initiate: Call<InitiateB2cPayoutInput>[];
  /** B2C requests that reached Daraja: attempts that returned an answer (a "not sent" throw never did). */
  reached: number;
  /** Transaction Status requests until the payout first entered needs_review. */
  query: Call<QueryPayoutStatusInput>[];
  /** Those after it: the grace window's and the reconciliation schedule's (test/workflows/reconciliation.test.ts). */
  reviewQuery: Call<QueryPayoutStatusInput>[];
  record: RecordPayoutStatusInput[];
}
type InitiateFn = (
  input: InitiateB2cPayoutInput,
  n: number,
) => InitiateB2cPayoutResult | Promise<InitiateB2cPayoutResult>;
type QueryFn = (
  input: QueryPayoutStatusInput,
  n: number,
) => QueryPayoutStatusResult | Promise<QueryPayoutStatusResult>;

const conversationId = (payoutId: string): string => `AG_20240101_${payoutId}`;
const accepted = (input: { payoutId: string }): InitiateB2cPayoutResult => ({
  kind: 'accepted',
  conversationId: conversationId(input.payoutId),
  originatorConversationId: input.payoutId,
});
const UNAVAILABLE: QueryPayoutStatusResult = { kind: 'unavailable', message: 'HTTP 503' };
const statusRequestId = (n: number): string => `AG_status_${n}`;

function fakes(opts: { initiate?: InitiateFn; query?: QueryFn } = {}): {
  acts: PayoutActivities;
  calls: Calls;
} {
  const calls: Calls = { initiate: [], reached: 0, query: [], reviewQuery: [], record: [] };
  let t0: number | undefined;
  const now = async (): Promise<number> => {
    const t = await env.currentTimeMs();
    t0 ??= t;
    return t - t0;
  };
  const acts: PayoutActivities = {
    async initiateB2cPayout(input) {
      calls.initiate.push({ input, at: await now() });
      const answer = await (opts.initiate ?? accepted)(input, calls.initiate.length);
      calls.reached++;
      return answer;
    },
    async queryPayoutStatus(input) {
      const inReview = calls.record.some((r) => r.status === 'needs_review');
      (inReview ? calls.reviewQuery : calls.query).push({ input, at: await now() });
      // default: Daraja takes the request and never answers
      return (opts.query ?? ((_i, n) => ({ kind: 'started', conversationId: statusRequestId(n) })))(
        input,
        calls.query.length + calls.reviewQuery.length,
      );
    },
    async recordPayoutStatus(input) {
      calls.record.push(input);
      return { applied: true, eventId: input.status === 'pending' ? null : `evt_${input.version}` };
    },
  };
  return { acts, calls };
}

/** Sends a signal to the payout from inside a fake activity (it reaches the workflow before the activity's answer). */
async function sendResult(payoutId: string, r: PayoutResultSignal): Promise<void> {
  await env.client.workflow.getHandle(payoutId).signal(payoutResultSignal, r);
}
async function sendStatus(payoutId: string, a: PayoutStatusSignal): Promise<void> {
  await env.client.workflow.getHandle(payoutId).signal(payoutStatusSignal, a);
}

/** A query fake that starts request n and has Daraja answer it at once with `answer(n)` (none when undefined). */
const answering =
  (answer: (n: number) => Omit<PayoutStatusSignal, 'conversationId'> | undefined): QueryFn =>
  async (input, n) => {
    const a = answer(n);
    if (a) await sendStatus(input.payoutId, { conversationId: statusRequestId(n), ...a });
    return { kind: 'started', conversationId: statusRequestId(n) };
  };

// ---- signals ----------------------------------------------------------------------------------

const successResult = (run: Run, over: Partial<PayoutResultSignal> = {}): PayoutResultSignal => ({
  kind: 'result',
  resultCode: '0',
  resultDesc: 'The service request is processed successfully.',
  conversationId: conversationId(run.id),
  originatorConversationId: run.id,
  receipt: 'SGL31HKM1Z',
  amount: AMOUNT,
  receiverName: `${PHONE} - JANE DOE`,
  completedAt: '01.01.2024 12:00:21',
  ...over,
});
const failureResult = (run: Run, resultCode: string, resultDesc: string): PayoutResultSignal => ({
  kind: 'result',
  resultCode,
  resultDesc,
  conversationId: conversationId(run.id),
  originatorConversationId: run.id,
});
const queueTimeout = (run: Run): PayoutResultSignal => ({
  kind: 'queue_timeout',
  resultCode: '1',
  resultDesc: 'The request timed out in the queue.',
  conversationId: conversationId(run.id),
  originatorConversationId: run.id,
});
const COMPLETED: Omit<PayoutStatusSignal, 'conversationId'> = {
  resultCode: '0',
  resultDesc: 'The service request has been accepted successfully.',
  transactionStatus: 'Completed',
  receipt: 'SGL31HKM2Y',
  amount: AMOUNT,
  receiverName: `${PHONE} - JANE DOE`,
  completedAt: '20240101120109',
};
const NOT_FOUND: Omit<PayoutStatusSignal, 'conversationId'> = {
  resultCode: 'R000001',
  resultDesc: 'The transaction could not be found.',
};

// ---- harness ----------------------------------------------------------------------------------

interface Run {
  id: string;
  taskQueue: string;
  input: PayoutInput;
}

function newRun(config?: Partial<PayoutConfig>): Run {
  seq++;
  const id = `po_b2ctest${seq}_${Date.now().toString(36)}`;
  return {
    id,
    taskQueue: `b2c-payout-${seq}-${Date.now().toString(36)}`,
    input: {
      payoutId: id,
      merchantId: 'mer_test',
      channelId: 'ch_test',
      environment: 'test',
      amount: AMOUNT,
      phone: PHONE,
      commandId: 'BusinessPayment',
      remarks: 'Salary for May',
      occasion: 'May',
      reference: 'PAYOUT-0042',
      ...(config ? { config } : {}),
    },
  };
}

const startAttributes = (input: PayoutInput) => [
  { key: MalipoStatus, value: 'pending' },
  { key: MalipoMerchantId, value: input.merchantId },
  { key: MalipoChannelId, value: input.channelId },
  { key: MalipoReference, value: input.reference },
  { key: MalipoAmount, value: input.amount },
];

/** Workflows started by the running test; a failed test's leftovers are terminated (they would hold the test server's clock). */
const started: WorkflowHandle[] = [];

async function withWorker<T>(run: Run, acts: PayoutActivities, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: run.taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  try {
    return await worker.runUntil(fn);
  } finally {
    for (const handle of started.splice(0)) {
      await handle.terminate('test finished').catch(() => {});
    }
  }
}

async function start(run: Run, attributes = true): Promise<WorkflowHandle<typeof b2cPayout>> {
  const handle = await env.client.workflow.start(b2cPayout, {
    taskQueue: run.taskQueue,
    workflowId: run.id,
    args: [run.input],
    ...(attributes ? { typedSearchAttributes: startAttributes(run.input) } : {}),
  });
  started.push(handle);
  return handle;
}

/** Waits in real time (the server clock does not move meanwhile) until `pred` holds. */
async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The recorded snapshots, one per version, checked: versions are 1, 2, 3 … in call order, and a
 * repeat (a local activity re-run after its workflow task was superseded) repeats the same snapshot.
 */
function recorded(calls: Calls): RecordPayoutStatusInput[] {
  const out: RecordPayoutStatusInput[] = [];
  for (const r of calls.record) {
    const last = out.at(-1);
    if (last && r.version === last.version) {
      assert.deepEqual({ ...r, changedAt: '' }, { ...last, changedAt: '' }, 'same version, same snapshot');
      continue;
    }
    assert.ok(last === undefined || r.version > last.version, `version ${r.version} after ${last?.version}`);
    out.push(r);
  }
  assert.deepEqual(
    out.map((r) => r.version),
    out.map((_, i) => i + 1),
    'versions strictly increasing from 1 with no gap',
  );
  return out;
}

const label = (r: { status: string; failureReason?: string; reviewReason?: string }): string =>
  r.status === 'failed'
    ? `failed/${r.failureReason}`
    : r.status === 'needs_review'
      ? `needs_review/${r.reviewReason}`
      : r.status;

const statuses = (calls: Calls): string[] => recorded(calls).map(label);

const RECORDED_FIELDS = [
  'status',
  'initiation',
  'conversationId',
  'originatorConversationId',
  'mpesaReceipt',
  'receiverName',
  'completedAt',
  'resultCode',
  'resultDesc',
  'failureReason',
  'reviewReason',
  'decidedBy',
] as const;

/**
 * Waits for the result and checks what every test relies on: the last recorded snapshot is the final
 * state, the query answers the same, and MalipoStatus follows the status.
 */
async function finish(handle: WorkflowHandle<typeof b2cPayout>, calls: Calls): Promise<PayoutState> {
  const done = await handle.result();
  const last = recorded(calls).at(-1)!;
  assert.equal(last.version, done.version, 'the last recorded version is the final one');
  for (const k of RECORDED_FIELDS) assert.deepEqual(last[k], done[k], `recorded ${k}`);
  assert.equal(last.reason, done.message);
  assert.deepEqual(await handle.query(payoutStateQuery), done, 'the query answers the final state');
  assert.equal((await handle.describe()).typedSearchAttributes.get(MalipoStatus), done.status);
  assert.equal(done.requests, 1, 'one B2C request, ever');
  return done;
}

async function eventTypes(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '?');
}

/** Saves the finished run's history for the replay test (only when recording). */
async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (!RECORD) return;
  const history = await handle.fetchHistory();
  fs.mkdirSync(HISTORIES, { recursive: true });
  fs.writeFileSync(
    path.join(HISTORIES, `${HISTORY_PREFIX}${name}.json`),
    `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`,
  );
}

const secondsApart = (calls: Call<unknown>[]): number[] => calls.map((c) => Math.round(c.at / 1000));

const secondsBetween = (from: string, to: string): number =>
  Math.round((Date.parse(to) - Date.parse(from)) / 1000);

/**
 * Workflow time also moves while a stub activity runs in real time, so on a loaded machine a timer can land
 * a second late; the schedule is asserted to within two seconds per value.
 */
function assertSeconds(actual: number | number[], expected: number | number[]): void {
  const a = ([] as number[]).concat(actual);
  const e = ([] as number[]).concat(expected);
  assert.equal(a.length, e.length, `${JSON.stringify(a)} has the length of ${JSON.stringify(e)}`);
  a.forEach((v, i) => {
    assert.ok(Math.abs(v - e[i]!) <= 2, `${JSON.stringify(a)} is within 2 s of ${JSON.stringify(e)}`);
  });
}

const hasVersion = (calls: Calls, v: number) => () => calls.record.some((r) => r.version === v);

// ---- tests ------------------------------------------------------------------------------------

describe('b2cPayout: the result callback decides', () => {
  it('accepted, then a success result → success with receipt, in at most 25 history events', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      const waiting = await handle.query(payoutStateQuery);
      assert.equal(waiting.status, 'pending');
      assert.equal(waiting.initiation, 'accepted');
      assert.equal(waiting.conversationId, conversationId(run.id));
      assert.ok(waiting.acceptedAt);
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'result');
      assert.equal(done.mpesaReceipt, 'SGL31HKM1Z');
      assert.equal(done.receiverName, `${PHONE} - JANE DOE`);
      assert.equal(done.completedAt, '01.01.2024 12:00:21');
      assert.equal(done.resultCode, '0');
      assert.equal(done.statusQueries, 0);
      assert.equal(calls.initiate.length, 1);
      assert.equal(calls.query.length, 0);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
      const [created, acceptance] = recorded(calls);
      assert.equal(created?.initiation, 'pending');
      assert.equal(acceptance?.initiation, 'accepted');
      assert.equal(acceptance?.conversationId, conversationId(run.id));
      assert.equal(acceptance?.originatorConversationId, run.id);
      // what the activity was asked to send
      assert.deepEqual(calls.initiate[0]?.input, {
        payoutId: run.id,
        channelId: 'ch_test',
        environment: 'test',
        amount: AMOUNT,
        phone: PHONE,
        commandId: 'BusinessPayment',
        remarks: 'Salary for May',
        occasion: 'May',
      });

      const events = await eventTypes(handle);
      if (process.env.MALIPO_PRINT_HISTORY === '1')
        console.log(events.map((e, i) => `${i + 1} ${e}`).join('\n'));
      assert.ok(events.length <= 25, `the success path has ${events.length} history events`);
      await keepHistory('result-success', handle);
    });
  });

  const failures: [string, string, string][] = [
    ['2040', 'The receiver is not a registered M-Pesa customer.', 'recipient_invalid'],
    ['1', 'The balance is insufficient for the transaction.', 'insufficient_funds'],
    ['SFC_IC0003', 'Invalid MSISDN.', 'recipient_invalid'],
    ['2001', 'The initiator information is invalid.', 'rejected'],
  ];
  for (const [code, desc, reason] of failures) {
    it(`a failure result ${code} is confirmed by one Transaction Status request, then failed/${reason}`, async () => {
      const run = newRun();
      const { acts, calls } = fakes({ query: answering(() => NOT_FOUND) });
      await withWorker(run, acts, async () => {
        const handle = await start(run);
        await until('the acceptance is recorded', hasVersion(calls, 2));
        await handle.signal(payoutResultSignal, failureResult(run, code, desc));
        const done = await finish(handle, calls);
        assert.equal(done.status, 'failed');
        assert.equal(done.failureReason, reason);
        assert.equal(done.decidedBy, 'status');
        assert.equal(done.resultCode, code);
        assert.equal(done.resultDesc, desc);
        assert.equal(done.mpesaReceipt, undefined);
        assert.match(done.message ?? '', /confirmed by Transaction Status/);
        // asked at once (not after the 2-minute result wait), by the payout's OriginatorConversationID
        assertSeconds(secondsApart(calls.query), [0]);
        assert.equal(calls.query[0]?.input.originatorConversationId, run.id);
        assert.deepEqual(statuses(calls), ['pending', 'pending', `failed/${reason}`]);
        if (code === '2040') await keepHistory('result-failed-confirmed', handle);
      });
    });
  }

  it('a failure result that Transaction Status finds Completed → success with the status’s receipt', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => COMPLETED) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await handle.signal(payoutResultSignal, failureResult(run, '2040', 'not registered'));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.mpesaReceipt, 'SGL31HKM2Y');
      assert.equal(calls.query.length, 1);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
    });
  });

  it('a failure result that Transaction Status never confirms → needs_review/failure_unconfirmed after 3 requests', async () => {
    const run = newRun();
    // taken but never answered, unavailable, then answered "not completed" for a request before the claim
    const { acts, calls } = fakes({
      query: (_i, n) => (n === 2 ? UNAVAILABLE : { kind: 'started', conversationId: statusRequestId(n) }),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await handle.signal(payoutResultSignal, failureResult(run, '1', 'The balance is insufficient.'));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'failure_unconfirmed');
      assert.equal(done.decidedBy, 'deadline');
      assert.equal(done.failureReason, undefined);
      assert.equal(done.resultCode, '1', 'the result’s code is kept for the operator');
      assert.equal(calls.query.length, 3);
      assertSeconds(secondsApart(calls.query), [0, 90, 150]);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/failure_unconfirmed']);
      await keepHistory('result-failed-unconfirmed', handle);
    });
  });

  it('a lookup that failed on the initiator (2001) confirms nothing: needs_review/failure_unconfirmed', async () => {
    const run = newRun({ maxStatusQueries: 2 });
    const INITIATOR_INVALID = { resultCode: '2001', resultDesc: 'The initiator information is invalid.' };
    const { acts, calls } = fakes({ query: answering(() => INITIATOR_INVALID) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await handle.signal(payoutResultSignal, failureResult(run, '2040', 'not registered'));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'failure_unconfirmed');
      assert.equal(calls.query.length, 2);
    });
  });

  it('a "not found" answer to a request made before the failure result does not confirm it', async () => {
    const run = newRun({ maxStatusQueries: 2 });
    const { acts, calls } = fakes({
      query: async (input, n) => {
        if (n === 1) {
          // silence, then request 1 (at 120 s): the failure result and the answer to request 1 race in
          await sendResult(input.payoutId, failureResult(run, '2040', 'not registered'));
          await sendStatus(input.payoutId, { conversationId: statusRequestId(1), ...NOT_FOUND });
        } else {
          await sendStatus(input.payoutId, { conversationId: statusRequestId(n), ...NOT_FOUND });
        }
        return { kind: 'started', conversationId: statusRequestId(n) };
      },
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'recipient_invalid');
      assert.equal(calls.query.length, 2, 'a request of its own confirmed it');
      assertSeconds(secondsApart(calls.query), [120, 120]);
    });
  });

  it('a success result for another amount settles needs_review/amount_mismatch and does not linger', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await handle.signal(payoutResultSignal, successResult(run, { amount: AMOUNT - 1 }));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'amount_mismatch');
      assert.equal(done.decidedBy, 'result');
      // the receipt is named for the operator, but never becomes the payout's
      assert.equal(done.mpesaReceipt, undefined);
      assert.match(done.message ?? '', /1499 KES.*1500 KES.*SGL31HKM1Z/);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/amount_mismatch']);
      // an operator's case: no grace window (the workflow closes when it settles, not 24 h later)
      const closed = (await handle.describe()).closeTime!.getTime();
      assert.ok(closed - Date.parse(done.settledAt!) < 60_000, 'closed right after settling');
    });
  });

  it('results that arrive before the acceptance is recorded are kept; duplicates change nothing, a foreign one is recorded as suspicious', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: async (input) => {
        // Daraja's callbacks race the synchronous answer: all of these reach the workflow first
        await sendResult(input.payoutId, successResult(run, { conversationId: 'AG_someone_else' }));
        await sendResult(input.payoutId, successResult(run));
        await sendResult(input.payoutId, successResult(run));
        await sendResult(input.payoutId, failureResult(run, '2040', 'not registered'));
        return accepted(input);
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SGL31HKM1Z');
      assert.equal(done.suspiciousResults, 1);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'pending', 'success']);
      assert.deepEqual(recorded(calls)[2]?.suspicious, {
        reason: 'foreign_ids',
        kind: 'result',
        resultCode: '0',
        resultDesc: 'The service request is processed successfully.',
        conversationId: 'AG_someone_else',
        originatorConversationId: run.id,
      });
      assert.equal(recorded(calls).filter((r) => r.status !== 'pending').length, 1, 'one final record');
    });
  });

  it('a malformed signal is dropped, not a stuck workflow task', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await handle.signal(payoutResultSignal, { kind: 'nonsense' } as unknown as PayoutResultSignal);
      await handle.signal(payoutStatusSignal, null as unknown as PayoutStatusSignal);
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
    });
  });
});

describe('b2cPayout: a Result must name the payout’s request', () => {
  it('without its ids, or naming another request, a Result is recorded as suspicious and settles nothing', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      const forged: PayoutResultSignal[] = [
        successResult(run, { conversationId: undefined }),
        successResult(run, { originatorConversationId: undefined, receipt: 'FORGED0001' }),
        { ...failureResult(run, '2040', 'not registered'), originatorConversationId: 'po_another_payout' },
        successResult(run, { conversationId: 'AG_20240101_another', receipt: 'FORGED0002' }),
        { ...queueTimeout(run), conversationId: undefined },
        successResult(run, { conversationId: 'AG_x', receipt: 'FORGED0003' }),
        successResult(run, { conversationId: 'AG_y', receipt: 'FORGED0004' }),
      ];
      for (const r of forged) await handle.signal(payoutResultSignal, r);
      await until('five suspicious results are recorded', hasVersion(calls, 7));
      const waiting = await handle.query(payoutStateQuery);
      assert.equal(waiting.status, 'pending', 'none of them settled it');
      assert.equal(waiting.suspiciousResults, forged.length);
      assert.equal(waiting.message, 'M-Pesa accepted the payout; waiting for its result.');
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SGL31HKM1Z');
      assert.equal(calls.query.length, 0, 'the forged queue timeout started no reconciliation');
      const versions = recorded(calls);
      assert.deepEqual(
        versions.map((r) => r.suspicious?.reason ?? null),
        [null, null, 'missing_ids', 'missing_ids', 'foreign_ids', 'foreign_ids', 'missing_ids', null],
        'the first five are recorded (the rest only logged), each in its own version',
      );
      assert.deepEqual(versions[4]?.suspicious, {
        reason: 'foreign_ids',
        kind: 'result',
        resultCode: '2040',
        resultDesc: 'not registered',
        conversationId: conversationId(run.id),
        originatorConversationId: 'po_another_payout',
      });
      assert.ok(versions.slice(2, 7).every((r) => r.status === 'pending'));
      assert.ok(
        logs.some(
          (e) =>
            e.meta?.workflowId === run.id && /recorded as suspicious/.test(e.message) && e.level === 'WARN',
        ),
        'each is logged',
      );
      await keepHistory('suspicious-results', handle);
    });
  });

  it('after an ambiguous request, a Result without a ConversationID is suspicious too', async () => {
    const run = newRun({ maxStatusQueries: 1 });
    const { acts, calls } = fakes({
      initiate: () => ({ kind: 'ambiguous', reason: 'timeout after sending' }),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the ambiguous request is recorded', hasVersion(calls, 2));
      await handle.signal(payoutResultSignal, successResult(run, { conversationId: undefined }));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'ambiguous_initiation');
      assert.equal(done.suspiciousResults, 1);
      assert.equal(done.conversationId, undefined, 'no ids adopted from it');
      assert.deepEqual(statuses(calls), [
        'pending',
        'pending',
        'pending',
        'needs_review/ambiguous_initiation',
      ]);
    });
  });
});

describe('b2cPayout: queue timeout, then Transaction Status', () => {
  it('status finds no such transaction → failed/queue_timeout (decided by status)', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      // a repeated queue-timeout callback starts one reconciliation only
      await handle.signal(payoutResultSignal, queueTimeout(run));
      await handle.signal(payoutResultSignal, queueTimeout(run));
      await until('the first status request', () => calls.query.length === 1);
      const reconciling = await handle.query(payoutStateQuery);
      assert.equal(reconciling.status, 'pending');
      assert.equal(reconciling.statusQueries, 1);
      // Daraja answers the lookup while the workflow waits for it; first an answer to a request this
      // payout never made (ignored), then the real one
      await handle.signal(payoutStatusSignal, { conversationId: 'AG_not_ours', ...NOT_FOUND });
      await handle.signal(payoutStatusSignal, { conversationId: statusRequestId(1), ...NOT_FOUND });
      const done = await finish(handle, calls);
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'queue_timeout');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.resultCode, 'R000001');
      assert.equal(done.statusQueries, 1);
      assert.equal(calls.query.length, 1);
      assert.deepEqual(calls.query[0]?.input, {
        payoutId: run.id,
        channelId: 'ch_test',
        environment: 'test',
        originatorConversationId: run.id,
        queryNumber: 1,
      });
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'failed/queue_timeout']);
      await keepHistory('queue-timeout-not-found', handle);
    });
  });

  it('status says Completed → success with the receipt, amount and name from the status', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => COMPLETED) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await handle.signal(payoutResultSignal, queueTimeout(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.mpesaReceipt, 'SGL31HKM2Y');
      assert.equal(done.receiverName, `${PHONE} - JANE DOE`);
      assert.equal(done.completedAt, '20240101120109');
      assert.equal(calls.query.length, 1);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
      await keepHistory('queue-timeout-completed', handle);
    });
  });

  it('status says Completed for another amount → needs_review/amount_mismatch', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => ({ ...COMPLETED, amount: 15 })) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await handle.signal(payoutResultSignal, queueTimeout(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'amount_mismatch');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.mpesaReceipt, undefined);
    });
  });

  it('no lookup ever answers → needs_review/result_missing after 3 requests (0 s, 90 s, 210 s)', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await handle.signal(payoutResultSignal, queueTimeout(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'result_missing');
      // three before the review, then one per reconciliation attempt
      assert.equal(calls.query.length, 3);
      assert.equal(done.statusQueries, 3 + RECONCILE_SCHEDULE_MS.length);
      // each request waits 60 s for its answer, then 30 s, 60 s between requests
      assertSeconds(secondsApart(calls.query), [0, 90, 210]);
      assert.deepEqual(
        calls.query.map((c) => c.input.queryNumber),
        [1, 2, 3],
      );
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/result_missing']);
    });
  });
});

describe('b2cPayout: silence, then Transaction Status', () => {
  it('no result within 2 minutes; status Completed → success (decided by status)', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => COMPLETED) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.mpesaReceipt, 'SGL31HKM2Y');
      assertSeconds(secondsApart(calls.query), [120]);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
    });
  });

  it('status "not found" after silence is no proof: asks 3 times, then needs_review/result_missing', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => NOT_FOUND) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'result_missing');
      assert.equal(done.decidedBy, 'deadline');
      // each answer arrives at once, then 30 s, 60 s back-off
      assertSeconds(secondsApart(calls.query), [120, 150, 210]);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/result_missing']);
    });
  });

  it('status found but not Completed after silence is no proof either', async () => {
    const run = newRun({ maxStatusQueries: 2 });
    const { acts, calls } = fakes({
      query: answering(() => ({ ...COMPLETED, transactionStatus: 'Pending' })),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.reviewReason, 'result_missing');
      assert.equal(calls.query.length, 2);
      assert.equal(done.mpesaReceipt, undefined);
    });
  });

  it('status unavailable every time → needs_review/result_missing after 3 calls (120 s, 150 s, 210 s)', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: () => UNAVAILABLE });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'result_missing');
      // three before the review, then one per reconciliation attempt
      assert.equal(calls.query.length, 3);
      assert.equal(done.statusQueries, 3 + RECONCILE_SCHEDULE_MS.length);
      assertSeconds(secondsApart(calls.query), [120, 150, 210]);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/result_missing']);
    });
  });

  it('a lookup that fails outright counts as unavailable, never as an answer', async () => {
    const run = newRun({ maxStatusQueries: 2 });
    const { acts, calls } = fakes({
      query: () => {
        throw ApplicationFailure.nonRetryable('channel has no initiator', 'B2cChannelMisconfigured');
      },
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.reviewReason, 'result_missing');
      assertSeconds(secondsApart(calls.query), [120, 150]);
    });
  });

  it('requests taken but never answered (answers for other requests, or before any request, ignored) → result_missing at 120 s, 210 s, 330 s', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      query: async (input, n) => {
        await sendStatus(input.payoutId, { conversationId: `AG_stale_${n}`, ...COMPLETED });
        return { kind: 'started', conversationId: statusRequestId(n) };
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      // an "answer" before any request was made cannot answer anything
      await handle.signal(payoutStatusSignal, COMPLETED);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'result_missing');
      assertSeconds(secondsApart(calls.query), [120, 210, 330]);
      assertSeconds(secondsBetween(done.acceptedAt!, done.settledAt!), 390);
    });
  });

  it('a failure result arriving with a Completed status answer is no failure: the money moved', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      query: async (input, n) => {
        // the result (judged first) says not paid, but the lookup arriving with it found the payment
        await sendStatus(input.payoutId, { conversationId: statusRequestId(n), ...COMPLETED });
        await sendResult(input.payoutId, failureResult(run, '2040', 'The receiver is not registered.'));
        return { kind: 'started', conversationId: statusRequestId(n) };
      },
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.mpesaReceipt, 'SGL31HKM2Y');
      assert.equal(calls.query.length, 1);
    });
  });

  it('a result arriving during the back-off between status requests settles at once', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: () => UNAVAILABLE });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      // 130 s: the first request (at 120 s) was unavailable; the next is due at 150 s
      await env.sleep(130_000);
      assert.equal(calls.query.length, 1);
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'result');
      assert.equal(done.statusQueries, 1);
      assert.equal(calls.query.length, 1, 'no request after the result');
      assertSeconds(secondsBetween(done.acceptedAt!, done.settledAt!), 130);
    });
  });
});

describe('b2cPayout: grace window after needs_review', () => {
  it('a late success result turns needs_review/result_missing into success; versions 1–4 in order', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: () => UNAVAILABLE });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await env.sleep(300_000);
      const review = await handle.query(payoutStateQuery);
      assert.equal(review.status, 'needs_review');
      assert.equal(review.reviewReason, 'result_missing');
      assert.equal(review.version, 3);
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'result');
      assert.equal(done.reviewReason, undefined);
      assert.equal(done.mpesaReceipt, 'SGL31HKM1Z');
      assert.equal(done.version, 4);
      assert.deepEqual(
        calls.record.map((r) => r.version),
        [1, 2, 3, 4],
      );
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/result_missing', 'success']);
      const changed = recorded(calls).map((r) => Date.parse(r.changedAt));
      assert.deepEqual(
        changed,
        [...changed].sort((a, b) => a - b),
        'changes recorded in time order',
      );
      await keepHistory('grace-late-success', handle);
    });
  });

  it('a late failure result, confirmed by Transaction Status, turns needs_review/result_missing into failed', async () => {
    const run = newRun();
    // unavailable while nothing is known; once the failure result is in, the lookup answers "not found"
    const { acts, calls } = fakes({
      query: (input, n) => (n <= 3 ? UNAVAILABLE : answering(() => NOT_FOUND)(input, n)),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await env.sleep(300_000);
      assert.equal((await handle.query(payoutStateQuery)).status, 'needs_review');
      await handle.signal(payoutResultSignal, failureResult(run, '1', 'The balance is insufficient.'));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'insufficient_funds');
      assert.equal(calls.query.length, 3);
      assert.equal(calls.reviewQuery.length, 1, 'one more request, for the failure result');
      assert.deepEqual(statuses(calls), [
        'pending',
        'pending',
        'needs_review/result_missing',
        'failed/insufficient_funds',
      ]);
    });
  });

  it('with nothing late, needs_review stands when the grace window and the reconciliation horizon close', async () => {
    const run = newRun({ graceMs: 3_600_000 });
    const { acts, calls } = fakes({ query: () => UNAVAILABLE });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      const closed = (await handle.describe()).closeTime!.getTime();
      const listened = closed - Date.parse(done.settledAt!);
      // the grace window (1 h) lies inside the reconciliation schedule, whose last attempt ends the run
      assert.ok(
        listened >= RECONCILE_HORIZON_MS && listened < RECONCILE_HORIZON_MS + 60_000,
        `listened ${listened} ms`,
      );
      assert.equal(calls.reviewQuery.length, RECONCILE_SCHEDULE_MS.length);
    });
  });
});

describe('b2cPayout: initiation', () => {
  it('ambiguous initiation and silence → exactly one request, needs_review/ambiguous_initiation', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: () => ({ kind: 'ambiguous', reason: 'timeout after sending' }),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'ambiguous_initiation');
      assert.equal(done.decidedBy, 'deadline');
      assert.equal(done.initiation, 'ambiguous');
      assert.equal(calls.initiate.length, 1, 'never sent again');
      assert.equal(calls.reached, 1);
      // Transaction Status looks the payout up by its OriginatorConversationID, the payout id
      assert.deepEqual(
        calls.query.map((c) => [c.input.queryNumber, c.input.originatorConversationId]),
        [
          [1, run.id],
          [2, run.id],
          [3, run.id],
        ],
      );
      assertSeconds(secondsApart(calls.query), [120, 210, 330]);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'needs_review/ambiguous_initiation']);
      assert.equal(recorded(calls)[1]?.initiation, 'ambiguous');
      await keepHistory('ambiguous-needs-review', handle);
    });
  });

  it('ambiguous initiation, then a late result in the grace window settles it (still one request)', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ initiate: () => ({ kind: 'ambiguous', reason: 'connection reset' }) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await env.sleep(400_000);
      const review = await handle.query(payoutStateQuery);
      assert.equal(review.reviewReason, 'ambiguous_initiation');
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'result');
      // the result told us the ids of the request we could not see accepted
      assert.equal(done.conversationId, conversationId(run.id));
      assert.equal(done.originatorConversationId, run.id);
      assert.equal(calls.initiate.length, 1);
      assert.deepEqual(statuses(calls), [
        'pending',
        'pending',
        'needs_review/ambiguous_initiation',
        'success',
      ]);
    });
  });

  it('ambiguous initiation, then status Completed → success', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: () => ({ kind: 'ambiguous', reason: 'HTTP 502' }),
      query: answering(() => COMPLETED),
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'status');
      assert.equal(calls.initiate.length, 1);
    });
  });

  it('an unexpected activity failure may have happened after sending: ambiguous, never resent', async () => {
    const run = newRun({ maxStatusQueries: 1 });
    const { acts, calls } = fakes({
      initiate: () => {
        throw ApplicationFailure.nonRetryable('socket hang up after write', 'DarajaTransportError');
      },
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.initiation, 'ambiguous');
      assert.equal(done.reviewReason, 'ambiguous_initiation');
      assert.equal(calls.initiate.length, 1);
      assert.equal(calls.query.length, 1);
    });
  });

  it('a rejected request fails at once with Daraja’s code and message', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: () => ({ kind: 'rejected', code: '400.002.02', message: 'Bad Request - Invalid Amount' }),
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'rejected');
      assert.equal(done.decidedBy, 'initiation');
      assert.equal(done.initiation, 'rejected');
      assert.equal(done.resultCode, '400.002.02');
      assert.equal(done.resultDesc, 'Bad Request - Invalid Amount');
      assert.match(done.message ?? '', /Invalid Amount/);
      assert.equal(calls.initiate.length, 1);
      assert.equal(calls.query.length, 0);
      assert.deepEqual(statuses(calls), ['pending', 'failed/rejected']);
    });
  });

  // Thrown as retryable on purpose: the workflow's retry policy itself must stop at this type.
  for (const [how, err] of [
    [
      'non-retryable',
      () => ApplicationFailure.nonRetryable('no initiator for ch_test', 'B2cChannelMisconfigured'),
    ],
    ['retryable', () => ApplicationFailure.retryable('no initiator for ch_test', 'B2cChannelMisconfigured')],
  ] as const) {
    it(`a misconfigured channel (${how} throw) fails as rejected after one attempt`, async () => {
      const run = newRun();
      const { acts, calls } = fakes({
        initiate: () => {
          throw err();
        },
      });
      await withWorker(run, acts, async () => {
        const done = await finish(await start(run), calls);
        assert.equal(done.status, 'failed');
        assert.equal(done.failureReason, 'rejected');
        assert.equal(done.decidedBy, 'initiation');
        assert.equal(done.initiation, 'rejected');
        assert.match(done.message ?? '', /cannot send payouts: no initiator/);
        assert.equal(calls.initiate.length, 1);
        assert.equal(calls.reached, 0);
        assert.equal(calls.query.length, 0);
        assert.deepEqual(statuses(calls), ['pending', 'failed/rejected']);
      });
    });
  }
});

describe('b2cPayout: search attributes, input and logs', () => {
  it('sets its own search attributes when started without them', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: () => ({ kind: 'rejected', code: '400.002.02', message: 'Bad Request' }),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run, false);
      await finish(handle, calls);
      const sa = (await handle.describe()).typedSearchAttributes;
      assert.equal(sa.get(MalipoStatus), 'failed');
      assert.equal(sa.get(MalipoMerchantId), 'mer_test');
      assert.equal(sa.get(MalipoReference), 'PAYOUT-0042');
      assert.equal(sa.get(MalipoAmount), AMOUNT);
    });
  });

  it('invalid input fails the workflow with an ApplicationFailure (not a stuck task), sending nothing', async () => {
    const run = newRun();
    run.input.phone = '0708374149';
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      await assert.rejects((await start(run)).result(), /workflow execution failed/i);
      assert.equal(calls.initiate.length, 0);
      assert.equal(calls.record.length, 0);
    });
  });

  it('the workflow logs the phone masked, never in full (nor the receiver name)', async () => {
    // a payout through every kind of log line: ambiguous send, foreign and late callbacks, settling
    const run = newRun({ maxStatusQueries: 1 });
    const { acts, calls } = fakes({
      initiate: () => ({ kind: 'ambiguous', reason: 'timeout after sending' }),
      query: async (input, n) => {
        await sendStatus(input.payoutId, { conversationId: 'AG_not_ours', ...COMPLETED });
        // a callback about someone else's request (it would fail this payout) is ignored
        await sendResult(input.payoutId, {
          ...failureResult(run, '2040', 'not registered'),
          originatorConversationId: 'po_someone_else',
        });
        await sendResult(input.payoutId, successResult(run));
        return { kind: 'started', conversationId: statusRequestId(n) };
      },
    });
    await withWorker(run, acts, async () => {
      const done = await finish(await start(run), calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'result');
    });
    const ours = logs.filter((e) => e.meta?.workflowId === run.id);
    const fromWorkflow = ours.filter((e) => e.meta?.sdkComponent === 'workflow');
    assert.ok(
      fromWorkflow.some((e) => e.message === 'b2cPayout settled'),
      'the workflow logs reached the test logger',
    );
    assert.ok(
      fromWorkflow.some((e) => e.meta?.phone === MASKED_PHONE),
      'the start is logged with the masked phone',
    );
    const text = (e: LogEntry): string =>
      `${e.message} ${JSON.stringify(e.meta ?? {}, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`;
    assert.deepEqual(
      logs.filter((e) => text(e).includes(PHONE)).map((e) => e.message),
      [],
      'no log line of this process holds the full phone',
    );
  });
});

describe('b2cPayout: replay', () => {
  const historyFiles = (): string[] =>
    fs.existsSync(HISTORIES)
      ? fs.readdirSync(HISTORIES).filter((f) => f.startsWith(HISTORY_PREFIX) && f.endsWith('.json'))
      : [];
  const load = (f: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')));

  it('every recorded b2cPayout history replays against the current workflow code', async () => {
    const files = historyFiles();
    for (const required of ['result-success', 'queue-timeout-not-found', 'ambiguous-needs-review']) {
      assert.ok(
        files.includes(`${HISTORY_PREFIX}${required}.json`),
        `missing ${HISTORY_PREFIX}${required}.json; run with MALIPO_RECORD_HISTORIES=1`,
      );
    }
    const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: load(f) }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });

  it('the replay check catches a nondeterministic change to b2cPayout', async () => {
    // A deliberately changed b2cPayout (a timer before anything else), written where git ignores it.
    const dir = path.join(ROOT, 'test-artifacts', 'b2c-payout-replay');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'b2c-payout-changed.ts');
    const rel = (p: string) => path.relative(dir, path.join(ROOT, p)).split(path.sep).join('/');
    fs.writeFileSync(
      file,
      [
        "import { sleep } from '@temporalio/workflow';",
        `import type { PayoutInput, PayoutState } from '${rel('src/domain/payout')}';`,
        `import { b2cPayout as current } from '${rel('workflows/b2c-payout')}';`,
        'export async function b2cPayout(input: PayoutInput): Promise<PayoutState> {',
        "  await sleep('1 second');",
        '  return current(input);',
        '}',
        '',
      ].join('\n'),
    );
    const changed = await bundleWorkflows(file);
    const failures: string[] = [];
    const files = historyFiles();
    assert.ok(files.length >= 3);
    const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: load(f) }));
    for await (const result of Worker.runReplayHistories({ workflowBundle: changed }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(failures.length, files.length, 'every history fails against the changed code');
    for (const f of failures) assert.match(f, /Nondeterminism|DeterminismViolation/i);
  });
});

// Last on purpose: the Java test server stops skipping time for the rest of its life once an
// activity has been retried (its time lock is not released), so this runs after every timer test.
describe('b2cPayout: Temporal retries of the request (runs last)', () => {
  it('"not sent" twice, then accepted: three attempts, one logical request that reached Daraja', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: (input, n) => {
        if (n < 3) throw ApplicationFailure.retryable('ECONNREFUSED', PAYOUT_INITIATION_ERRORS.notSent);
        return accepted(input);
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      // the result is sent at once: it waits in the inbox until the acceptance is known (no timer needed)
      await handle.signal(payoutResultSignal, successResult(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(calls.initiate.length, 3, 'three Temporal attempts');
      assert.equal(calls.reached, 1, 'one request reached Daraja');
      assert.equal(done.requests, 1);
      // the policy's back-off (2 s, then 4 s) runs in real time here
      const [a0, a1, a2] = calls.initiate.map((c) => c.at);
      assert.ok(a1! - a0! >= 1_900 && a2! - a1! >= 3_900, `attempts at ${secondsApart(calls.initiate)} s`);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
    });
  });
});
