/**
 * Time-skipping tests of workflow `darajaLookup` with stub activities: a Result, a failure code, a
 * timeout, a refused request, sends after a provable "not sent", ambiguous sends, and foreign or
 * unfinished Results.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { LookupActivities, StartLookupInput, StartLookupResult } from '../../activities/lookup-types';
import { type DarajaLookupInput, LOOKUP_NOT_SENT, type LookupResultSignal } from '../../src/domain/lookup';
import { bundleWorkflows } from '../../src/temporal/worker';
import { darajaLookup, lookupResultSignal } from '../../workflows/daraja-lookup';
import { timeSkipping } from '../helpers/temporal';

const WORKFLOWS = path.join(__dirname, '..', '..', 'workflows', 'index.ts');
const WAIT_MS = 30_000;

let env: TestWorkflowEnvironment;
let bundle: { code: string };
let seq = 0;

before(async () => {
  [env, bundle] = await Promise.all([timeSkipping(), bundleWorkflows(WORKFLOWS)]);
});
after(async () => {
  await env?.teardown();
});

type StartFn = (input: StartLookupInput, n: number) => StartLookupResult | Promise<StartLookupResult>;

interface Calls {
  start: Array<{ input: StartLookupInput; at: number }>;
}

const started = (n = 1): StartLookupResult => ({
  kind: 'started',
  conversationId: `AG_20240101_${n}`,
  originatorConversationId: `oc-${n}`,
});

function stubs(fn: StartFn = () => started()): { acts: LookupActivities; calls: Calls } {
  const calls: Calls = { start: [] };
  let t0: number | undefined;
  return {
    calls,
    acts: {
      async startLookup(input) {
        const t = await env.currentTimeMs();
        t0 ??= t;
        calls.start.push({ input, at: t - t0 });
        return fn(input, calls.start.length);
      },
    },
  };
}

interface Run {
  id: string;
  taskQueue: string;
  input: DarajaLookupInput;
}

function newRun(over: Partial<DarajaLookupInput> = {}): Run {
  seq++;
  const id = `lkp_test${seq}${Date.now().toString(36)}`;
  return {
    id,
    taskQueue: `lookup-${seq}-${Date.now().toString(36)}`,
    input: {
      lookupId: id,
      merchantId: 'mer_test',
      kind: 'account_balance',
      channelId: 'ch_test',
      environment: 'test',
      waitMs: WAIT_MS,
      ...over,
    },
  };
}

async function withWorker<T>(run: Run, acts: LookupActivities, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: run.taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  return worker.runUntil(fn);
}

const start = (run: Run) =>
  env.client.workflow.start(darajaLookup, {
    taskQueue: run.taskQueue,
    workflowId: run.id,
    args: [run.input],
  });

/** Waits (in real time: the test server's clock is locked until result() is awaited) for n sends. */
async function sends(calls: Calls, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (calls.start.length < n) {
    if (Date.now() > end) throw new Error(`expected ${n} sends, saw ${calls.start.length}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ACCOUNTS = [
  {
    name: 'Working Account',
    currency: 'KES',
    available: '900000.00',
    uncleared: '900000.00',
    reserved: '0.00',
  },
  {
    name: 'Utility Account',
    currency: 'KES',
    available: '10116.00',
    uncleared: '10116.00',
    reserved: '0.00',
  },
];

const balanceResult = (over: Partial<LookupResultSignal> = {}): LookupResultSignal => ({
  resultCode: '0',
  resultDesc: 'The service request is processed successfully.',
  resultType: 0,
  conversationId: 'AG_20240101_1',
  originatorConversationId: 'oc-1',
  accounts: ACCOUNTS,
  completedTime: '20240101120000',
  ...over,
});

describe('darajaLookup: Results', () => {
  it('an Account Balance Result completes the lookup with its accounts', async () => {
    const run = newRun();
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 1);
      await handle.signal(lookupResultSignal, balanceResult());
      const r = await handle.result();
      assert.equal(r.status, 'completed');
      assert.equal(r.lookupId, run.id);
      assert.equal(r.kind, 'account_balance');
      assert.equal(r.resultCode, '0');
      assert.deepEqual(r.accounts, ACCOUNTS);
      assert.equal(r.completedTime, '20240101120000');
      assert.equal(r.conversationId, 'AG_20240101_1');
      assert.equal(r.transaction, undefined);
      assert.equal(calls.start.length, 1);
      const sent = calls.start[0]!.input;
      assert.deepEqual(sent, {
        lookupId: run.id,
        merchantId: 'mer_test',
        kind: 'account_balance',
        channelId: 'ch_test',
        environment: 'test',
      });
    });
  });

  it('a Result that arrives before the send returns is still the answer', async () => {
    const run = newRun();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { acts, calls } = stubs(async () => {
      await gate;
      return started();
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 1);
      await handle.signal(lookupResultSignal, balanceResult());
      release();
      const r = await handle.result();
      assert.equal(r.status, 'completed');
      assert.deepEqual(r.accounts, ACCOUNTS);
    });
  });

  it('a Transaction Status Result completes with its fields', async () => {
    const run = newRun({ kind: 'transaction_status', receipt: 'UKM8EOG5BS' });
    const { acts, calls } = stubs();
    const transaction = {
      receipt: 'UKM8EOG5BS',
      status: 'Completed',
      amount: 250,
      debitPartyName: '254700000000 - SANDBOX CUSTOMER',
      creditPartyName: '174379 - MALIPO SANDBOX',
      initiatedTime: '20240101120000',
      finalisedTime: '20240101120005',
      reasonType: 'Pay Bill Online',
    };
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 1);
      await handle.signal(lookupResultSignal, {
        ...balanceResult(),
        accounts: undefined,
        completedTime: undefined,
        transaction,
      });
      const r = await handle.result();
      assert.equal(r.status, 'completed');
      assert.deepEqual(r.transaction, transaction);
      assert.equal(r.accounts, undefined);
      assert.equal(calls.start[0]!.input.receipt, 'UKM8EOG5BS');
    });
  });

  it('a Result with a failure code (2001) fails the lookup at the result, with the code', async () => {
    const run = newRun();
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 1);
      await handle.signal(lookupResultSignal, {
        ...balanceResult({ resultCode: '2001', resultDesc: 'The initiator information is invalid.' }),
        accounts: undefined,
      });
      const r = await handle.result();
      assert.equal(r.status, 'failed');
      assert.equal(r.failedAt, 'result');
      assert.equal(r.resultCode, '2001');
      assert.equal(r.resultDesc, 'The initiator information is invalid.');
      assert.deepEqual(r.accounts, []);
      assert.match(r.message, /2001/);
    });
  });

  it('an unknown receipt (R000001) fails the status lookup at the result', async () => {
    const run = newRun({ kind: 'transaction_status', receipt: 'ZZZZZZZZZZ' });
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 1);
      await handle.signal(lookupResultSignal, {
        resultCode: 'R000001',
        resultDesc: 'The transaction receipt number does not exist.',
        conversationId: 'AG_20240101_1',
        originatorConversationId: 'oc-1',
      });
      const r = await handle.result();
      assert.equal(r.status, 'failed');
      assert.equal(r.failedAt, 'result');
      assert.equal(r.resultCode, 'R000001');
      assert.deepEqual(r.transaction, {});
    });
  });

  it('ignores foreign, unfinished (ResultType 1) and malformed Results', async () => {
    const run = newRun();
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 1);
      await handle.signal(
        lookupResultSignal,
        balanceResult({ conversationId: 'AG_someone_else', resultCode: '1' }),
      );
      await handle.signal(lookupResultSignal, balanceResult({ resultType: 1, resultCode: '17' }));
      await handle.signal(lookupResultSignal, null as unknown as LookupResultSignal);
      await handle.signal(lookupResultSignal, { nope: true } as unknown as LookupResultSignal);
      await handle.signal(lookupResultSignal, balanceResult());
      const r = await handle.result();
      assert.equal(r.status, 'completed');
      assert.deepEqual(r.accounts, ACCOUNTS);
    });
  });
});

describe('darajaLookup: timeouts and refusals', () => {
  it('no Result within waitMs: timeout, after exactly waitMs', async () => {
    const run = newRun();
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const r = await handle.result();
      const waited = Date.parse(r.decidedAt) - (await handle.describe()).startTime.getTime();
      assert.equal(r.status, 'timeout');
      assert.equal(r.conversationId, 'AG_20240101_1');
      assert.match(r.message, /did not come within 30000 ms/);
      assert.ok(waited >= WAIT_MS && waited < WAIT_MS + 5_000, `waited ${waited} ms`);
      assert.equal(calls.start.length, 1);
      // a Result after the timeout finds the workflow closed
      await assert.rejects(handle.signal(lookupResultSignal, balanceResult()));
    });
  });

  it('a request Daraja refuses fails at once, without waiting', async () => {
    const run = newRun();
    const { acts } = stubs(() => ({
      kind: 'rejected',
      by: 'daraja',
      code: '400.002.02',
      message: 'Bad Request - Invalid PartyA',
    }));
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const r = await handle.result();
      const took = Date.parse(r.decidedAt) - (await handle.describe()).startTime.getTime();
      assert.ok(took < 1000, `no wait (${took} ms)`);
      assert.equal(r.status, 'failed');
      assert.equal(r.failedAt, 'request');
      assert.equal(r.rejectedBy, 'daraja');
      assert.equal(r.resultCode, '400.002.02');
      assert.equal(r.resultDesc, 'Bad Request - Invalid PartyA');
    });
  });

  it('an ambiguous send (returned or thrown) still waits for the Result', async () => {
    for (const outcome of ['returned', 'thrown'] as const) {
      const run = newRun();
      const { acts, calls } = stubs(() => {
        if (outcome === 'thrown') throw new Error('socket hang up after send');
        return { kind: 'ambiguous', reason: 'timeout after send' };
      });
      await withWorker(run, acts, async () => {
        const handle = await start(run);
        await sends(calls, 1);
        // the ConversationID is unknown, so any Result posted to this lookup's URL is believed
        await handle.signal(lookupResultSignal, balanceResult({ conversationId: 'AG_unknown_before' }));
        const r = await handle.result();
        assert.equal(r.status, 'completed', outcome);
        assert.equal(r.conversationId, 'AG_unknown_before');
        assert.equal(calls.start.length, 1, `${outcome}: never sent again`);
      });
    }
  });

  it('an ambiguous send with no Result times out, saying the request may not have arrived', async () => {
    const run = newRun();
    const { acts } = stubs(() => ({ kind: 'ambiguous', reason: 'timeout after send' }));
    await withWorker(run, acts, async () => {
      const r = await (await start(run)).result();
      assert.equal(r.status, 'timeout');
      assert.match(r.message, /may not have reached Daraja: timeout after send/);
    });
  });

  it('a provable "not sent" is sent again (1 s, 2 s); three in all, then it fails at the request', async () => {
    const run = newRun();
    const { acts, calls } = stubs((_input, n) => {
      if (n < 3) throw ApplicationFailure.retryable('ECONNREFUSED', LOOKUP_NOT_SENT);
      return started(n);
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await sends(calls, 3);
      await handle.signal(lookupResultSignal, balanceResult({ conversationId: 'AG_20240101_3' }));
      const r = await handle.result();
      assert.equal(r.status, 'completed');
      assert.deepEqual(
        calls.start.map((c) => Math.round(c.at / 1000)),
        [0, 1, 3],
      );
    });

    const dead = newRun();
    const never = stubs(() => {
      throw ApplicationFailure.retryable('could not get a Daraja token: ECONNREFUSED', LOOKUP_NOT_SENT);
    });
    await withWorker(dead, never.acts, async () => {
      const r = await (await start(dead)).result();
      assert.equal(r.status, 'failed');
      assert.equal(r.failedAt, 'request');
      assert.equal(r.rejectedBy, 'malipo');
      assert.equal(r.resultCode, 'not_sent');
      assert.match(r.resultDesc ?? '', /ECONNREFUSED/);
      assert.equal(never.calls.start.length, 3);
    });
  });

  it('invalid input fails the workflow (not a stuck task) and sends nothing', async () => {
    const run = newRun({ kind: 'transaction_status' });
    const { acts, calls } = stubs();
    await withWorker(run, acts, async () => {
      await assert.rejects((await start(run)).result(), /workflow execution failed/i);
      assert.equal(calls.start.length, 0);
    });
  });
});
