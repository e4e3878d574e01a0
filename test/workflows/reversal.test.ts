/**
 * Time-skipping tests of workflow `reversal` with fake activities (plain functions that record every
 * call), one per path, plus replay of the recorded `histories/reversal-*.json`.
 * Set MALIPO_RECORD_HISTORIES=1 to rewrite the recorded histories from this run, then
 * `npx biome format --write test/workflows/histories`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import {
  type InitiateReversalInput,
  type InitiateReversalResult,
  type QueryReversalStatusInput,
  type QueryReversalStatusResult,
  type RecordReversalStatusInput,
  REVERSAL_INITIATION_ERRORS,
  type ReversalActivities,
} from '../../activities/reversal-types';
import type {
  ReversalConfig,
  ReversalInput,
  ReversalResultSignal,
  ReversalState,
  ReversalStatusSignal,
} from '../../src/domain/reversal';
import { MalipoStatus } from '../../src/domain/search-attributes';
import { bundleWorkflows } from '../../src/temporal/worker';
import {
  reversal,
  reversalResultSignal,
  reversalStateQuery,
  reversalStatusSignal,
} from '../../workflows/reversal';
import { timeSkipping } from '../helpers/temporal';

const ROOT = path.join(__dirname, '..', '..');
const WORKFLOWS = path.join(ROOT, 'workflows', 'index.ts');
const HISTORIES = path.join(__dirname, 'histories');
const HISTORY_PREFIX = 'reversal-';
const RECORD = process.env.MALIPO_RECORD_HISTORIES === '1';
const AMOUNT = 300;

let env: TestWorkflowEnvironment;
let bundle: { code: string };
let seq = 0;

before(async () => {
  [env, bundle] = await Promise.all([timeSkipping(), bundleWorkflows(WORKFLOWS)]);
});
after(async () => {
  await env?.teardown();
});

// ---- fakes ------------------------------------------------------------------------------------

interface Calls {
  initiate: InitiateReversalInput[];
  /** Attempts that returned an answer: requests that reached Daraja (a "not sent" throw never did). */
  reached: number;
  query: QueryReversalStatusInput[];
  record: RecordReversalStatusInput[];
}
type InitiateFn = (
  input: InitiateReversalInput,
  n: number,
) => InitiateReversalResult | Promise<InitiateReversalResult>;
type QueryFn = (
  input: QueryReversalStatusInput,
  n: number,
) => QueryReversalStatusResult | Promise<QueryReversalStatusResult>;

const conversationId = (id: string) => `AG_20240101_${id}`;
const originator = (id: string) => `orig-${id}`;
const accepted = (input: { reversalId: string }): InitiateReversalResult => ({
  kind: 'accepted',
  conversationId: conversationId(input.reversalId),
  originatorConversationId: originator(input.reversalId),
});
const statusRequestId = (n: number) => `AG_status_${n}`;

function fakes(opts: { initiate?: InitiateFn; query?: QueryFn } = {}): {
  acts: ReversalActivities;
  calls: Calls;
} {
  const calls: Calls = { initiate: [], reached: 0, query: [], record: [] };
  const acts: ReversalActivities = {
    async initiateReversal(input) {
      calls.initiate.push(input);
      const answer = await (opts.initiate ?? accepted)(input, calls.initiate.length);
      calls.reached++;
      return answer;
    },
    async queryReversalStatus(input) {
      calls.query.push(input);
      return (opts.query ?? ((_i, n) => ({ kind: 'started', conversationId: statusRequestId(n) })))(
        input,
        calls.query.length,
      );
    },
    async recordReversalStatus(input) {
      calls.record.push(input);
      return { applied: true, eventId: input.status === 'pending' ? null : `evt_${input.version}` };
    },
  };
  return { acts, calls };
}

async function sendResult(id: string, r: ReversalResultSignal): Promise<void> {
  await env.client.workflow.getHandle(id).signal(reversalResultSignal, r);
}
async function sendStatus(id: string, a: ReversalStatusSignal): Promise<void> {
  await env.client.workflow.getHandle(id).signal(reversalStatusSignal, a);
}

/** A query fake whose request n is answered at once with `answer(n)` (none when undefined). */
const answering =
  (answer: (n: number) => Omit<ReversalStatusSignal, 'conversationId'> | undefined): QueryFn =>
  async (input, n) => {
    const a = answer(n);
    if (a) await sendStatus(input.reversalId, { conversationId: statusRequestId(n), ...a });
    return { kind: 'started', conversationId: statusRequestId(n) };
  };

