/**
 * The STK push activity's double-push guard against the real simulator and database: a re-run
 * attempt of a push (its workflow task lost after the push returned) answers what the first attempt
 * learned, without sending again; a mark without an answer stays `ambiguous`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { InitiateStkPushInput } from '../../activities/types';
import { createStkActivities } from '../../activities/stk';
import { TokenCache } from '../../src/daraja/client';
import { createLogger } from '../../src/logger';
import { DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { DEFAULT_APP, SANDBOX_PASSKEY, type SandboxServer } from '../../src/sandbox';
import { startTestApp, type TestApp } from '../helpers/http';
import { startSim } from '../helpers/sandbox';

function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

describe('initiateStkPush: a re-run attempt', () => {
  let sim: SandboxServer;
  let t: TestApp;
  let merchantId: string;
  let channelId: string;
  let n = 0;

  before(async () => {
    sim = await startSim();
    t = await startTestApp();
    const m = await t.merchant('Shop');
    merchantId = m.id;
    channelId = (
      await t.channel(m.id, {
        baseUrl: sim.url,
        shortcode: '174379',
        passkey: SANDBOX_PASSKEY,
        consumerKey: DEFAULT_APP.consumerKey,
        consumerSecret: DEFAULT_APP.consumerSecret,
      })
    ).id;
  });
  after(async () => {
    await t?.close();
    await sim?.close();
  });

  const acts = () =>
    createStkActivities({
      db: t.db,
      box: t.secretBox,
      logger: createLogger('silent'),
      publicUrl: 'https://malipo.example.com',
      callbackSecret: 'callback-secret-for-tests-0123456789',
      tokenCache: new TokenCache(),
      darajaTimeoutMs: 3000,
      channelPolicy: DEVELOPMENT_CHANNEL_POLICY,
    });
  const input = (phone: string): InitiateStkPushInput => ({
    paymentId: `pay_rerun${++n}`,
    merchantId,
    channelId,
    environment: 'test',
    amount: 10,
    phone,
    reference: 'INV1',
    description: 'Order',
    pushNumber: 1,
  });
  const pushesTo = (phone: string) =>
    sim.sandbox.state.ledger().pushes.filter((p) => p.phone === phone).length;

  it('after an accepted push: the same CheckoutRequestID, and no second push', async () => {
    const i = input('254700000000');
    const first = await run(acts().initiateStkPush, i);
    assert.equal(first.kind, 'accepted', JSON.stringify(first));
    const sent = pushesTo(i.phone);
    const again = await run(acts().initiateStkPush, i);
    assert.deepEqual(again, first);
    assert.equal(pushesTo(i.phone), sent, 'not sent again');
  });

  it('after a mark without an answer (the first attempt died mid-send): ambiguous, nothing sent', async () => {
    const i = input('254708374149');
    await t.db.insertInto('stk_pushes').values({ payment_id: i.paymentId, push_number: 1 }).execute();
    const sent = pushesTo(i.phone);
    const r = await run(acts().initiateStkPush, i);
    assert.equal(r.kind, 'ambiguous');
    assert.equal(pushesTo(i.phone), sent);
  });

  it('after a rejected push: the same rejection, and no second push', async () => {
    // a push to a bad phone is refused by Daraja's validation
    const i = { ...input('254700000000'), amount: 10, phone: '254799' };
    const first = await run(acts().initiateStkPush, i);
    assert.equal(first.kind, 'rejected', JSON.stringify(first));
    const requests = JSON.stringify(sim.sandbox.state.ledger().requests);
    const again = await run(acts().initiateStkPush, i);
    assert.deepEqual(again, first);
    assert.equal(JSON.stringify(sim.sandbox.state.ledger().requests), requests, 'not sent again');
  });

  it('another push number of the same payment is a push of its own: sent', async () => {
    const i = input('254700000000');
    await run(acts().initiateStkPush, i);
    const sent = () => (sim.sandbox.state.ledger().requests as Record<string, number>).stkpush ?? 0;
    const before = sent();
    const second = await run(acts().initiateStkPush, { ...i, pushNumber: 2 });
    // the simulator may accept it or refuse it (the phone busy with the first prompt): either way it was sent
    assert.notEqual(second.kind, 'ambiguous', JSON.stringify(second));
    assert.equal(sent(), before + 1);
  });
});
