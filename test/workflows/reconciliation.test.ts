/**
 * Time-skipping tests of how a `needs_review` payment (`stkPush`) or payout (`b2cPayout`) is left: its
 * own reconciliation on RECONCILE_SCHEDULE_MS (STK query, C2B match, Transaction Status), the
 * horizon, and a manual resolution through the `resolve` update. Stub activities record their calls.
 * With MALIPO_RECORD_HISTORIES=1 the reconciled payment's history is saved as
 * `histories/stk-reconciled-by-query.json` (replayed by test/workflows/stk-push.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type {
  FindC2bMatchInput,
  FindC2bMatchResult,
  InitiateStkPushResult,
  QueryStkStatusResult,
  RecordPaymentStatusInput,
  StkActivities,
} from '../../activities/types';
import type {
  PayoutActivities,
  QueryPayoutStatusInput,
  RecordPayoutStatusInput,
} from '../../activities/payout-types';
import type { PayoutInput } from '../../src/domain/payout';
import {
  C2B_MATCH_WINDOW_MS,
  type ManualResolution,
  RECONCILE_HORIZON_MS,
  RECONCILE_SCHEDULE_MS,
  reconcileSchedule,
} from '../../src/domain/reconciliation';
import type { StkPushInput } from '../../src/domain/stk';
import { bundleWorkflows } from '../../src/temporal/worker';
import { b2cPayout, payoutStatusSignal, resolvePayoutUpdate } from '../../workflows/b2c-payout';
import { lookupResultSignal } from '../../workflows/daraja-lookup';
import { resolveUpdate, stkCallbackSignal, stkPush } from '../../workflows/stk-push';
import type { LookupActivities, StartLookupInput } from '../../activities/lookup-types';
import { timeSkipping } from '../helpers/temporal';

const WORKFLOWS = path.join(__dirname, '..', '..', 'workflows', 'index.ts');
const HISTORIES = path.join(__dirname, 'histories');
const RECORD = process.env.MALIPO_RECORD_HISTORIES === '1';
const AMOUNT = 250;
const GRACE_MS = 60_000;
const DEADLINE_MS = 60_000;
const MINUTE = 60_000;

let env: TestWorkflowEnvironment;
let bundle: { code: string };
let seq = 0;

before(async () => {
  [env, bundle] = await Promise.all([timeSkipping(), bundleWorkflows(WORKFLOWS)]);
});
after(async () => {
  await env?.teardown();
});

async function elapsedSince(t0: number): Promise<number> {
  return (await env.currentTimeMs()) - t0;
}

async function withWorker<T>(taskQueue: string, acts: object, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  return worker.runUntil(fn);
}

// ---- stkPush ----------------------------------------------------------------------------------

interface StkCalls {
  query: number[];
  c2b: { input: FindC2bMatchInput; at: number }[];
  record: RecordPaymentStatusInput[];
}

function stkStubs(opts: {
  initiate: InitiateStkPushResult;
  /** `at` is ms since the workflow started. */
  query?: (at: number) => QueryStkStatusResult;
  c2b?: (n: number) => FindC2bMatchResult;
  t0: () => number;
}): { acts: StkActivities; calls: StkCalls } {
  const calls: StkCalls = { query: [], c2b: [], record: [] };
  const acts: StkActivities = {
    async initiateStkPush() {
      return opts.initiate;
    },
    async queryStkStatus() {
      const at = await elapsedSince(opts.t0());
      calls.query.push(at);
      return (opts.query ?? (() => ({ kind: 'pending' }) as const))(at);
    },
    async recordPaymentStatus(input) {
      calls.record.push(input);
      return { applied: true, eventId: input.status === 'pending' ? null : `evt_${input.version}` };
    },
    async findC2bMatch(input) {
      calls.c2b.push({ input, at: await elapsedSince(opts.t0()) });
      return (opts.c2b ?? (() => ({ found: false }) as const))(calls.c2b.length);
    },
  };
  return { acts, calls };
}