const success = (run: Run, over: Partial<ReversalResultSignal> = {}): ReversalResultSignal => ({
  kind: 'result',
  resultCode: '0',
  resultDesc: 'The service request is processed successfully.',
  conversationId: conversationId(run.id),
  originatorConversationId: originator(run.id),
  transactionId: 'UAB9Z8Y7X6',
  amount: AMOUNT,
  ...over,
});
const failure = (run: Run): ReversalResultSignal => ({
  kind: 'result',
  resultCode: 'R000002',
  resultDesc: 'The OriginalTransactionID is invalid.',
  conversationId: conversationId(run.id),
  originatorConversationId: originator(run.id),
});
const queueTimeout = (run: Run): ReversalResultSignal => ({
  kind: 'queue_timeout',
  resultCode: '1',
  resultDesc: 'The request timed out in the queue.',
  conversationId: conversationId(run.id),
  originatorConversationId: originator(run.id),
});
const COMPLETED: Omit<ReversalStatusSignal, 'conversationId'> = {
  resultCode: '0',
  resultDesc: 'The service request is processed successfully.',
  transactionStatus: 'Completed',
  receipt: 'UAB9Z8Y7X7',
  amount: AMOUNT,
};
const NOT_FOUND: Omit<ReversalStatusSignal, 'conversationId'> = {
  resultCode: 'R000001',
  resultDesc: 'The transaction receipt number does not exist.',
};

// ---- harness ----------------------------------------------------------------------------------

interface Run {
  id: string;
  taskQueue: string;
  input: ReversalInput;
}

function newRun(config?: Partial<ReversalConfig>): Run {
  seq++;
  const id = `rev_test${seq}_${Date.now().toString(36)}`;
  return {
    id,
    taskQueue: `reversal-${seq}-${Date.now().toString(36)}`,
    input: {
      reversalId: id,
      paymentId: 'pay_test',
      merchantId: 'mer_test',
      channelId: 'ch_test',
      environment: 'test',
      amount: AMOUNT,
      receipt: 'UAB1C2D3E4',
      remarks: 'Customer refund',
      ...(config ? { config } : {}),
    },
  };
}

const started: WorkflowHandle[] = [];

async function withWorker<T>(run: Run, acts: ReversalActivities, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: run.taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  try {
    return await worker.runUntil(fn);
  } finally {
    for (const handle of started.splice(0)) await handle.terminate('test finished').catch(() => {});
  }
}

async function start(run: Run): Promise<WorkflowHandle<typeof reversal>> {
  const handle = await env.client.workflow.start(reversal, {
    taskQueue: run.taskQueue,
    workflowId: run.id,
    args: [run.input],
  });
  started.push(handle);
  return handle;
}

async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The recorded snapshots, one per version (a re-run local activity repeats the same one). */
function recorded(calls: Calls): RecordReversalStatusInput[] {
  const out: RecordReversalStatusInput[] = [];
  for (const r of calls.record) {
    const last = out.at(-1);
    if (last && r.version === last.version) continue;
    out.push(r);
  }
  assert.deepEqual(
    out.map((r) => r.version),
    out.map((_, i) => i + 1),
    'versions strictly increasing from 1 with no gap',
  );
  return out;
}

const label = (r: {
  status: string;
  failureReason?: string | undefined;
  reviewReason?: string | undefined;
}) =>
  r.status === 'failed'
    ? `failed/${r.failureReason}`
    : r.status === 'needs_review'
      ? `needs_review/${r.reviewReason}`
      : r.status;
const statuses = (calls: Calls) => recorded(calls).map(label);

/** Waits for the result and checks what every test relies on. */
async function finish(handle: WorkflowHandle<typeof reversal>, calls: Calls): Promise<ReversalState> {
  const done = await handle.result();
  const last = recorded(calls).at(-1)!;
  assert.equal(last.version, done.version);
  assert.equal(last.status, done.status);
  assert.equal(last.reason, done.message);
  assert.deepEqual(await handle.query(reversalStateQuery), done);
  assert.equal((await handle.describe()).typedSearchAttributes.get(MalipoStatus), done.status);
  assert.equal(done.requests, 1, 'one Reversal request, ever');
  assert.equal(calls.reached, 1, 'one request reached Daraja');
  return done;
}

async function keepHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (!RECORD) return;
  const history = await handle.fetchHistory();
  fs.mkdirSync(HISTORIES, { recursive: true });
  fs.writeFileSync(
    path.join(HISTORIES, `${HISTORY_PREFIX}${name}.json`),
    `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`,
  );
}

