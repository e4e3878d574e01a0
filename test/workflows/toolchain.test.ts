/** Proves the Temporal toolchain: time skipping, a real dev server with search attributes, and replay. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { MalipoMerchantId } from '../../src/domain/search-attributes';
import { bundleWorkflows } from '../../src/temporal/worker';
import { finish, sleepOneDay, tagged } from '../fixtures/smoke-workflows';
import { devServer, timeSkipping } from '../helpers/temporal';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'smoke-workflows.ts');
let bundle: { code: string };

before(async () => {
  bundle = await bundleWorkflows(FIXTURES);
});

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkipping();
  });
  after(async () => {
    await env?.teardown();
  });

  it('completes a workflow that sleeps one day in seconds of wall time', async () => {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'toolchain-ts',
      workflowBundle: bundle,
    });
    const started = Date.now();
    const result = await worker.runUntil(
      env.client.workflow.execute(sleepOneDay, { taskQueue: 'toolchain-ts', workflowId: 'sleep-one-day' }),
    );
    const wallMs = Date.now() - started;
    assert.equal(result, 'woke');
    assert.ok(wallMs < 10_000, `took ${wallMs} ms of wall time`);
    const history = await env.client.workflow.getHandle('sleep-one-day').fetchHistory();
    const timer = history.events?.find((e) => e.timerStartedEventAttributes);
    assert.equal(Number(timer?.timerStartedEventAttributes?.startToFireTimeout?.seconds), 86_400);
  });
});

describe('dev server', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await devServer();
  });
  after(async () => {
    await env?.teardown();
  });

  it('finds a workflow by a custom search attribute, and its history replays', async () => {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'toolchain-dev',
      workflowBundle: bundle,
    });
    const merchant = `mer_${Date.now()}`;
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(tagged, {
        taskQueue: 'toolchain-dev',
        workflowId: `tagged-${merchant}`,
        args: [merchant],
        typedSearchAttributes: [{ key: MalipoMerchantId, value: merchant }],
      });
      // visibility is eventually consistent: poll briefly
      let found: string[] = [];
      for (let i = 0; i < 50 && found.length === 0; i++) {
        found = [];
        for await (const wf of env.client.workflow.list({
          query: `MalipoMerchantId = '${merchant}' AND MalipoStatus = 'pending'`,
        })) {
          found.push(wf.workflowId);
        }
        if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(found, [`tagged-${merchant}`]);
      await handle.signal(finish, 'paid');
      assert.equal(await handle.result(), 'paid');

      const history = await handle.fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, handle.workflowId);
    });
  });

  it('replay detects a change that breaks determinism', async () => {
    const handle = env.client.workflow.getHandle(
      (await firstWorkflowId(env, 'tagged')) ?? assert.fail('no tagged workflow recorded'),
    );
    const history = await handle.fetchHistory();
    const broken = await bundleWorkflows(
      path.join(__dirname, '..', 'fixtures', 'smoke-workflows-changed.ts'),
    );
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: broken }, history, handle.workflowId),
      /Nondeterminism|DeterminismViolation/i,
    );
  });
});

async function firstWorkflowId(env: TestWorkflowEnvironment, type: string): Promise<string | undefined> {
  for await (const wf of env.client.workflow.list({ query: `WorkflowType = '${type}'` }))
    return wf.workflowId;
  return undefined;
}
