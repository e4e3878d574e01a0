/**
 * C2B end to end on the in-process stack (test/helpers/stack.ts: Temporal dev server, database, real
 * worker, Daraja simulator, app): a merchant registers a paybill channel's C2B URLs through the API; a
 * customer pays the paybill unprompted through the simulator (its control API and Daraja's simulate
 * endpoint), the simulator calls the ValidationURL then the ConfirmationURL; the payment appears with
 * kind `c2b`, the right amount and receipt, and a registered endpoint receives `payment.c2b`, signed.
 * The simulator's ledger is the ground truth: rejected payments never reach the confirmation.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { Webhook } from 'standardwebhooks';
import { DEFAULT_APP } from '../../src/sandbox';
import { verifyWebhook } from '../../src/webhooks';
import { eventually, type Stack, startStack } from '../helpers/stack';

// biome-ignore lint/suspicious/noExplicitAny: JSON read from the API
type Json = any;

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback that answers 204 and keeps the raw bodies. */
async function startReceiver() {
  const received: Received[] = [];
  const app = express();
  app.use(express.raw({ type: () => true, limit: '1mb' }));
  app.use((req, res) => {
    received.push({
      path: req.path,
      headers: req.headers,
      body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '',
    });
    res.status(204).end();
  });
  const server = await new Promise<http.Server>((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
}

let s: Stack;
let recv: Awaited<ReturnType<typeof startReceiver>>;

before(async () => {
  [s, recv] = await Promise.all([
    startStack({
      postgresUrl: process.env.MALIPO_TEST_DATABASE_URL,
      env: { MALIPO_WEBHOOK_SCHEDULE_SCALE: '0.001' },
    }),
    startReceiver(),
  ]);
});
after(async () => {
  await recv?.close();
  await s?.stop();
});

const SHORTCODE = '600984';
const PHONE = '254708374149';

/** The simulator's control API: a customer pays the paybill unprompted. */
async function customerPays(body: Record<string, unknown>): Promise<Json> {
  const r = await s.request('POST', '/sandbox/__sandbox/c2b/payments', {
    key: null,
    body: { shortcode: SHORTCODE, phone: PHONE, ...body },
  });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function c2bPayments(): Promise<Json[]> {
  const r = await s.api('GET', '/v1/payments?kind=c2b&limit=100');
  assert.equal(r.status, 200, r.text);
  return r.body.data;
}

/** The c2b payment with this receipt, once the confirmation has been recorded. */
function paymentWithReceipt(receipt: string): Promise<Json> {
  return eventually(
    async () => (await c2bPayments()).find((p) => p.mpesaReceipt === receipt),
    20_000,
    `the c2b payment ${receipt}`,
  );
}

describe('C2B end to end', () => {
  let channelId: string;
  let endpointSecret: string;
  let linkId: string;

  before(async () => {
    const ch = await s.api('POST', '/v1/channels', {
      name: 'Paybill 600984',
      type: 'paybill',
      shortcode: SHORTCODE,
      environment: 'simulator',
      baseUrl: `${s.url}/sandbox/daraja`,
      isDefault: false,
      passkey: DEFAULT_APP.passkey,
      consumerKey: DEFAULT_APP.consumerKey,
      consumerSecret: DEFAULT_APP.consumerSecret,
    });
    assert.equal(ch.status, 201, ch.text);
    channelId = ch.body.id;
    const ep = await s.api('POST', '/v1/webhook-endpoints', {
      url: `${recv.url}/c2b`,
      events: ['payment.c2b'],
    });
    assert.equal(ep.status, 201, ep.text);
    endpointSecret = ep.body.secret;
    const link = await s.api('POST', '/v1/payment-links', {
      title: 'Invoice 77',
      reference: 'INV-77',
      amount: 150,
    });
    assert.equal(link.status, 201, link.text);
    linkId = link.body.id;
  });

  it('registers the channel’s URLs with the simulator through the API', async () => {
    const r = await s.api('POST', `/v1/channels/${channelId}/c2b/register`, { validation: 'open_links' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.registered, true);
    assert.equal(r.body.validation, 'open_links');
    assert.equal(r.body.responseType, 'Completed');
    const reg = s.sandbox.state.c2bRegistrationFor(SHORTCODE);
    assert.ok(reg, 'the simulator holds the registration');
    assert.match(
      reg.confirmationUrl,
      new RegExp(`^${s.url}/hooks/daraja/c2b/${channelId}/[0-9a-f]{48}/confirmation$`),
    );
    assert.equal(reg.validationUrl, reg.confirmationUrl.replace(/confirmation$/, 'validation'));
    // the default 174379 channel cannot: Daraja's STK-only shortcode
    const no = await s.api('POST', `/v1/channels/${s.channelId}/c2b/register`, {});
    assert.equal(no.status, 409, no.text);
  });

  it('a customer pays the paybill unprompted: recorded as a c2b payment and sent as a signed payment.c2b', async () => {
    const paid = await customerPays({ amount: 150, billRefNumber: 'inv-77' });
    assert.equal(paid.accepted, true, JSON.stringify(paid));
    assert.equal(paid.validationOutcome, 'accepted');
    assert.deepEqual(paid.validationReply, { ResultCode: '0', ResultDesc: 'Accepted' });

    const p = await paymentWithReceipt(paid.transId);
    assert.equal(p.kind, 'c2b');
    assert.equal(p.status, 'success');
    assert.equal(p.amount, 150);
    assert.equal(p.reference, 'inv-77');
    assert.equal(p.description, 'Pay Bill');
    assert.equal(p.phone, '2547 ***** 149');
    assert.equal(p.channelId, channelId);
    assert.equal(p.linkId, linkId);
    assert.equal(p.transactionDate, paid.transTime);
    assert.equal(p.metadata.businessShortCode, SHORTCODE);
    assert.equal(p.metadata.firstName, 'SANDBOX');
    const one = await s.api('GET', `/v1/payments/${p.id}`);
    assert.deepEqual(one.body, p);

    const entry = s.sandbox.state.c2bPaymentByTransId(paid.transId);
    assert.ok(entry);
    await eventually(
      () => (entry.confirmation.delivered ? true : undefined),
      10_000,
      'confirmation delivered',
    );
    assert.equal(entry.confirmation.attempts.length, 1, 'acknowledged at the first attempt');
    assert.equal(p.metadata.orgAccountBalance, entry.orgAccountBalance);

    const events = await s.api('GET', `/v1/events?type=payment.c2b&paymentId=${p.id}`);
    assert.equal(events.body.data.length, 1, events.text);
    const event = events.body.data[0];
    const got = await eventually(
      () => recv.received.find((r) => r.headers['webhook-id'] === event.id),
      30_000,
      'the payment.c2b webhook',
    );
    const shown = await s.api('GET', `/v1/events/${event.id}`);
    assert.equal(got.body, shown.text, 'the event exactly as the API shows it');
    const body = JSON.parse(got.body);
    assert.equal(body.type, 'payment.c2b');
    assert.deepEqual(body.data, p);
    assert.equal(got.headers['x-webhook-event'], 'payment.c2b');
    const std = {
      'webhook-id': String(got.headers['webhook-id']),
      'webhook-timestamp': String(got.headers['webhook-timestamp']),
      'webhook-signature': String(got.headers['webhook-signature']),
    };
    assert.equal((new Webhook(endpointSecret).verify(got.body, std) as Json).id, event.id);
    assert.equal(verifyWebhook(got.body, got.headers, endpointSecret).id, event.id);
    assert.throws(() => verifyWebhook(got.body, got.headers, `whsec_${Buffer.alloc(32).toString('base64')}`));

    // Daraja repeats the confirmation: nothing new
    const again = await fetch(entry.registration.confirmationUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(entry.confirmation.request),
    });
    assert.deepEqual(await again.json(), { ResultCode: 0, ResultDesc: 'Success' });
    assert.equal((await c2bPayments()).filter((x) => x.mpesaReceipt === paid.transId).length, 1);
    const eventsAfter = await s.api('GET', `/v1/events?type=payment.c2b&paymentId=${p.id}`);
    assert.equal(eventsAfter.body.data.length, 1);
  });

  it('open_links rejects an unknown account or a wrong amount: no confirmation, no payment', async () => {
    const before = (await c2bPayments()).length;
    const unknown = await customerPays({ amount: 150, billRefNumber: 'NOPE-1' });
    assert.equal(unknown.accepted, false);
    assert.deepEqual(unknown.validationReply, { ResultCode: 'C2B00012', ResultDesc: 'Rejected' });
    const wrongAmount = await customerPays({ amount: 149, billRefNumber: 'INV-77' });
    assert.equal(wrongAmount.accepted, false);
    assert.deepEqual(wrongAmount.validationReply, { ResultCode: 'C2B00013', ResultDesc: 'Rejected' });
    for (const t of [unknown.transId, wrongAmount.transId]) {
      const entry = s.sandbox.state.c2bPaymentByTransId(t);
      assert.equal(entry?.confirmation.request, null, 'a rejected payment is never confirmed');
    }
    // accept_all from now on: the same unknown account goes through
    const patched = await s.api('PATCH', `/v1/channels/${channelId}/c2b`, { validation: 'accept_all' });
    assert.equal(patched.status, 200, patched.text);
    const ok = await customerPays({ amount: 99, billRefNumber: 'NOPE-1' });
    assert.equal(ok.accepted, true);
    const p = await paymentWithReceipt(ok.transId);
    assert.equal(p.amount, 99);
    assert.equal(p.linkId, null);
    assert.equal((await c2bPayments()).length, before + 1);
  });

  it('Daraja’s simulate endpoint reaches the same hooks', async () => {
    const token = await fetch(`${s.url}/sandbox/daraja/oauth/v1/generate?grant_type=client_credentials`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${DEFAULT_APP.consumerKey}:${DEFAULT_APP.consumerSecret}`).toString('base64')}`,
      },
    }).then((r) => r.json() as Promise<Json>);
    const sim = await fetch(`${s.url}/sandbox/daraja/mpesa/c2b/v1/simulate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        ShortCode: SHORTCODE,
        CommandID: 'CustomerPayBillOnline',
        Amount: 420,
        Msisdn: PHONE,
        BillRefNumber: 'SIM-1',
      }),
    });
    const ack = (await sim.json()) as Json;
    assert.equal(sim.status, 200, JSON.stringify(ack));
    assert.equal(ack.ResponseCode, '0');
    const entry = await eventually(
      () =>
        s.sandbox.state
          .ledger()
          .c2bPayments.find((c) => c.originatorConversationId === ack.OriginatorCoversationID),
      10_000,
      'the simulated payment in the ledger',
    );
    const p = await paymentWithReceipt(entry.transId);
    assert.equal(p.amount, 420);
    assert.equal(p.reference, 'SIM-1');
  });
});