function stkRun(): { id: string; taskQueue: string; input: StkPushInput } {
  seq++;
  const id = `pay_rec${seq}_${Date.now().toString(36)}`;
  return {
    id,
    taskQueue: `reconcile-stk-${seq}-${Date.now().toString(36)}`,
    input: {
      paymentId: id,
      merchantId: 'mer_test',
      channelId: 'ch_test',
      environment: 'test',
      amount: AMOUNT,
      phone: '254708374149',
      reference: 'INV0042',
      description: 'Payment',
      config: { deadlineMs: DEADLINE_MS, graceMs: GRACE_MS },
    },
  };
}

const ACCEPTED = (id: string): InitiateStkPushResult => ({
  kind: 'accepted',
  checkoutRequestId: `ws_CO_${id}`,
  merchantRequestId: `mr-${id}`,
});
const AMBIGUOUS: InitiateStkPushResult = { kind: 'ambiguous', reason: 'socket hang up' };

/** The last recorded snapshot of each version, in order. */
function finalRecord(calls: { record: RecordPaymentStatusInput[] }): RecordPaymentStatusInput {
  const last = calls.record.at(-1);
  assert.ok(last, 'something was recorded');
  return last;
}

async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (!RECORD) return;
  const history = await handle.fetchHistory();
  fs.writeFileSync(
    path.join(HISTORIES, `${name}.json`),
    `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`,
  );
}

async function startStk(run: ReturnType<typeof stkRun>): Promise<WorkflowHandle<typeof stkPush>> {
  return env.client.workflow.start(stkPush, {
    taskQueue: run.taskQueue,
    workflowId: run.id,
    args: [run.input],
  });
}

/** Waits (skipping time) until the workflow reports `needs_review`. */
async function untilReview(calls: { record: { status: string }[] }): Promise<void> {
  for (let i = 0; i < 200 && !calls.record.some((r) => r.status === 'needs_review'); i++) {
    await env.sleep(10_000);
  }
  assert.ok(
    calls.record.some((r) => r.status === 'needs_review'),
    'the run reached needs_review',
  );
}

