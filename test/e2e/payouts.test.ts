/**
 * B2C payouts end to end: the real Temporal dev server, database, worker and Daraja simulator
 * (test/helpers/stack.ts, payout timings shortened by STACK_PAYOUT). Every final status is checked
 * against the simulator's payout ledger, and every payout is sent to Daraja at most once.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { simulatorChannelInput } from '../../src/admin/dev-bootstrap';
import { payoutCallbackPath } from '../../src/payouts/callback-paths';
import { webhookSecretOf } from '../../src/platform/keys';
import { verifyWebhook } from '../../src/webhooks';
import { expectEnvelope } from '../helpers/http';
import { eventually, type Stack, startStack } from '../helpers/stack';

// biome-ignore lint/suspicious/noExplicitAny: payouts are read as JSON
type Json = any;

let s: Stack;
let receiver: {
  url: string;
  bodies: Array<{ headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
};

before(async () => {
  s = await startStack({ postgresUrl: process.env.MALIPO_TEST_DATABASE_URL });
  const bodies: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const app = express();
  app.use(express.raw({ type: () => true }));
  app.use((req, res) => {
    bodies.push({ headers: req.headers, body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '' });
    res.status(204).end();
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

let seq = 0;
const body = (phone: string, extra: Record<string, unknown> = {}) => ({
  phone,
  amount: 100 + seq,
  remarks: 'Refund for order',
  reference: `PO-${Date.now().toString(36)}-${seq++}`,
  ...extra,
});

/** The simulator's record of every B2C request made for one payout. */
const requestsOf = (payoutId: string) =>
  s.sandbox.state.ledger().payouts.filter((p) => p.originatorConversationId === payoutId);

async function create(phone: string, extra: Record<string, unknown> = {}): Promise<Json> {
  const r = await s.api('POST', '/v1/payouts', body(phone, extra));
  assert.equal(r.status, 202, r.text);
  assert.match(r.body.id, /^po_/);
  assert.equal(r.body.object, 'payout');
  return r.body;
}

async function settled(id: string, timeoutMs = 60_000): Promise<Json> {
  return eventually(
    async () => {
      const r = await s.api('GET', `/v1/payouts/${id}`);
      assert.equal(r.status, 200, r.text);
      return r.body.status === 'pending' ? undefined : r.body;
    },
    timeoutMs,
    `payout ${id} settled`,
  );
}