const hasVersion = (calls: Calls, v: number) => () => calls.record.some((r) => r.version === v);

// ---- tests ------------------------------------------------------------------------------------

describe('reversal: the Result decides', () => {
  it('accepted, then a success Result → success with the reversal’s own transaction id, no lookup', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      assert.equal((await handle.query(reversalStateQuery)).status, 'pending');
      await sendResult(run.id, success(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.mpesaReceipt, 'UAB9Z8Y7X6');
      assert.equal(done.decidedBy, 'result');
      assert.equal(calls.query.length, 0);
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
      assert.deepEqual(calls.initiate[0], {
        reversalId: run.id,
        channelId: 'ch_test',
        environment: 'test',
        amount: AMOUNT,
        receipt: 'UAB1C2D3E4',
        remarks: 'Customer refund',
      });
      await keepHistory('result-success', handle);
    });
  });

  it('a duplicate Result and one naming another request change nothing', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await sendResult(run.id, success(run, { conversationId: 'AG_20240101_someoneelse', amount: 1 }));
      await sendResult(run.id, success(run));
      await sendResult(run.id, success(run));
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'success']);
    });
  });

  it('a success Result for another amount → needs_review/amount_mismatch', async () => {
    const run = newRun();
    const { acts, calls } = fakes();
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await sendResult(run.id, success(run, { amount: AMOUNT + 1 }));
      const done = await finish(handle, calls);
      assert.equal(label(done), 'needs_review/amount_mismatch');
    });
  });

  it('a failure Result is final only when a later Transaction Status finds nothing → failed/declined', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => NOT_FOUND) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await sendResult(run.id, failure(run));
      const done = await finish(handle, calls);
      assert.equal(label(done), 'failed/declined');
      assert.equal(done.resultCode, 'R000002');
      assert.equal(done.decidedBy, 'status');
      assert.equal(calls.query.length, 1);
      assert.equal(calls.query[0]!.originatorConversationId, originator(run.id));
      assert.deepEqual(statuses(calls), ['pending', 'pending', 'failed/declined']);
      await keepHistory('result-failed-confirmed', handle);
    });
  });

  it('a failure Result that Transaction Status never confirms → needs_review/failure_unconfirmed', async () => {
    const run = newRun({ maxStatusQueries: 2 });
    const { acts, calls } = fakes({ query: () => ({ kind: 'unavailable', message: 'HTTP 503' }) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await sendResult(run.id, failure(run));
      const done = await finish(handle, calls);
      assert.equal(label(done), 'needs_review/failure_unconfirmed');
      assert.equal(calls.query.length, 2);
    });
  });
});

describe('reversal: silence and timeouts are confirmed by Transaction Status', () => {
  it('no Result: the lookup finds the reversal completed → success, decided by status', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => COMPLETED) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'status');
      assert.equal(done.mpesaReceipt, 'UAB9Z8Y7X7');
      assert.equal(calls.query.length, 1);
      await keepHistory('silence-status-success', handle);
    });
  });

  it('queue timeout: the lookup finds no such transaction → failed/queue_timeout', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => NOT_FOUND) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      await until('the acceptance is recorded', hasVersion(calls, 2));
      await sendResult(run.id, queueTimeout(run));
      const done = await finish(handle, calls);
      assert.equal(label(done), 'failed/queue_timeout');
      assert.equal(calls.query.length, 1);
      await keepHistory('queue-timeout-not-found', handle);
    });
  });

  it('no Result and "not found" on every lookup is no proof → needs_review/result_missing after 3 lookups', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ query: answering(() => NOT_FOUND) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(label(done), 'needs_review/result_missing');
      assert.equal(calls.query.length, 3);
      assert.deepEqual(
        calls.query.map((q) => q.queryNumber),
        [1, 2, 3],
      );
    });
  });

  it('a late Result during the lookups still settles the reversal', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      query: async (input, n) => {
        if (n === 2) await sendResult(input.reversalId, success(run));
        return { kind: 'started', conversationId: statusRequestId(n) };
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.decidedBy, 'result');
      assert.equal(calls.query.length, 2);
    });
  });
});