describe('stkPush: reconciliation of a needs_review payment', () => {
  it('settled by the STK query on the schedule: success with resolvedBy reconciliation', async () => {
    const run = stkRun();
    let t0 = 0;
    // Daraja answers the query only once the payment has been in review a while
    const reviewEnds = DEADLINE_MS + GRACE_MS + 15 * MINUTE;
    const { acts, calls } = stkStubs({
      initiate: ACCEPTED(run.id),
      query: (at) =>
        at >= reviewEnds ? { kind: 'final', resultCode: '0', resultDesc: 'paid' } : { kind: 'pending' },
      t0: () => t0,
    });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startStk(run);
      // an unknown ResultCode puts the payment in review at once (money may have moved)
      await handle.signal(stkCallbackSignal, {
        checkoutRequestId: `ws_CO_${run.id}`,
        resultCode: 'XYZ123',
        resultDesc: 'something new',
      });
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.resolvedBy, 'reconciliation');
      assert.equal(done.decidedBy, 'query');
      const statuses = [...new Map(calls.record.map((r) => [r.version, r.status])).values()];
      assert.deepEqual(statuses, ['pending', 'needs_review', 'success']);
      const last = finalRecord(calls);
      assert.equal(last.resolvedBy, 'reconciliation');
      assert.equal(last.resolution, undefined);
      // before the review: the timer-driven queries; in review: none during grace, then the schedule
      const review = calls.query.filter((at) => at > GRACE_MS);
      assert.ok(review.length >= 2, `asked again on the schedule (${review.length} times)`);
      const settledAt = review.at(-1)!;
      assert.ok(settledAt >= reviewEnds, 'settled only when Daraja answered');
      assert.ok(settledAt < reviewEnds + 2 * 3600_000, 'by the next scheduled attempt');
      // no C2B match for a review with a CheckoutRequestID the query answered
      await keepHistory('stk-reconciled-by-query', handle);
    });
  });

  it('settled by Transaction Status for the receipt of a success callback the STK query contradicted', async () => {
    const run = stkRun();
    let t0 = 0;
    const lookups: StartLookupInput[] = [];
    const { acts, calls } = stkStubs({
      initiate: ACCEPTED(run.id),
      // the sandbox query misreports: it contradicts the success callback every time
      query: () => ({ kind: 'final', resultCode: '1032', resultDesc: 'Request cancelled by user' }),
      t0: () => t0,
    });
    const lookupActs: LookupActivities = {
      async startLookup(input) {
        lookups.push(input);
        // the first lookup's Result is lost; the second finds the transaction
        if (lookups.length >= 2) {
          await env.client.workflow.getHandle(input.lookupId).signal(lookupResultSignal, {
            resultCode: '0',
            resultDesc: 'The service request has been accepted successfully.',
            conversationId: `AG_lookup_${lookups.length}`,
            originatorConversationId: `oc_${lookups.length}`,
            transaction: { receipt: input.receipt, status: 'Completed', amount: AMOUNT },
          });
        }
        return {
          kind: 'started',
          conversationId: `AG_lookup_${lookups.length}`,
          originatorConversationId: `oc_${lookups.length}`,
        };
      },
    };
    await withWorker(run.taskQueue, { ...acts, ...lookupActs }, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startStk(run);
      await handle.signal(stkCallbackSignal, {
        checkoutRequestId: `ws_CO_${run.id}`,
        resultCode: '0',
        resultDesc: 'The service request is processed successfully.',
        amount: AMOUNT,
        receipt: 'SA12BCD3EF',
        transactionDate: '20260101120021',
      });
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SA12BCD3EF', 'the receipt of the reviewed callback');
      assert.equal(done.resolvedBy, 'reconciliation');
      const statuses = [...new Map(calls.record.map((r) => [r.version, r.status])).values()];
      assert.deepEqual(statuses, ['pending', 'needs_review', 'success']);
      assert.equal(lookups.length, 2);
      assert.ok(lookups.every((l) => l.kind === 'transaction_status' && l.receipt === 'SA12BCD3EF'));
      assert.notEqual(lookups[0]?.lookupId, lookups[1]?.lookupId, 'one lookup workflow per attempt');
      assert.equal(calls.c2b.length, 0, 'a review with a receipt is not matched to C2B');
    });
  });

  it('settled by a C2B confirmation that matches phone, amount and reference', async () => {
    const run = stkRun();
    let t0 = 0;
    const { acts, calls } = stkStubs({
      initiate: AMBIGUOUS,
      c2b: (n) =>
        n < 2
          ? { found: false }
          : {
              found: true,
              c2bPaymentId: 'pay_c2bmatch1',
              mpesaReceipt: 'UKM8EOG5BS',
              transactionDate: '20260101120000',
            },
      t0: () => t0,
    });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startStk(run);
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'UKM8EOG5BS');
      assert.equal(done.matchedC2bPaymentId, 'pay_c2bmatch1');
      assert.equal(done.resolvedBy, 'reconciliation');
      assert.equal(calls.query.length, 0, 'no CheckoutRequestID, so no STK query');
      assert.equal(calls.c2b.length, 2);
      const first = calls.c2b[0]!;
      assert.equal(first.input.phone, '254708374149');
      assert.equal(first.input.amount, AMOUNT);
      assert.equal(first.input.reference, 'INV0042');
      assert.equal(Date.parse(first.input.to) - Date.parse(first.input.from), C2B_MATCH_WINDOW_MS);
      // 5 min and 15 min after the review's grace window
      const reviewStart = DEADLINE_MS + GRACE_MS;
      assert.deepEqual(
        calls.c2b.map((c) => Math.round((c.at - reviewStart) / MINUTE)),
        [5, 15],
      );
      const last = finalRecord(calls);
      assert.equal(last.status, 'success');
      assert.equal(last.matchedC2bPaymentId, 'pay_c2bmatch1');
      assert.equal(last.resolvedBy, 'reconciliation');
    });
  });

  it('still unknown at the horizon: stays needs_review, after one attempt per scheduled time', async () => {
    const run = stkRun();
    let t0 = 0;
    const { acts, calls } = stkStubs({ initiate: AMBIGUOUS, t0: () => t0 });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startStk(run);
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'ambiguous_initiation');
      assert.equal(done.resolvedBy, undefined);
      const reviewStart = DEADLINE_MS + GRACE_MS;
      assert.deepEqual(
        calls.c2b.map((c) => Math.round((c.at - reviewStart) / 1000)),
        RECONCILE_SCHEDULE_MS.map((ms) => ms / 1000),
      );
      const ended = await elapsedSince(t0);
      assert.ok(ended >= reviewStart + RECONCILE_HORIZON_MS, 'ran to the horizon');
      const events = (await handle.fetchHistory()).events?.length ?? 0;
      assert.ok(events < 200, `the week of reconciliation keeps the history bounded (${events} events)`);
    });
  });

  it('a compressed schedule (reconcileScheduleScale in the input) scales every attempt, and nothing else', async () => {
    const run = stkRun();
    run.input.config = { ...run.input.config, reconcileScheduleScale: 0.01 };
    let t0 = 0;
    const { acts, calls } = stkStubs({ initiate: AMBIGUOUS, t0: () => t0 });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const done = await (await startStk(run)).result();
      assert.equal(done.status, 'needs_review');
      // the deadline and the grace window are unchanged; only the attempts after them are compressed
      const reviewStart = DEADLINE_MS + GRACE_MS;
      assert.deepEqual(
        calls.c2b.map((c) => Math.round((c.at - reviewStart) / 1000)),
        reconcileSchedule(0.01).map((ms) => Math.round(ms / 1000)),
      );
    });
  });

  it('a manual resolution through the update settles it, repeats answer the same, conflicts are refused', async () => {
    const run = stkRun();
    let t0 = 0;
    const { acts, calls } = stkStubs({ initiate: AMBIGUOUS, t0: () => t0 });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startStk(run);
      const r: ManualResolution = {
        status: 'success',
        mpesaReceipt: 'UKM8EOG5BS',
        note: 'customer showed the SMS',
        actor: 'key_test',
      };
      // pending: not in review yet, refused (and nothing recorded)
      await assert.rejects(handle.executeUpdate(resolveUpdate, { args: [r] }), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError);
        assert.ok(err.cause instanceof ApplicationFailure);
        assert.equal(err.cause.type, 'NotInReview');
        return true;
      });
      await untilReview(calls);
      const state = await handle.executeUpdate(resolveUpdate, { args: [r] });
      assert.equal(state.status, 'success');
      assert.equal(state.resolvedBy, 'manual');
      assert.equal(state.decidedBy, 'manual');
      assert.equal(state.mpesaReceipt, 'UKM8EOG5BS');
      const last = finalRecord(calls);
      assert.equal(last.status, 'success');
      assert.equal(last.resolvedBy, 'manual');
      assert.deepEqual(last.resolution, { actor: 'key_test', note: 'customer showed the SMS' });
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.resolvedBy, 'manual');
      assert.equal(calls.c2b.length, 0, 'resolved during the grace window, before any reconciliation');
    });

    // a conflicting second resolution, while the run is still open
    const run2 = stkRun();
    const second = stkStubs({ initiate: AMBIGUOUS, t0: () => t0 });
    await withWorker(run2.taskQueue, second.acts, async () => {
      const handle = await startStk(run2);
      await untilReview(second.calls);
      const failed: ManualResolution = { status: 'failed', note: 'not paid', actor: 'key_test' };
      const state = await handle.executeUpdate(resolveUpdate, { args: [failed] });
      assert.equal(state.status, 'failed');
      assert.equal(state.failureReason, 'reviewed');
      const done = await handle.result();
      assert.equal(done.status, 'failed');
      assert.equal(finalRecord(second.calls).resolvedBy, 'manual');
    });
  });

  it('the update refuses a resolution that differs from the one applied, and malformed ones', async () => {
    const run = stkRun();
    let t0 = 0;
    const { acts, calls } = stkStubs({ initiate: AMBIGUOUS, t0: () => t0 });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startStk(run);
      await untilReview(calls);
      const bad = {
        status: 'success',
        note: 'x',
        actor: 'key_test',
        mpesaReceipt: 'nope',
      } as ManualResolution;
      await assert.rejects(handle.executeUpdate(resolveUpdate, { args: [bad] }), WorkflowUpdateFailedError);
      // hold the run open: a resolution is applied between the main flow's steps, so send two at once
      const first: ManualResolution = { status: 'failed', note: 'not paid', actor: 'key_a' };
      const other: ManualResolution = {
        status: 'success',
        mpesaReceipt: 'UKM8EOG5BS',
        note: 'paid',
        actor: 'key_b',
      };
      const [a, b] = await Promise.allSettled([
        handle.executeUpdate(resolveUpdate, { args: [first] }),
        handle.executeUpdate(resolveUpdate, { args: [other] }),
      ]);
      // whichever the workflow accepted first wins; the other is refused as a conflict
      const settled = [a, b].filter((x) => x.status === 'fulfilled');
      const refused = [a, b].filter((x) => x.status === 'rejected') as PromiseRejectedResult[];
      assert.equal(settled.length, 1);
      assert.equal(refused.length, 1);
      const reason = refused[0]!.reason as WorkflowUpdateFailedError;
      assert.equal((reason.cause as ApplicationFailure).type, 'ResolutionConflict');
      const winner = a.status === 'fulfilled' ? first : other;
      assert.equal((await handle.result()).status, winner.status);
      assert.equal(finalRecord(calls).resolution?.actor, winner.actor);
    });
  });
});

