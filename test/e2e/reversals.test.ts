/**
 * Reversals end to end: the real Temporal dev server, database, worker and Daraja simulator. A paid
 * payment is reversed in two parts; the simulator's ground-truth ledger records both against the
 * original receipt, a third reversal beyond the amount is refused (by Malipo, and by the simulator if
 * sent anyway), and `payment.reversed` reaches the payment's callback URL, signed. A lost response is
 * never followed by a second Reversal request.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { parseAsyncResult } from '../../src/daraja/callbacks';
import { DarajaClient } from '../../src/daraja/client';
import { SIMULATOR_CERT_PATH, securityCredential } from '../../src/daraja/security-credential';
import { webhookSecretOf } from '../../src/platform/keys';
import { DEFAULT_APP, NO_FAULTS } from '../../src/sandbox';
import { verifyWebhook } from '../../src/webhooks';
import { expectEnvelope } from '../helpers/http';
import { eventually, type Stack, startStack } from '../helpers/stack';

// biome-ignore lint/suspicious/noExplicitAny: resources are read as JSON
type Json = any;

let s: Stack;
let receiver: {
  url: string;
  bodies: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
};

before(async () => {
  s = await startStack({ postgresUrl: process.env.MALIPO_TEST_DATABASE_URL });
  const bodies: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  const app = express();
  app.use(express.raw({ type: () => true }));
  app.use((req, res) => {
    bodies.push({
      path: req.path,
      headers: req.headers,
      body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '',
    });
    res.status(200).json({ ResultCode: 0, ResultDesc: 'Accepted' });
  });
  const server = await new Promise<http.Server>((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
});
after(async () => {
  await receiver?.close();
  await s?.stop();
});

/** Every byte payload of a history (inputs, results, local activity markers), decoded as text. */
function payloadText(value: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return out.join('\n');
}

let seq = 0;
async function paidPayment(amount: number): Promise<Json> {
  const r = await s.api('POST', '/v1/payments/stk-push', {
    phone: '0708374149',
    amount,
    reference: `REV${Date.now().toString(36)}${seq++}`,
    callbackUrl: `${receiver.url}/payments`,
  });
  assert.equal(r.status, 202, r.text);
  const done = await s.waitForStatus(r.body.id);
  assert.equal(done.status, 'success');
  assert.match(done.mpesaReceipt, /^[A-Z0-9]{10}$/);
  return done;
}

async function reversed(id: string): Promise<Json> {
  return eventually(
    async () => {
      const r = await s.api('GET', `/v1/reversals/${id}`);
      assert.equal(r.status, 200, r.text);
      return r.body.status === 'pending' ? undefined : r.body;
    },
    60_000,
    `reversal ${id} settled`,
  );
}

