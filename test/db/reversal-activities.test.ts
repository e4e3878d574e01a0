/**
 * The reversal activities against the real simulator and database: the "sent" mark keeps a retried
 * attempt from sending again (ambiguous, nothing sent), a 500 or a lost response is ambiguous, a
 * request that provably never left throws the retryable "not sent" error and removes the mark, and
 * a Result comes back to the reversal's tokenised hook.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import express from 'express';
import { REVERSAL_INITIATION_ERRORS } from '../../activities/reversal-types';
import { createReversalActivities } from '../../activities/reversals';
import { TokenCache } from '../../src/daraja/client';
import { createLogger } from '../../src/logger';
import { DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { reversalCallbackPath } from '../../src/reversals/callback-paths';
import { DEFAULT_APP, NO_FAULTS, SANDBOX_PASSKEY, type SandboxServer } from '../../src/sandbox';
import { startTestApp, type TestApp } from '../helpers/http';
import { clientFor, type Receiver, startReceiver, startSim, waitUntil } from '../helpers/sandbox';

const SECRET = 'callback-secret-for-tests-0123456789';

function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

describe('reversal activities', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  let t: TestApp;
  let channelId: string;
  let refusedChannelId: string;
  let receipt: string;
  let n = 0;

  before(async () => {
    [sim, rec] = await Promise.all([startSim({ slowResponseMs: 4000 }), startReceiver()]);
    t = await startTestApp();
    const m = await t.merchant('Shop');
    const channel = (baseUrl: string) =>
      t.channel(m.id, {
        baseUrl,
        shortcode: DEFAULT_APP.shortcode,
        isDefault: false,
        consumerKey: DEFAULT_APP.consumerKey,
        consumerSecret: DEFAULT_APP.consumerSecret,
        initiatorName: DEFAULT_APP.initiatorName!,
        initiatorPassword: DEFAULT_APP.initiatorPassword!,
      });
    channelId = (await channel(sim.url)).id;
    const closed = await new Promise<Server>((resolve) => {
      const s = express().listen(0, '127.0.0.1', () => resolve(s));
    });
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    refusedChannelId = (await channel(`http://127.0.0.1:${port}`)).id;
    const stk = await clientFor(sim).stkPush({
      shortcode: '174379',
      passkey: SANDBOX_PASSKEY,
      type: 'paybill',
      amount: 500,
      phone: '254708374149',
      callbackUrl: `${rec.url}/stk`,
      accountReference: 'A1',
      description: 'Pay',
    });
    receipt = (await waitUntil(() => sim.sandbox.state.entry(stk.checkoutRequestId)?.receipt ?? undefined))!;
  });
  after(async () => {
    await t?.close();
    await sim?.close();
    await rec?.close();
  });

  const acts = () =>
    createReversalActivities({
      db: t.db,
      box: t.secretBox,
      logger: createLogger('silent'),
      publicUrl: rec.url,
      callbackSecret: SECRET,
      tokenCache: new TokenCache(),
      darajaTimeoutMs: 1500,
      channelPolicy: DEVELOPMENT_CHANNEL_POLICY,
    });
  const input = (channel = channelId) => ({
    reversalId: `rev_acttest${++n}`,
    channelId: channel,
    environment: 'test' as const,
    amount: 10,
    receipt,
    remarks: 'Refund',
  });
  const sent = () => sim.sandbox.state.reversalsOf(receipt).length;

  it('accepted once; a retried attempt finds the mark and answers ambiguous without sending', async () => {
    const a = acts();
    const i = input();
    const before = sent();
    const first = await run(a.initiateReversal, i);
    assert.equal(first.kind, 'accepted');
    const again = await run(a.initiateReversal, i);
    assert.equal(again.kind, 'ambiguous');
    assert.equal(sent(), before + 1, 'one Reversal request reached the simulator');
    // the Result comes to the reversal's own tokenised hook
    const path = reversalCallbackPath(SECRET, i.reversalId, 'result');
    const hit = await waitUntil(() => rec.received.find((r) => r.path === path));
    assert.equal((hit.body as { Result: { ResultCode: number } }).Result.ResultCode, 0);
    assert.ok(
      !JSON.stringify(sim.sandbox.state.reversalsOf(receipt)).includes(DEFAULT_APP.initiatorPassword!),
    );
  });

  it('a 500 and a lost response are ambiguous; nothing is sent twice', async () => {
    const a = acts();
    for (const fault of ['reversalRequestError500', 'reversalLostResponse'] as const) {
      sim.sandbox.state.setFaults({ ...NO_FAULTS, [fault]: 1 });
      const before = sent();
      const r = await run(a.initiateReversal, input());
      assert.equal(r.kind, 'ambiguous', fault);
      assert.equal(sent(), before + 1, fault);
    }
    sim.sandbox.state.setFaults(NO_FAULTS);
  });

  it('provably not sent: the retryable "not sent" error, and the mark is removed so a retry may send', async () => {
    const a = acts();
    const i = input(refusedChannelId);
    await assert.rejects(
      run(a.initiateReversal, i),
      (e: unknown) => e instanceof ApplicationFailure && e.type === REVERSAL_INITIATION_ERRORS.notSent,
    );
    const mark = await t.db
      .selectFrom('reversal_requests')
      .selectAll()
      .where('reversal_id', '=', i.reversalId)
      .executeTakeFirst();
    assert.equal(mark, undefined);
  });

  it('Transaction Status for a reversal starts a lookup by its OriginatorConversationID', async () => {
    const a = acts();
    const i = input();
    const accepted = await run(a.initiateReversal, i);
    assert.equal(accepted.kind, 'accepted');
    if (accepted.kind !== 'accepted') return;
    const q = await run(a.queryReversalStatus, {
      reversalId: i.reversalId,
      channelId,
      environment: 'test',
      originatorConversationId: accepted.originatorConversationId,
      queryNumber: 1,
    });
    assert.equal(q.kind, 'started');
    const path = reversalCallbackPath(SECRET, i.reversalId, 'status');
    const hit = await waitUntil(() => rec.received.find((r) => r.path === path));
    assert.equal((hit.body as { Result: { ResultCode: number } }).Result.ResultCode, 0);
  });
});
