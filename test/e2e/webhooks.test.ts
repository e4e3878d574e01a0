/**
 * Webhooks end to end on the in-process stack (test/helpers/stack.ts: Temporal dev server, database,
 * real worker, Daraja simulator, app): a payment's success reaches a local receiver registered both as
 * an endpoint and as the payment's callbackUrl, signed in both schemes; a receiver that fails the first
 * three attempts still gets it, every attempt under one event id with the same body; a payment's status
 * never waits on its webhooks; redelivery sends the same event again.
 *
 * The retry schedule runs scaled by MALIPO_WEBHOOK_SCHEDULE_SCALE=0.001 (a test-only setting passed in
 * each delivery workflow's input): 5 s, 5 min, 30 min become 5 ms, 300 ms, 1.8 s.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { Webhook } from 'standardwebhooks';
import { webhookSecretOf } from '../../src/platform/keys';
import { verifyWebhook } from '../../src/webhooks';
import { eventually, type Stack, type StackMerchant, startStack } from '../helpers/stack';

// biome-ignore lint/suspicious/noExplicitAny: JSON read from the API
type Json = any;

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A receiver on loopback. `/flaky/*` answers 500 to its first three requests, `/hold/*` keeps the
 * request open until release(), everything else answers 204.
 */
async function startReceiver() {
  const received: Received[] = [];
  const counts = new Map<string, number>();
  const held: Array<() => void> = [];
  const app = express();
  app.use(express.raw({ type: () => true, limit: '1mb' }));
  app.use((req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    received.push({ path: req.path, headers: req.headers, body });
    const n = (counts.get(req.path) ?? 0) + 1;
    counts.set(req.path, n);
    if (req.path.startsWith('/flaky/') && n <= 3) {
      res.status(500).send(`try again later (${n})`);
      return;
    }
    if (req.path.startsWith('/hold/')) {
      held.push(() => res.status(204).end());
      return;
    }
    res.status(204).end();
  });
  const server = await new Promise<http.Server>((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    releaseAll: () => {
      for (const r of held.splice(0)) r();
    },
    heldCount: () => held.length,
    async close() {
      for (const r of held.splice(0)) r();
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
}

/** paylod's documented scheme, re-implemented: hex HMAC-SHA256(secret string, "<t>.<raw body>"), any v1 matches. */
function paylodValid(r: Received, secret: string): boolean {
  const parts = String(r.headers['x-webhook-signature'])
    .split(',')
    .map((p) => p.split('=', 2) as [string, string]);
  const t = parts.find(([k]) => k === 't')?.[1];
  if (!t) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${t}.${r.body}`).digest('hex');
  return parts.some(
    ([k, v]) =>
      k === 'v1' &&
      v.length === expected.length &&
      crypto.timingSafeEqual(Buffer.from(v), Buffer.from(expected)),
  );
}

/** Both schemes verify with `secret`: standardwebhooks, verifyWebhook per scheme, and paylod's algorithm. */
function assertSignedBy(r: Received, secret: string) {
  const std = {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
  const paylod = {
    'x-webhook-id': String(r.headers['x-webhook-id']),
    'x-webhook-event': String(r.headers['x-webhook-event']),
    'x-webhook-signature': String(r.headers['x-webhook-signature']),
  };
  const fromLib = new Webhook(secret).verify(r.body, std) as Json;
  assert.equal(fromLib.id, std['webhook-id']);
  assert.equal(
    verifyWebhook(r.body, std, secret).id,
    std['webhook-id'],
    'Standard Webhooks via verifyWebhook',
  );
  assert.equal(
    verifyWebhook(r.body, paylod, secret).id,
    paylod['x-webhook-id'],
    'paylod scheme via verifyWebhook',
  );
  assert.equal(verifyWebhook(r.body, r.headers, secret).id, std['webhook-id']);
  assert.ok(paylodValid(r, secret), 'paylod scheme, re-implemented');
}

function assertNotSignedBy(r: Received, secret: string) {
  assert.throws(() => new Webhook(secret).verify(r.body, r.headers as Record<string, string>));
  assert.throws(() => verifyWebhook(r.body, r.headers, secret));
  assert.equal(paylodValid(r, secret), false);
}

let s: Stack;
let recv: Awaited<ReturnType<typeof startReceiver>>;

before(async () => {
  [s, recv] = await Promise.all([
    startStack({ env: { MALIPO_WEBHOOK_SCHEDULE_SCALE: '0.001' } }),
    startReceiver(),
  ]);
});
after(async () => {
  await recv?.close();
  await s?.stop();
});

const as = (m: StackMerchant) => ({
  api: (method: string, path: string, body?: unknown) =>
    s.request(method, path, { key: m.key, ...(body !== undefined ? { body } : {}) }),
});

/** A fresh phone the simulator's customer pays from at once. */
function payingPhone(): string {
  const phone = s.freshPhone();
  s.sandbox.state.setPhoneOutcome(phone, { resultCode: 0 });
  return phone;
}

async function pay(m: StackMerchant, phone: string, extra: Record<string, unknown> = {}): Promise<Json> {
  const r = await as(m).api('POST', '/v1/payments/stk-push', {
    phone,
    amount: 10,
    reference: `WH${crypto.randomBytes(3).toString('hex')}`,
    ...extra,
  });
  assert.equal(r.status, 202, r.text);
  return r.body;
}

async function eventOf(m: StackMerchant, paymentId: string): Promise<Json> {
  return eventually(
    async () => {
      const r = await as(m).api('GET', `/v1/events?paymentId=${paymentId}&type=payment.success`);
      return r.status === 200 && r.body.data.length === 1 ? r.body.data[0] : undefined;
    },
    30_000,
    `the payment.success event of ${paymentId}`,
  );
}

async function deliveriesOf(
  m: StackMerchant,
  eventId: string,
  done: (d: Json[]) => boolean,
): Promise<Json[]> {
  return eventually(
    async () => {
      const r = await as(m).api('GET', `/v1/events/${eventId}/deliveries`);
      return r.status === 200 && done(r.body.data) ? (r.body.data as Json[]) : undefined;
    },
    60_000,
    `deliveries of ${eventId}`,
  );
}

describe('webhooks end to end', () => {
  it('a payment’s success reaches an endpoint and its callbackUrl, signed in both schemes', async () => {
    const m = await s.newMerchant('Webhooks shop');
    const ep = await as(m).api('POST', '/v1/webhook-endpoints', {
      url: `${recv.url}/ep/ok`,
      events: ['payment.success'],
      description: 'orders',
    });
    assert.equal(ep.status, 201, ep.text);
    const endpointSecret: string = ep.body.secret;
    const keySecret = await webhookSecretOf(s.db, s.secretBox, m.keyId);

    const created = await pay(m, '254708374149', { callbackUrl: `${recv.url}/cb/ok` });
    const paid = await s.waitForStatus(created.id, undefined, 60_000, m.key);
    assert.equal(paid.status, 'success', JSON.stringify(paid));

    const event = await eventOf(m, created.id);
    const [toEndpoint, toCallback] = await eventually(
      () => {
        const a = recv.at('/ep/ok').find((r) => r.headers['webhook-id'] === event.id);
        const b = recv.at('/cb/ok').find((r) => r.headers['webhook-id'] === event.id);
        return a && b ? ([a, b] as const) : undefined;
      },
      60_000,
      'both deliveries at the receiver',
    );

    // the body is the event exactly as the API shows it, with the payment as GET returned it
    const shown = await as(m).api('GET', `/v1/events/${event.id}`);
    assert.equal(toEndpoint.body, shown.text);
    assert.equal(toCallback.body, shown.text, 'the same bytes to every target');
    const body = JSON.parse(toEndpoint.body);
    assert.deepEqual(Object.keys(body), ['id', 'type', 'created', 'data']);
    assert.equal(body.type, 'payment.success');
    assert.equal(body.data.id, created.id);
    assert.equal(body.data.status, 'success');
    assert.equal(body.data.mpesaReceipt, paid.mpesaReceipt);
    for (const r of [toEndpoint, toCallback]) {
      assert.equal(r.headers['x-webhook-id'], event.id);
      assert.equal(r.headers['x-webhook-event'], 'payment.success');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['user-agent'], 'Malipo-Webhooks/1');
    }

    assertSignedBy(toEndpoint, endpointSecret);
    assertSignedBy(toCallback, keySecret);
    assertNotSignedBy(toCallback, endpointSecret);
    assertNotSignedBy(toEndpoint, keySecret);

    const deliveries = await deliveriesOf(m, event.id, (d) => d.every((x: Json) => x.status !== 'pending'));
    assert.equal(deliveries.length, 2);
    for (const d of deliveries) {
      assert.equal(d.status, 'succeeded', JSON.stringify(d));
      assert.equal(d.attempts, 1);
      assert.equal(d.attemptLog[0].statusCode, 204);
    }
    assert.deepEqual(deliveries.map((d: Json) => d.target.kind).sort(), ['callback_url', 'endpoint']);

    // redelivery: the same event id and bytes, a new delivery with its own attempt
    const before = recv.at('/ep/ok').length;
    const re = await as(m).api('POST', `/v1/events/${event.id}/redeliver`, { endpointId: ep.body.id });
    assert.equal(re.status, 202, re.text);
    const again = await eventually(
      () => (recv.at('/ep/ok').length > before ? recv.at('/ep/ok').at(-1) : undefined),
      60_000,
      'the redelivery',
    );
    assert.equal(again.headers['webhook-id'], event.id);
    assert.equal(again.body, toEndpoint.body);
    assertSignedBy(again, endpointSecret);
    const after = await deliveriesOf(m, event.id, (d) => d.length === 3 && d[2].status !== 'pending');
    assert.equal(after[2].sequence, 1);
    assert.equal(after[2].status, 'succeeded');
  });

  it('a receiver that answers 500 to the first three attempts still gets it, under one event id', async () => {
    const m = await s.newMerchant('Flaky shop');
    const ep = await as(m).api('POST', '/v1/webhook-endpoints', {
      url: `${recv.url}/flaky/ep`,
      events: ['*'],
    });
    assert.equal(ep.status, 201, ep.text);
    const created = await pay(m, payingPhone(), { callbackUrl: `${recv.url}/flaky/cb` });
    const paid = await s.waitForStatus(created.id, undefined, 60_000, m.key);
    assert.equal(paid.status, 'success');
    const event = await eventOf(m, created.id);

    const deliveries = await deliveriesOf(
      m,
      event.id,
      (d) => d.length === 2 && d.every((x: Json) => x.status !== 'pending'),
    );
    const keySecret = await webhookSecretOf(s.db, s.secretBox, m.keyId);
    for (const [path, secret] of [
      ['/flaky/ep', ep.body.secret as string],
      ['/flaky/cb', keySecret],
    ] as const) {
      const got = recv.at(path);
      assert.equal(got.length, 4, `${path}: three failures, then success`);
      for (const r of got) {
        assert.equal(r.headers['webhook-id'], event.id, 'one event id on every attempt');
        assert.equal(r.headers['x-webhook-id'], event.id);
        assert.equal(r.body, got[0]?.body, 'identical bodies');
        assertSignedBy(r, secret);
      }
      const d = deliveries.find((x: Json) => x.target.url === `${recv.url}${path}`);
      assert.ok(d, path);
      assert.equal(d.status, 'succeeded');
      assert.equal(d.attempts, 4);
      assert.deepEqual(
        d.attemptLog.map((a: Json) => a.statusCode),
        [500, 500, 500, 204],
      );
      assert.equal(d.attemptLog[0].responseSnippet, 'try again later (1)');
      const times = d.attemptLog.map((a: Json) => Date.parse(a.attemptedAt));
      for (let i = 1; i < times.length; i++) assert.ok(times[i] >= times[i - 1], 'attempts in order');
    }
  });

  it('a payment’s status does not wait on its webhooks; a healthy receiver costs no workflow of its own', async () => {
    const m = await s.newMerchant('Slow receiver shop');
    const created = await pay(m, payingPhone(), { callbackUrl: `${recv.url}/hold/cb` });
    // the receiver holds the first attempt open: the payment is final (its row and event written)
    // meanwhile; its workflow makes that attempt inline and completes once it is answered
    await eventually(() => (recv.at('/hold/cb').length > 0 ? true : undefined), 60_000, 'the held delivery');
    const p = await as(m).api('GET', `/v1/payments/${created.id}`);
    assert.equal(p.body.status, 'success');
    const event = await eventOf(m, created.id);
    const pending = await as(m).api('GET', `/v1/events/${event.id}/deliveries`);
    assert.equal(pending.body.data[0].status, 'pending', 'the delivery is still in flight');
    assert.ok(recv.heldCount() >= 1);
    recv.releaseAll();
    const done = await deliveriesOf(m, event.id, (d) => d[0]?.status !== 'pending');
    assert.equal(done[0].status, 'succeeded');
    assert.equal(done[0].attempts, 1);
    await eventually(
      async () => {
        const d = await s.temporal.workflow.getHandle(created.id).describe();
        return d.status.name === 'COMPLETED' ? true : undefined;
      },
      30_000,
      'the payment workflow to complete',
    );
    // the first attempt succeeded inline: no delivery workflow was started
    await assert.rejects(s.temporal.workflow.getHandle(done[0].workflowId).describe(), /not found/i);
  });
});