describe('reversals against the simulator ledger', () => {
  it('two partial reversals: the ledger matches, a third is refused, payment.reversed is delivered', async () => {
    const pay = await paidPayment(500);
    const first = await s.api('POST', `/v1/payments/${pay.id}/reversals`, {
      amount: 200,
      reason: 'Damaged item',
    });
    assert.equal(first.status, 202, first.text);
    const a = await reversed(first.body.id);
    assert.equal(a.status, 'success');
    // the rest, by default
    const second = await s.api('POST', `/v1/payments/${pay.id}/reversals`, { reason: 'Order cancelled' });
    assert.equal(second.status, 202, second.text);
    assert.equal(second.body.amount, 300);
    const b = await reversed(second.body.id);
    assert.equal(b.status, 'success');

    // ground truth: both reversed against the original receipt, one request each
    const ledger = s.sandbox.state.reversalsOf(pay.mpesaReceipt);
    assert.deepEqual(
      ledger.map((r) => [r.amount, r.reversed, r.request.SecurityCredential]),
      [
        [200, true, '[redacted]'],
        [300, true, '[redacted]'],
      ],
    );
    assert.equal(s.sandbox.state.reversedAmount(pay.mpesaReceipt), pay.amount);
    assert.deepEqual(
      [a.mpesaReceipt, b.mpesaReceipt],
      ledger.map((r) => r.transactionId),
    );
    assert.deepEqual(
      [a.conversationId, b.conversationId],
      ledger.map((r) => r.conversationId),
    );

    // the initiator password and the SecurityCredential never entered workflow history
    for (const r of [a, b]) {
      const history = payloadText(await s.temporal.workflow.getHandle(r.id).fetchHistory());
      assert.ok(history.includes(pay.mpesaReceipt), 'the payloads were read');
      assert.ok(!history.includes(DEFAULT_APP.initiatorPassword!), 'no initiator password in history');
      assert.ok(!/SecurityCredential|securityCredential/.test(history), 'no SecurityCredential in history');
    }

    // a third one is refused by Malipo before anything is sent
    const third = await s.api('POST', `/v1/payments/${pay.id}/reversals`, { amount: 1, reason: 'One more' });
    expectEnvelope(third, 422, 'REVERSAL_EXCEEDS_PAYMENT');
    assert.equal(s.sandbox.state.reversalsOf(pay.mpesaReceipt).length, 2);
    // and the simulator would refuse it too (R000003), had it been sent
    const client = new DarajaClient({
      baseUrl: `${s.url}/sandbox/daraja`,
      consumerKey: DEFAULT_APP.consumerKey,
      consumerSecret: DEFAULT_APP.consumerSecret,
    });
    await client.reversal({
      initiatorName: DEFAULT_APP.initiatorName!,
      securityCredential: securityCredential(DEFAULT_APP.initiatorPassword!, { path: SIMULATOR_CERT_PATH }),
      transactionId: pay.mpesaReceipt,
      amount: 1,
      receiverParty: DEFAULT_APP.shortcode,
      resultUrl: `${receiver.url}/direct/result`,
      queueTimeoutUrl: `${receiver.url}/direct/timeout`,
      remarks: 'One more',
    });
    const direct = await eventually(
      () => receiver.bodies.find((x) => x.path === '/direct/result'),
      10_000,
      'the Result',
    );
    const parsed = parseAsyncResult(JSON.parse(direct.body));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.resultCode, 'R000003');
    assert.equal(s.sandbox.state.reversedAmount(pay.mpesaReceipt), pay.amount, 'nothing more went back');

    const list = await s.api('GET', `/v1/payments/${pay.id}/reversals`);
    assert.deepEqual(
      list.body.data.map((x: Json) => [x.id, x.status]),
      [
        [b.id, 'success'],
        [a.id, 'success'],
      ],
    );

    // payment.reversed for each, at the payment's callback URL, signed with the key's secret
    const secret = await webhookSecretOf(s.db, s.secretBox, s.keyId);
    for (const r of [a, b]) {
      const got = await eventually(
        () =>
          receiver.bodies.find((x) => {
            if (x.path !== '/payments') return false;
            const e = JSON.parse(x.body);
            return e.type === 'payment.reversed' && e.data?.id === r.id;
          }),
        20_000,
        `payment.reversed for ${r.id}`,
      );
      const event = JSON.parse(got.body);
      assert.equal(event.data.paymentId, pay.id);
      assert.equal(event.data.amount, r.amount);
      const headers = Object.fromEntries(Object.entries(got.headers).map(([k, v]) => [k, String(v)]));
      assert.doesNotThrow(() => verifyWebhook(got.body, headers, secret));
    }
  });

  it('a lost response is ambiguous, never resent: the Result still settles the reversal', async () => {
    const pay = await paidPayment(120);
    s.sandbox.state.setFaults({ ...NO_FAULTS, reversalLostResponse: 1 });
    try {
      const r = await s.api('POST', `/v1/payments/${pay.id}/reversals`, { amount: 20, reason: 'Refund' });
      assert.equal(r.status, 202, r.text);
      const done = await reversed(r.body.id);
      assert.equal(done.status, 'success');
      const ledger = s.sandbox.state.reversalsOf(pay.mpesaReceipt);
      assert.equal(ledger.length, 1, 'one Reversal request');
      assert.equal(ledger[0]!.responseDelayed, true);
      assert.equal(done.mpesaReceipt, ledger[0]!.transactionId);
      const row = await s.db
        .selectFrom('reversal_requests')
        .select('outcome')
        .where('reversal_id', '=', r.body.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.outcome, 'ambiguous');
    } finally {
      s.sandbox.state.setFaults(NO_FAULTS);
    }
  });
});
