/**
 * The idempotency-key sweep schedule on the real Temporal dev server (the time-skipping server has no
 * schedules), with the real worker and database (test/helpers/stack.ts): ensuring it twice creates it
 * once, with the intended spec and action, and a triggered run deletes the expired keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ensureIdempotencySweepSchedule,
  IDEMPOTENCY_SWEEP_INPUT,
  IDEMPOTENCY_SWEEP_SCHEDULE_ID,
} from '../../src/payments/idempotency-sweep';
import { type Stack, startStack } from '../helpers/stack';

let s: Stack;

before(async () => {
  s = await startStack({ postgresUrl: process.env.MALIPO_TEST_DATABASE_URL });
});
after(async () => {
  await s?.stop();
});

async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('idempotency sweep schedule', () => {
  it('is created once, hourly, never overlapping, and its run deletes expired keys', async () => {
    const old = new Date(Date.now() - 72 * 3_600_000);
    const row = (key: string, createdAt: Date) => ({
      merchant_id: 'mer_sweep',
      environment: 'test',
      scope: 'payments:create',
      key,
      request_hash: 'h',
      state: 'done' as const,
      resource_id: `pay_${key}`,
      response_status: 202,
      response_body: JSON.stringify({}),
      created_at: createdAt,
      locked_until: createdAt,
    });
    await s.db
      .insertInto('idempotency_keys')
      .values([row('old-1', old), row('old-2', old), row('young', new Date())])
      .execute();

    assert.equal(await ensureIdempotencySweepSchedule(s.temporal, { taskQueue: s.taskQueue }), 'created');
    assert.equal(await ensureIdempotencySweepSchedule(s.temporal, { taskQueue: s.taskQueue }), 'exists');
    const handle = s.temporal.schedule.getHandle(IDEMPOTENCY_SWEEP_SCHEDULE_ID);
    try {
      const d = await handle.describe();
      assert.equal(d.spec.intervals?.length, 1);
      assert.equal(d.spec.intervals?.[0]?.every, 3_600_000);
      assert.equal(d.policies.overlap, 'SKIP');
      assert.equal(d.action.type, 'startWorkflow');
      assert.equal(d.action.workflowType, 'idempotencySweep');
      assert.equal(d.action.taskQueue, s.taskQueue);
      assert.deepEqual(d.action.args, [IDEMPOTENCY_SWEEP_INPUT]);
      assert.equal(d.state.paused, false);

      await handle.trigger();
      const runId = await eventually(
        async () => (await handle.describe()).info.recentActions[0]?.action.workflow,
      );
      const result = await s.temporal.workflow
        .getHandle(runId.workflowId, runId.firstExecutionRunId)
        .result();
      assert.deepEqual(result, { deleted: 2, batches: 1, complete: true });
      const left = await s.db
        .selectFrom('idempotency_keys')
        .select('key')
        .where('merchant_id', '=', 'mer_sweep')
        .execute();
      assert.deepEqual(
        left.map((r) => r.key),
        ['young'],
      );
    } finally {
      await handle.delete();
    }
  });
});
