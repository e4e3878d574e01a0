import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseStkCallback } from '../../src/daraja/callbacks';
import { DarajaError } from '../../src/daraja/errors';
import { SANDBOX_PASSKEY, SCENARIOS, type SandboxServer } from '../../src/sandbox';
import { clientFor, type Receiver, sleep, startReceiver, startSim, waitUntil } from '../helpers/sandbox';

describe('scenario phones: callback, query and ledger match the table', () => {
  let sim: SandboxServer;
  let rec: Receiver;
  before(async () => {
    sim = await startSim({
      callbackDelayMs: 40,
      lateCallbackDelayMs: 400,
      slowResponseMs: 600,
      duplicateCallbackGapMs: 60,
    });
    rec = await startReceiver();
  });
  after(async () => {
    await sim.close();
    await rec.close();
  });

  for (const sc of SCENARIOS) {
    it(`${sc.phone}: ${sc.label}`, async () => {
      const c = clientFor(sim, { timeoutMs: sc.push === 'slow' ? 200 : 3000 });
      const path = `/cb/${sc.phone}`;
      const input = {
        shortcode: '174379',
        passkey: SANDBOX_PASSKEY,
        type: 'paybill' as const,
        amount: 25,
        phone: sc.phone,
        callbackUrl: `${rec.url}${path}`,
        accountReference: `REF${sc.phone.slice(-4)}`,
        description: 'Scenario',
      };
      let checkoutId: string;
      if (sc.push === 'error500') {
        const e = await c.stkPush(input).then(
          () => assert.fail('expected 500'),
          (err: unknown) => err as DarajaError,
        );
        assert.ok(e instanceof DarajaError);
        assert.equal(e.httpStatus, 500);
        assert.equal(e.errorCode, '500.003.1001');
        assert.equal(e.kind, 'rejected');
        const ledger = sim.sandbox.state.ledger();
        assert.equal(ledger.pushesByPhone[sc.phone], undefined, 'no prompt was created');
        assert.ok(ledger.rejectedPushes.some((r) => r.phone === sc.phone && r.errorCode === '500.003.1001'));
        return;
      }
      if (sc.push === 'slow') {
        const e = await c.stkPush(input).then(
          () => assert.fail('expected a timeout'),
          (err: unknown) => err as DarajaError,
        );
        assert.equal(e.kind, 'ambiguous');
        checkoutId = (
          await waitUntil(() => sim.sandbox.state.ledger().pushes.find((p) => p.phone === sc.phone))
        ).checkoutRequestId;
      } else {
        checkoutId = (await c.stkPush(input)).checkoutRequestId;
      }
      const q = { shortcode: '174379', passkey: SANDBOX_PASSKEY, checkoutRequestId: checkoutId };
      // (the slow push's customer has already acted by the time the client gave up)
      if (sc.push !== 'slow') assert.equal((await c.stkQuery(q)).status, 'pending');

      const expectedCode = String(sc.resultCode);
      const entry = await waitUntil(() => {
        const e = sim.sandbox.state.entry(checkoutId);
        return e?.status === 'completed' ? e : undefined;
      });
      const final = await c.stkQuery(q);
      assert.ok(final.status === 'final');
      assert.equal(final.resultCode, expectedCode);

      if (sc.callback === 'drop') {
        await sleep(200);
        assert.equal(rec.received.filter((r) => r.path === path).length, 0);
      } else {
        const want = sc.callback === 'duplicate' ? 2 : 1;
        const got = await rec.waitFor((r) => r.filter((x) => x.path === path).length >= want, 3000);
        const mine = got.filter((x) => x.path === path);
        if (sc.callback === 'late') {
          const acted = Date.parse(entry.actedAt!);
          assert.ok(mine[0]!.at - acted >= 350, 'late callback arrives well after the customer acted');
        }
        for (const m of mine) {
          const parsed = parseStkCallback(m.body);
          assert.ok(parsed.ok);
          assert.equal(parsed.value.checkoutRequestId, checkoutId);
          assert.equal(parsed.value.resultCode, expectedCode);
          if (expectedCode === '0') {
            assert.equal(parsed.value.amount, 25);
            assert.equal(parsed.value.phone, sc.phone);
            assert.equal(parsed.value.receipt, entry.receipt);
          } else {
            assert.equal(parsed.value.receipt, undefined);
          }
        }
        await sleep(sc.callback === 'duplicate' ? 0 : 100);
        assert.equal(mine.length, want);
      }
      const after = await waitUntil(() => {
        const e = sim.sandbox.state.entry(checkoutId)!;
        return e.callbacks.length === (sc.callback === 'drop' ? 0 : sc.callback === 'duplicate' ? 2 : 1)
          ? e
          : undefined;
      });
      assert.equal(String(after.resultCode), expectedCode);
      assert.equal(after.amount, 25);
      assert.equal(after.callbackMode, sc.callback);
      assert.ok(after.callbacks.every((cb) => cb.ok && cb.httpStatus === 200));
      assert.equal(after.queries, sc.push === 'slow' ? 1 : 2);
      if (expectedCode === '0') assert.match(after.receipt ?? '', /^[A-Z0-9]{10}$/);
      const ledger = sim.sandbox.state.ledger();
      assert.equal(ledger.pushesByPhone[sc.phone], 1);
      assert.equal(ledger.pushesByAccountReference[input.accountReference], 1);
    });
  }
});