// ---- b2cPayout ----------------------------------------------------------------------------------

interface PayoutCalls {
  query: { input: QueryPayoutStatusInput; at: number }[];
  record: RecordPayoutStatusInput[];
}

function payoutStubs(opts: {
  /** Called as each Transaction Status request starts (n from 1); may signal its answer. */
  onQuery?: (input: QueryPayoutStatusInput, n: number) => Promise<void>;
  t0: () => number;
}): { acts: PayoutActivities; calls: PayoutCalls } {
  const calls: PayoutCalls = { query: [], record: [] };
  const acts: PayoutActivities = {
    async initiateB2cPayout(input) {
      return {
        kind: 'accepted',
        conversationId: `AG_${input.payoutId}`,
        originatorConversationId: input.payoutId,
      };
    },
    async queryPayoutStatus(input) {
      calls.query.push({ input, at: await elapsedSince(opts.t0()) });
      const n = calls.query.length;
      await opts.onQuery?.(input, n);
      return { kind: 'started', conversationId: `AG_status_${n}` };
    },
    async recordPayoutStatus(input) {
      calls.record.push(input);
      return { applied: true, eventId: input.status === 'pending' ? null : `evt_${input.version}` };
    },
  };
  return { acts, calls };
}

async function startPayout(run: ReturnType<typeof payoutRun>): Promise<WorkflowHandle<typeof b2cPayout>> {
  return env.client.workflow.start(b2cPayout, {
    taskQueue: run.taskQueue,
    workflowId: run.id,
    args: [run.input],
  });
}