describe('reversal: never sent twice', () => {
  it('an ambiguous send is never repeated; without ids nothing can be looked up → needs_review/ambiguous_initiation', async () => {
    const run = newRun();
    const { acts, calls } = fakes({ initiate: () => ({ kind: 'ambiguous', reason: 'timeout after send' }) });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(label(done), 'needs_review/ambiguous_initiation');
      assert.equal(calls.initiate.length, 1);
      assert.equal(calls.query.length, 0, 'the original receipt would find the payment, not this reversal');
      await keepHistory('ambiguous-needs-review', handle);
    });
  });

  it('an ambiguous send, then its Result (the URL names the reversal) → success, still one request', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: async (input) => {
        await sendResult(input.reversalId, success(run));
        return { kind: 'ambiguous', reason: 'connection reset after send' };
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(done.status, 'success');
      assert.equal(done.initiation, 'ambiguous');
      assert.equal(done.conversationId, conversationId(run.id));
    });
  });

  it('an ambiguous send then a failure Result: Transaction Status by the Result’s ids confirms → failed', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: async (input) => {
        await sendResult(input.reversalId, failure(run));
        return { kind: 'ambiguous', reason: 'timeout after send' };
      },
      query: answering(() => NOT_FOUND),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(label(done), 'failed/declined');
      assert.equal(calls.query[0]!.originatorConversationId, originator(run.id));
    });
  });

  it('an unexpected activity failure is ambiguous too: no retry of the request', async () => {
    const run = newRun({ maxStatusQueries: 1 });
    const { acts, calls } = fakes({
      initiate: () => {
        throw ApplicationFailure.nonRetryable('socket hang up', 'Unexpected');
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await handle.result();
      assert.equal(label(done), 'needs_review/ambiguous_initiation');
      assert.equal(calls.initiate.length, 1);
      assert.equal(done.requests, 1);
    });
  });

  it('a synchronous refusal → failed/rejected, nothing awaited', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: () => ({
        kind: 'rejected',
        code: '400.002.02',
        message: 'Bad Request - Invalid TransactionID',
      }),
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await finish(handle, calls);
      assert.equal(label(done), 'failed/rejected');
      assert.equal(done.resultCode, '400.002.02');
      assert.equal(calls.query.length, 0);
    });
  });

  it('a misconfigured channel (nothing sent) → failed/rejected without retries', async () => {
    const run = newRun();
    const { acts, calls } = fakes({
      initiate: () => {
        throw ApplicationFailure.nonRetryable('no initiator', REVERSAL_INITIATION_ERRORS.misconfigured);
      },
    });
    await withWorker(run, acts, async () => {
      const handle = await start(run);
      const done = await handle.result();
      assert.equal(label(done), 'failed/rejected');
      assert.equal(calls.initiate.length, 1);
    });
  });
});

describe('reversal: replay', () => {
  const historyFiles = (): string[] =>
    fs.existsSync(HISTORIES)
      ? fs.readdirSync(HISTORIES).filter((f) => f.startsWith(HISTORY_PREFIX) && f.endsWith('.json'))
      : [];
  const load = (f: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')));
  const REQUIRED = [
    'result-success',
    'result-failed-confirmed',
    'silence-status-success',
    'queue-timeout-not-found',
    'ambiguous-needs-review',
  ];

  it('every recorded reversal history replays against the current workflow code', async () => {
    const files = historyFiles();
    for (const name of REQUIRED) {
      assert.ok(files.includes(`${HISTORY_PREFIX}${name}.json`), `missing ${HISTORY_PREFIX}${name}.json`);
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

  it('the replay check catches a nondeterministic change to reversal', async () => {
    const dir = path.join(ROOT, 'test-artifacts', 'reversal-replay');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'reversal-changed.ts');
    const rel = (p: string) => path.relative(dir, path.join(ROOT, p)).split(path.sep).join('/');
    fs.writeFileSync(
      file,
      [
        "import { sleep } from '@temporalio/workflow';",
        `import type { ReversalInput, ReversalState } from '${rel('src/domain/reversal')}';`,
        `import { reversal as current } from '${rel('workflows/reversal')}';`,
        'export async function reversal(input: ReversalInput): Promise<ReversalState> {',
        "  await sleep('1 second');",
        '  return current(input);',
        '}',
        '',
      ].join('\n'),
    );
    const changed = await bundleWorkflows(file);
    const files = historyFiles();
    assert.ok(files.length >= REQUIRED.length);
    const failures: string[] = [];
    const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: load(f) }));
    for await (const result of Worker.runReplayHistories({ workflowBundle: changed }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(failures.length, files.length);
    for (const f of failures) assert.match(f, /Nondeterminism|DeterminismViolation/i);
  });
});