describe('payouts against the simulator ledger', { concurrency: true }, () => {
  it('pays a registered customer: success with the receipt M-Pesa issued, one request', async () => {
    const p = await create('0708374149', { commandId: 'SalaryPayment', occasion: 'November' });
    const done = await settled(p.id);
    const [req, ...more] = requestsOf(p.id);
    assert.equal(more.length, 0, 'exactly one B2C request');
    assert.ok(req?.paid);
    assert.equal(done.status, 'success');
    assert.equal(done.mpesaReceipt, req.receipt);
    assert.equal(done.amount, req.amount);
    assert.equal(done.commandId, 'SalaryPayment');
    assert.equal(req.commandId, 'SalaryPayment');
    assert.match(done.receiverName, /254708374149/);
    assert.equal(done.originatorConversationId, p.id);
    assert.equal(req.request.SecurityCredential, '[redacted]');
  });

  it('a failure result, confirmed by Transaction Status: recipient not registered (2040), insufficient funds (1)', async () => {
    const [a, b] = await Promise.all([create('254710002040'), create('254710000001')]);
    const [da, db] = await Promise.all([settled(a.id), settled(b.id)]);
    assert.deepEqual([da.status, da.failureReason, da.resultCode], ['failed', 'recipient_invalid', '2040']);
    assert.deepEqual([db.status, db.failureReason, db.resultCode], ['failed', 'insufficient_funds', '1']);
    for (const id of [a.id, b.id]) {
      assert.equal(requestsOf(id).length, 1);
      assert.equal(requestsOf(id)[0]?.paid, false);
      // the simulator's Result named the request; the failure became final only after a lookup
      assert.equal(requestsOf(id)[0]?.statusQueries, 1, 'confirmed by one Transaction Status request');
    }
  });

  it('Results through the real hook that do not name the request are suspicious: recorded, never settling', async () => {
    const p = await create('254710009001'); // paid; its own Result is never sent
    const accepted = await eventually(
      async () => {
        const r = await s.api('GET', `/v1/payouts/${p.id}`);
        return r.body.conversationId ? r.body : undefined;
      },
      10_000,
      'the acceptance is recorded',
    );
    const path = payoutCallbackPath(s.callbackSecret, p.id, 'result');
    const forged = [
      // another request's ConversationID, claiming a failure
      {
        ResultType: 0,
        ResultCode: 2040,
        ResultDesc: 'forged failure',
        OriginatorConversationID: p.id,
        ConversationID: 'AG_20240101_forged',
        TransactionID: 'FORGED0001',
      },
      // no ids at all, claiming a failure
      { ResultType: 0, ResultCode: 1, ResultDesc: 'forged, no ids', TransactionID: 'FORGED0002' },
    ];
    for (const Result of forged) {
      const r = await s.request('POST', path, { key: null, body: { Result } });
      assert.equal(r.status, 200, r.text);
    }
    const done = await settled(p.id);
    assert.equal(done.status, 'success', 'neither forged failure settled it; Transaction Status did');
    assert.equal(done.conversationId, accepted.conversationId);
    assert.equal(done.mpesaReceipt, requestsOf(p.id)[0]?.receipt);

    const events = await s.api('GET', '/v1/events?type=payout.suspicious_result&limit=100');
    assert.equal(events.status, 200, events.text);
    const mine = events.body.data.filter((e: Json) => e.data.id === p.id);
    assert.deepEqual(
      mine.map((e: Json) => [e.data.suspiciousResult.reason, e.data.suspiciousResult.resultCode]).sort(),
      [
        ['foreign_ids', '2040'],
        ['missing_ids', '1'],
      ],
    );
    assert.ok(mine.every((e: Json) => e.data.status === 'pending'));
    const audit = await s.db
      .selectFrom('audit_log')
      .selectAll()
      .where('target_id', '=', p.id)
      .where('action', '=', 'payout.suspicious_result')
      .execute();
    assert.equal(audit.length, 2);
    assert.ok(audit.every((a) => a.merchant_id === s.merchantId && a.actor === 'daraja'));
  });

  it('the result is never sent: Transaction Status finds the payment and settles it success', async () => {
    const p = await create('254710009001');
    const done = await settled(p.id);
    const [req] = requestsOf(p.id);
    assert.equal(requestsOf(p.id).length, 1);
    assert.ok(req?.paid);
    assert.equal(done.status, 'success');
    assert.equal(done.mpesaReceipt, req.receipt);
    assert.ok(req.statusQueries >= 1, 'reconciled by Transaction Status');
  });

  it('a queue timeout that Transaction Status cannot find: failed/queue_timeout, nothing paid', async () => {
    const p = await create('254710009408');
    const done = await settled(p.id);
    assert.deepEqual([done.status, done.failureReason], ['failed', 'queue_timeout']);
    const [req] = requestsOf(p.id);
    assert.equal(requestsOf(p.id).length, 1);
    assert.equal(req?.paid, false);
    assert.equal(req?.delivery, 'queue_timeout_url');
  });

  it('a request answered 500 is never sent again; unconfirmed, it needs review', async () => {
    const p = await create('254710009500');
    const done = await settled(p.id);
    assert.deepEqual([done.status, done.reviewReason], ['needs_review', 'ambiguous_initiation']);
    assert.equal(requestsOf(p.id).length, 1, 'one request, never a second');
    assert.equal(requestsOf(p.id)[0]?.paid, false);
  });

  it('a request whose response is lost but which M-Pesa processed: the result settles it, one request', async () => {
    const p = await create('254710009504');
    const done = await settled(p.id);
    const [req] = requestsOf(p.id);
    assert.equal(requestsOf(p.id).length, 1);
    assert.ok(req?.paid && req.responseDelayed);
    assert.equal(done.status, 'success');
    assert.equal(done.mpesaReceipt, req.receipt);
  });

  it('idempotent: the same key and body replay the payout; another body is refused; one request', async () => {
    const b = body('0708374149');
    const headers = { 'Idempotency-Key': `po-key-${Date.now()}` };
    const [r1, r2] = await Promise.all([
      s.api('POST', '/v1/payouts', b, headers),
      s.api('POST', '/v1/payouts', b, headers),
    ]);
    const ok = [r1, r2].filter((r) => r.status === 202);
    assert.ok(ok.length >= 1, `${r1.status} ${r2.status}`);
    const id = ok[0]!.body.id;
    await settled(id);
    const r3 = await s.api('POST', '/v1/payouts', b, headers);
    assert.equal(r3.status, 202);
    assert.equal(r3.body.id, id);
    assert.equal(r3.headers.get('idempotent-replayed'), 'true');
    const r4 = await s.api('POST', '/v1/payouts', { ...b, amount: b.amount + 1 }, headers);
    expectEnvelope(r4, 422, 'IDEMPOTENCY_KEY_MISMATCH');
    const mine = s.sandbox.state
      .ledger()
      .payouts.filter((p) => p.request.Remarks === b.remarks && p.amount === b.amount);
    assert.equal(mine.filter((p) => p.originatorConversationId === id).length, 1);
    const rows = await s.db.selectFrom('payouts').select('id').where('reference', '=', b.reference).execute();
    assert.equal(rows.length, 1);
  });

  it('sends payout.success to the payout’s callbackUrl, signed', async () => {
    const p = await create('0708374149', { callbackUrl: `${receiver.url}/payouts` });
    const done = await settled(p.id);
    assert.equal(done.status, 'success');
    const got = await eventually(
      () => receiver.bodies.find((b) => JSON.parse(b.body).data?.id === p.id),
      20_000,
      'the payout webhook',
    );
    const event = JSON.parse(got.body);
    assert.equal(event.type, 'payout.success');
    assert.equal(event.data.mpesaReceipt, done.mpesaReceipt);
    const secret = await webhookSecretOf(s.db, s.secretBox, s.keyId);
    const headers = Object.fromEntries(Object.entries(got.headers).map(([k, v]) => [k, String(v)]));
    assert.doesNotThrow(() => verifyWebhook(got.body, headers, secret));
  });

  it('lists payouts and reads one; another merchant sees none of them', async () => {
    const p = await create('0708374149');
    const list = await s.api('GET', '/v1/payouts?limit=100');
    assert.equal(list.status, 200);
    assert.ok(list.body.data.some((x: Json) => x.id === p.id));
    const other = await s.newMerchant('Other');
    const r = await s.request('GET', `/v1/payouts/${p.id}`, { key: other.key });
    expectEnvelope(r, 404, 'RESOURCE_NOT_FOUND');
    const theirs = await s.request('GET', '/v1/payouts', { key: other.key });
    assert.equal(theirs.body.data.length, 0);
  });

  it('refuses bad input with a 4xx envelope and records nothing', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [body('0708374149', { amount: 5 }), 400, 'INVALID_AMOUNT'],
      [body('0708374149', { amount: 10.5 }), 400, 'INVALID_AMOUNT'],
      [body('0708374149', { amount: -100 }), 400, 'INVALID_AMOUNT'],
      [body('12345'), 400, 'INVALID_PHONE_NUMBER'],
      [body('0708374149', { commandId: 'SendMoney' }), 400, 'VALIDATION_ERROR'],
      [body('0708374149', { remarks: 'x' }), 400, 'VALIDATION_ERROR'],
      [body('0708374149', { channelId: 'ch_doesnotexist' }), 404, 'RESOURCE_NOT_FOUND'],
      [{ phone: '0708374149', amount: 100 }, 400, 'VALIDATION_ERROR'],
    ];
    for (const [b, status, code] of cases) {
      const r = await s.api('POST', '/v1/payouts', b);
      assert.equal(r.status, status, `${JSON.stringify(b)} → ${r.text}`);
      assert.equal(r.body.error.code, code, r.text);
    }
    const reader = await s.newKey(['payments:create', 'payouts:read']);
    expectEnvelope(
      await s.request('POST', '/v1/payouts', { key: reader.key, body: body('0708374149') }),
      403,
      'MISSING_SCOPE',
    );
    // nothing was written for any refused request (other tests of this file create payouts meanwhile)
    const refs = cases.map(([b]) => b.reference).filter((r): r is string => typeof r === 'string');
    const written = await s.db.selectFrom('payouts').select('id').where('reference', 'in', refs).execute();
    assert.deepEqual(written, []);
  });

  it('a channel without an initiator cannot pay out: 422, nothing sent', async () => {
    const {
      initiatorName: _n,
      initiatorPassword: _p,
      ...input
    } = simulatorChannelInput(`${s.url}/sandbox/daraja`);
    const ch = await s.api('POST', '/v1/channels', { ...input, name: 'No initiator', isDefault: false });
    assert.equal(ch.status, 201, ch.text);
    const b = body('0708374149', { channelId: ch.body.id });
    expectEnvelope(await s.api('POST', '/v1/payouts', b), 422, 'CHANNEL_MISCONFIGURED');
    const rows = await s.db.selectFrom('payouts').select('id').where('reference', '=', b.reference).execute();
    assert.deepEqual(rows, []);
  });

  it('a forged result with a wrong token is a 404 and changes nothing', async () => {
    const p = await create('254710009001');
    const forged = {
      Result: { ResultType: 0, ResultCode: 0, ResultDesc: 'ok', TransactionID: 'FAKE000001' },
    };
    const wrong = payoutCallbackPath('not-the-secret', p.id, 'result');
    const r = await s.request('POST', wrong, { key: null, body: forged });
    expectEnvelope(r, 404, 'RESOURCE_NOT_FOUND');
    const done = await settled(p.id);
    assert.notEqual(done.mpesaReceipt, 'FAKE000001');
  });
});