function payoutRun(): { id: string; taskQueue: string; input: PayoutInput } {
  seq++;
  const id = `po_rec${seq}_${Date.now().toString(36)}`;
  return {
    id,
    taskQueue: `reconcile-po-${seq}-${Date.now().toString(36)}`,
    input: {
      payoutId: id,
      merchantId: 'mer_test',
      channelId: 'ch_test',
      environment: 'test',
      amount: AMOUNT,
      phone: '254708374149',
      commandId: 'BusinessPayment',
      remarks: 'Refund',
      reference: 'REF1',
      config: { graceMs: GRACE_MS },
    },
  };
}

describe('b2cPayout: reconciliation of a needs_review payout', () => {
  it('settled by a scheduled Transaction Status request: success with resolvedBy reconciliation', async () => {
    const run = payoutRun();
    let t0 = 0;
    const { acts, calls } = payoutStubs({
      t0: () => t0,
      // the three requests before the review go unanswered; the fifth (15 min into review) finds it
      onQuery: async (input, n) => {
        if (n !== 5) return;
        await env.client.workflow.getHandle(input.payoutId).signal(payoutStatusSignal, {
          conversationId: `AG_status_${n}`,
          resultCode: '0',
          resultDesc: 'The service request is processed successfully.',
          transactionStatus: 'Completed',
          receipt: 'SGL31HKM1Z',
          amount: AMOUNT,
        });
      },
    });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startPayout(run);
      const done = await handle.result();
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'SGL31HKM1Z');
      assert.equal(done.resolvedBy, 'reconciliation');
      assert.equal(calls.query.length, 5);
      const statuses = [...new Map(calls.record.map((r) => [r.version, r.status])).values()];
      assert.deepEqual(statuses.slice(-2), ['needs_review', 'success']);
      assert.equal(calls.record.at(-1)?.resolvedBy, 'reconciliation');
      // every request asks about this payout's own OriginatorConversationID
      assert.ok(calls.query.every((q) => q.input.originatorConversationId === run.id));
      const gap = calls.query[4]!.at - calls.query[3]!.at;
      assert.equal(Math.round(gap / MINUTE), 10, 'the 5 and 15 minute attempts');
    });
  });

  it('a "not completed" answer in review settles failed/not_completed', async () => {
    const run = payoutRun();
    let t0 = 0;
    const { acts } = payoutStubs({
      t0: () => t0,
      onQuery: async (input, n) => {
        await env.client.workflow.getHandle(input.payoutId).signal(payoutStatusSignal, {
          conversationId: `AG_status_${n}`,
          resultCode: '0',
          resultDesc: 'The service request is processed successfully.',
          transactionStatus: n >= 4 ? 'Failed' : 'Pending',
        });
      },
    });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startPayout(run);
      const done = await handle.result();
      assert.equal(done.status, 'failed');
      assert.equal(done.failureReason, 'not_completed');
      assert.equal(done.resolvedBy, 'reconciliation');
    });
  });

  it('a compressed schedule (reconcileScheduleScale in the input) asks as often, sooner', async () => {
    const run = payoutRun();
    run.input.config = { ...run.input.config, reconcileScheduleScale: 0.001 };
    let t0 = 0;
    const { acts, calls } = payoutStubs({ t0: () => t0 });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startPayout(run);
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(calls.query.length, 3 + RECONCILE_SCHEDULE_MS.length);
      // the last request comes at the end of the compressed week, not the real one
      const last = calls.query.at(-1)!.at;
      assert.ok(last < RECONCILE_HORIZON_MS / 10, `last request after ${Math.round(last / MINUTE)} min`);
    });
  });

  it('still unknown at the horizon: stays needs_review; a manual resolution settles another', async () => {
    const run = payoutRun();
    let t0 = 0;
    const { acts, calls } = payoutStubs({ t0: () => t0 });
    await withWorker(run.taskQueue, acts, async () => {
      t0 = await env.currentTimeMs();
      const handle = await startPayout(run);
      const done = await handle.result();
      assert.equal(done.status, 'needs_review');
      assert.equal(done.reviewReason, 'result_missing');
      assert.equal(calls.query.length, 3 + RECONCILE_SCHEDULE_MS.length);
      const events = (await handle.fetchHistory()).events?.length ?? 0;
      assert.ok(events < 400, `bounded history (${events} events)`);
    });

    const other = payoutRun();
    const second = payoutStubs({ t0: () => t0 });
    await withWorker(other.taskQueue, second.acts, async () => {
      const handle = await startPayout(other);
      await untilReview(second.calls);
      const r: ManualResolution = {
        status: 'success',
        mpesaReceipt: 'SGL31HKM1Z',
        note: 'recipient confirmed',
        actor: 'key_ops',
      };
      const state = await handle.executeUpdate(resolvePayoutUpdate, { args: [r] });
      assert.equal(state.status, 'success');
      assert.equal(state.resolvedBy, 'manual');
      assert.equal(state.mpesaReceipt, 'SGL31HKM1Z');
      // the same resolution again is accepted while the run closes
      const last = second.calls.record.at(-1)!;
      assert.equal(last.resolvedBy, 'manual');
      assert.deepEqual(last.resolution, { actor: 'key_ops', note: 'recipient confirmed' });
      assert.equal((await handle.result()).status, 'success');
    });
  });
});
