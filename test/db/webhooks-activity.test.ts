/**
 * attemptDelivery against a real local express receiver (loopback, development mode): the headers,
 * the exact body bytes, both signature schemes, the attempt row; plus 410, Retry-After, production
 * mode refusing loopback, callback URLs signed with the API key's secret, and dispatch.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import express from 'express';
import { Webhook } from 'standardwebhooks';
import { createWebhookActivities } from '../../activities/webhooks';
import type { DatabaseHandle } from '../../src/db';
import { SecretBox } from '../../src/platform/secret-box';
import type { DeliveryRef } from '../../src/webhooks/repository';
import { WebhookRepository } from '../../src/webhooks/repository';
import { generateWebhookSecret } from '../../src/webhooks/signing';
import { verifyWebhook } from '../../src/webhooks/verify';
import { testDatabases } from '../helpers/db';

/** Runs one activity in a mock activity context, keeping its types. */
function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

for (const target of testDatabases()) {
  describe(`attemptDelivery (${target.name})`, () => {
    let h: DatabaseHandle;
    let server: Server;
    let base: string;
    const received: Received[] = [];
    let answer: (res: express.Response) => void = (res) => res.status(204).end();
    const box = new SecretBox(crypto.randomBytes(32));
    const owner = { merchantId: 'mer_act', environment: 'test' };
    // bytes a re-serialiser would change: key order, spacing, unicode, escaped slash
    const body =
      '{"id":"evt_act1","type":"payment.success","created":1751394302,"data":{"z":1,"a":"Chai ☕ \\/ x",  "amount":10}}';
    const started: DeliveryRef[] = [];

    before(async () => {
      h = await target.open();
      const app = express();
      app.post('/hook', express.raw({ type: '*/*' }), (req, res) => {
        received.push({ headers: req.headers, body: req.body as Buffer });
        answer(res);
      });
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await h.db
        .insertInto('events')
        .values({
          id: 'evt_act1',
          merchant_id: owner.merchantId,
          environment: 'test',
          type: 'payment.success',
          payment_id: 'pay_act',
          payment_version: 1,
          body,
        })
        .execute();
    });
    after(async () => {
      await new Promise((r) => server?.close(r));
      await h?.close();
    });

    const activities = (mode: 'development' | 'production' = 'development') =>
      createWebhookActivities({
        db: h.db,
        box,
        mode,
        starter: {
          async start(ref) {
            started.push(ref);
          },
        },
      });
    const repo = () => new WebhookRepository(h.db, box, { mode: 'development' });

    it('POSTs the exact bytes with both signatures and records the attempt', async () => {
      const { endpoint, secret } = await repo().createEndpoint(owner, { url: `${base}/hook`, events: ['*'] });
      const [ref] = await repo().planDeliveries('evt_act1');
      assert.ok(ref);
      const out = await runActivity(activities().attemptDelivery, {
        deliveryId: ref.deliveryId,
        attempt: 1,
      });
      assert.ok(out.outcome === 'succeeded');
      assert.equal(out.statusCode, 204);

      const got = received.at(-1)!;
      assert.ok(got.body.equals(Buffer.from(body, 'utf8')), 'body bytes unchanged');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.equal(got.headers['user-agent'], 'Malipo-Webhooks/1');
      assert.equal(got.headers['webhook-id'], 'evt_act1');
      assert.equal(got.headers['x-webhook-id'], 'evt_act1');
      assert.equal(got.headers['x-webhook-event'], 'payment.success');
      const flat = Object.fromEntries(Object.entries(got.headers).map(([k, v]) => [k, String(v)]));
      assert.equal(
        (new Webhook(secret).verify(got.body.toString('utf8'), flat) as { id: string }).id,
        'evt_act1',
      );
      assert.equal(
        verifyWebhook(got.body, { 'x-webhook-signature': flat['x-webhook-signature'] }, secret).id,
        'evt_act1',
      );
      assert.equal(verifyWebhook(got.body, got.headers, secret).type, 'payment.success');

      const row = await h.db
        .selectFrom('webhook_attempts')
        .selectAll()
        .where('delivery_id', '=', ref.deliveryId)
        .executeTakeFirstOrThrow();
      assert.equal(row.attempt, 1);
      assert.equal(row.status_code, 204);
      assert.equal(row.target_url, endpoint.url);
      assert.ok(row.latency_ms >= 0);
      const d = await repo().getDelivery(ref.deliveryId);
      assert.equal(d.status, 'succeeded');
      assert.equal(d.attempts, 1);
    });

    it('keeps the first 1 KiB of the answer, reads Retry-After, and reports 410 as gone', async () => {
      const [ref] = await repo().createRedelivery(owner, 'evt_act1');
      assert.ok(ref);
      answer = (res) => res.status(429).set('retry-after', '120').send('x'.repeat(5000));
      const a = await runActivity(activities().attemptDelivery, {
        deliveryId: ref.deliveryId,
        attempt: 1,
      });
      assert.deepEqual(a.outcome === 'failed' && { code: a.statusCode, retryAfter: a.retryAfterSeconds }, {
        code: 429,
        retryAfter: 120,
      });
      const row = await h.db
        .selectFrom('webhook_attempts')
        .selectAll()
        .where('delivery_id', '=', ref.deliveryId)
        .executeTakeFirstOrThrow();
      assert.equal(row.response_snippet.length, 1024);

      answer = (res) => res.status(410).end();
      const g = await runActivity(activities().attemptDelivery, {
        deliveryId: ref.deliveryId,
        attempt: 2,
      });
      assert.equal(g.outcome, 'gone');
      const dis = await runActivity(activities().disableEndpoint, {
        deliveryId: ref.deliveryId,
        reason: '410 Gone',
      });
      assert.equal(dis.disabled, true);
      const skipped = await runActivity(activities().attemptDelivery, {
        deliveryId: ref.deliveryId,
        attempt: 3,
      });
      assert.equal(skipped.outcome, 'skipped');
      await runActivity(activities().markDeliveryFinished, {
        deliveryId: ref.deliveryId,
        status: 'failed',
        reason: 'gone',
      });
      const d = await repo().getDelivery(ref.deliveryId);
      assert.equal(d.status, 'failed');
      assert.equal(d.failureReason, 'gone');
      assert.equal(d.attemptLog?.length, 2);
      answer = (res) => res.status(204).end();
    });

    it('in production mode refuses the loopback receiver at delivery (nothing is sent)', async () => {
      const before = received.length;
      const { endpoint } = await repo().createEndpoint(owner, { url: `${base}/hook`, events: ['*'] });
      const [ref] = await repo().createRedelivery(owner, 'evt_act1', { endpointId: endpoint.id });
      const out = await runActivity(activities('production').attemptDelivery, {
        deliveryId: ref!.deliveryId,
        attempt: 1,
      });
      assert.equal(out.outcome, 'failed');
      assert.match((out.outcome === 'failed' && out.error) || '', /not allowed/);
      assert.equal(received.length, before);
    });

    it("signs a payment's callback URL with its API key's webhook secret, and dispatch starts each delivery", async () => {
      const keySecret = generateWebhookSecret();
      await h.db.insertInto('merchants').values({ id: 'mer_cb', name: 'CB' }).execute();
      await h.db
        .insertInto('api_keys')
        .values({
          id: 'key_cb',
          merchant_id: 'mer_cb',
          environment: 'test',
          label: 'cb',
          scopes: JSON.stringify(['payments:write']),
          key_hash: crypto.randomBytes(16).toString('hex'),
          prefix: 'mk_test_',
          last4: 'abcd',
          webhook_secret_enc: box.seal(keySecret),
        })
        .execute();
      await h.db
        .insertInto('payments')
        .values({
          id: 'pay_cb',
          merchant_id: 'mer_cb',
          environment: 'test',
          channel_id: 'ch_1',
          status: 'success',
          amount: 10,
          phone: '254712345678',
          reference: 'INV-1',
          description: 'x',
          callback_url: `${base}/hook`,
          api_key_id: 'key_cb',
        })
        .execute();
      const cbBody = '{"id":"evt_cb","type":"payment.success","created":1,"data":{}}';
      await h.db
        .insertInto('events')
        .values({
          id: 'evt_cb',
          merchant_id: 'mer_cb',
          environment: 'test',
          type: 'payment.success',
          payment_id: 'pay_cb',
          payment_version: 1,
          body: cbBody,
        })
        .execute();
      const acts = activities();
      const { deliveryIds } = await runActivity(acts.dispatchWebhooks, {
        eventId: 'evt_cb',
      });
      assert.equal(deliveryIds.length, 1);
      assert.equal(started.at(-1)!.workflowId, 'whk:evt_cb:callback');
      const again = await runActivity(acts.dispatchWebhooks, { eventId: 'evt_cb' });
      assert.deepEqual(again.deliveryIds, deliveryIds);
      const out = await runActivity(acts.attemptDelivery, {
        deliveryId: deliveryIds[0]!,
        attempt: 1,
      });
      assert.equal(out.outcome, 'succeeded');
      const got = received.at(-1)!;
      assert.equal(got.body.toString('utf8'), cbBody);
      assert.equal(verifyWebhook(got.body, got.headers, keySecret).id, 'evt_cb');
    });
  });
}
