/**
 * Time-skipping tests of workflow `idempotencySweep` with a stub activity: it stops at the first
 * partial batch, pauses between batches, stops at `maxBatches`, and a failing batch is retried; and
 * replay of every recorded `histories/idempotency-sweep-*.json` (MALIPO_RECORD_HISTORIES=1 rewrites
 * them, then `npx biome format --write test/workflows/histories`).
 * (The Schedule that starts it is tested against the dev server in test/e2e/idempotency-sweep.test.ts.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { IdempotencySweepActivities, IdempotencySweepBatch } from '../../activities/idempotency-types';
import { bundleWorkflows } from '../../src/temporal/worker';
import { type IdempotencySweepInput, idempotencySweep } from '../../workflows/idempotency-sweep';
import { timeSkipping } from '../helpers/temporal';

const WORKFLOWS = path.join(__dirname, '..', '..', 'workflows', 'index.ts');
const HISTORIES = path.join(__dirname, 'histories');
const RECORD = process.env.MALIPO_RECORD_HISTORIES === '1';
/** The histories this file records, as `histories/idempotency-sweep-<name>.json`. */
const RECORDED = ['three-batches', 'max-batches', 'retried-batch'];

let env: TestWorkflowEnvironment;
let bundle: { code: string };
let seq = 0;

before(async () => {
  [env, bundle] = await Promise.all([timeSkipping(), bundleWorkflows(WORKFLOWS)]);
});
after(async () => {
  await env?.teardown();
});

/** A stub sweep answering `answers` in turn (a thrown Error fails that attempt), recording when it ran. */
function stub(answers: Array<number | Error>) {
  const calls: Array<{ input: IdempotencySweepBatch; at: number }> = [];
  const acts: IdempotencySweepActivities = {
    async sweepIdempotencyKeys(input) {
      calls.push({ input, at: await env.currentTimeMs() });
      const a = answers[calls.length - 1] ?? 0;
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return { acts, calls };
}

async function run(input: IdempotencySweepInput, acts: IdempotencySweepActivities, record?: string) {
  seq++;
  const taskQueue = `sweep-${seq}-${Date.now().toString(36)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: acts,
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(idempotencySweep, {
      taskQueue,
      workflowId: `idempotency-sweep-test-${seq}`,
      args: [input],
    });
    const result = await handle.result();
    if (RECORD && record) {
      fs.writeFileSync(
        path.join(HISTORIES, `idempotency-sweep-${record}.json`),
        `${JSON.stringify(JSON.parse(historyToJSON(await handle.fetchHistory())), null, 2)}\n`,
      );
    }
    return result;
  });
}

const TEN_MINUTES = 10 * 60_000;
const INPUT: IdempotencySweepInput = {
  retentionHours: 48,
  batchSize: 500,
  maxBatches: 10,
  pauseMs: TEN_MINUTES,
};

describe('idempotencySweep', () => {
  it('sweeps batch after batch, pausing between them, until a batch is not full', async () => {
    const { acts, calls } = stub([500, 500, 120, 999]);
    const startedAt = Date.now();
    const r = await run(INPUT, acts, 'three-batches');
    assert.deepEqual(r, { deleted: 1120, batches: 3, complete: true });
    assert.equal(calls.length, 3, 'no batch after a partial one');
    assert.deepEqual(calls[0]?.input, { retentionHours: 48, batchSize: 500 });
    const gaps = calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? 0));
    for (const g of gaps) assert.ok(g >= TEN_MINUTES && g < TEN_MINUTES + 60_000, `pause ${g} ms`);
    assert.ok(Date.now() - startedAt < 30_000, 'the pauses were skipped, not waited');
  });

  it('an empty table is one batch and no pause', async () => {
    const { acts, calls } = stub([0]);
    assert.deepEqual(await run(INPUT, acts), { deleted: 0, batches: 1, complete: true });
    assert.equal(calls.length, 1);
  });

  it('stops at maxBatches and says the sweep is not complete', async () => {
    const { acts, calls } = stub([500, 500, 500, 500]);
    const r = await run({ ...INPUT, maxBatches: 3 }, acts, 'max-batches');
    assert.deepEqual(r, { deleted: 1500, batches: 3, complete: false });
    assert.equal(calls.length, 3);
  });

  it('retries a failed batch', async () => {
    const { acts, calls } = stub([new Error('connection reset'), 7]);
    assert.deepEqual(await run(INPUT, acts, 'retried-batch'), { deleted: 7, batches: 1, complete: true });
    assert.equal(calls.length, 2);
  });
});

describe('idempotencySweep: replay', () => {
  it('every recorded idempotency-sweep-*.json history replays against the current code', async () => {
    const files = fs.readdirSync(HISTORIES).filter((f) => f.startsWith('idempotency-sweep-'));
    for (const name of RECORDED) assert.ok(files.includes(`idempotency-sweep-${name}.json`), name);
    const histories = files.map((f) => ({
      workflowId: path.basename(f, '.json'),
      history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8'))),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(replayed, RECORDED.length);
  });
});
