/**
 * /v1/webhook-endpoints and /v1/events over HTTP: per route a happy case, the error envelope and the
 * security cases (no key, wrong key, revoked key, missing scope, another merchant's resource → 404);
 * the SSRF guard on saved URLs (endpoints and a payment's callbackUrl) in both modes.
 * Delivery workflows are not run here: a fake DeliveryStarter records what would be started.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config';
import type { DeliveryRef } from '../../src/webhooks/repository';
import { WebhookRepository } from '../../src/webhooks/repository';
import type { Resolver } from '../../src/webhooks/ssrf';
import {
  expectEnvelope,
  expectSecured,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

/** DNS for the guard: one public name, one that resolves to loopback (rebinding), the rest do not resolve. */
const resolver: Resolver = async (host) => {
  if (host === 'hooks.example.com') return [{ address: '93.184.216.34', family: 4 }];
  if (host === 'rebind.example.com') return [{ address: '127.0.0.1', family: 4 }];
  throw new Error(`ENOTFOUND ${host}`);
};

const SCOPE = 'webhooks:manage' as const;
const MISSING_ENDPOINT = 'we_0000000000000000000000';
const MISSING_EVENT = 'evt_0000000000000000000000';

function recordingStarter() {
  const started: DeliveryRef[] = [];
  return { started, starter: { start: async (ref: DeliveryRef) => void started.push(ref) } };
}

/** Refused by the SSRF guard: 400 VALIDATION_ERROR naming the url field, with the reason. */
function expectRefusedUrl(res: Awaited<ReturnType<TestApp['request']>>, reason: RegExp) {
  const b = expectEnvelope(res, 400, 'VALIDATION_ERROR');
  const detail = (b.error.details ?? [])[0] as { path: string; message: string; code: string } | undefined;
  assert.equal(detail?.path, 'url', res.text);
  assert.match(detail?.message ?? '', reason, res.text);
  assert.match(b.message, /not allowed/);
}

describe('webhook routes', () => {
  let t: TestApp;
  let m: TestMerchant;
  let other: TestMerchant;
  let repo: WebhookRepository;
  const rec = recordingStarter();
  let eventVersion = 0;

  const create = (key: string, body: Record<string, unknown> = {}) =>
    t.request('POST', '/v1/webhook-endpoints', {
      key,
      body: { url: 'https://hooks.example.com/malipo', events: ['*'], description: 'orders', ...body },
    });

  /** An event row as the payment flow writes it; returns the stored body. */
  async function insertEvent(
    merchantId: string,
    opts: { type?: string; paymentId?: string; environment?: string; created?: number } = {},
  ): Promise<{ id: string; body: string }> {
    const id = `evt_${crypto.randomBytes(11).toString('hex')}`;
    const type = opts.type ?? 'payment.success';
    const paymentId = opts.paymentId ?? 'pay_AAAAAAAAAAAAAAAAAAAAAA';
    const body = JSON.stringify({
      id,
      type,
      created: opts.created ?? 1751394302,
      data: { id: paymentId, object: 'payment', status: type.slice(8), amount: 10, note: 'ünïcode ✓' },
    });
    await t.db
      .insertInto('events')
      .values({
        id,
        merchant_id: merchantId,
        environment: opts.environment ?? 'test',
        type,
        payment_id: paymentId,
        payment_version: ++eventVersion,
        body,
      })
      .execute();
    return { id, body };
  }

  before(async () => {
    t = await startTestApp({ overrides: { webhookResolver: resolver, deliveryStarter: rec.starter } });
    m = await t.merchant('Shop');
    other = await t.merchant('Other');
    repo = new WebhookRepository(t.db, t.secretBox, { mode: 'development', resolve: resolver });
  });
  after(() => t.close());

  describe('POST /v1/webhook-endpoints', () => {
    it('creates an endpoint and shows its whsec_ secret once, sealed at rest', async () => {
      const r = await create(m.key, { events: ['payment.success', 'payment.failed'] });
      assert.equal(r.status, 201, r.text);
      assert.match(r.body.id, /^we_/);
      assert.equal(r.body.object, 'webhook_endpoint');
      assert.equal(r.body.url, 'https://hooks.example.com/malipo');
      assert.deepEqual(r.body.events, ['payment.success', 'payment.failed']);
      assert.equal(r.body.description, 'orders');
      assert.equal(r.body.enabled, true);
      assert.equal(r.body.environment, 'test');
      assert.equal(r.body.previousSecretExpiresAt, null);
      assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);

      const again = await t.request('GET', `/v1/webhook-endpoints/${r.body.id}`, { key: m.key });
      assert.equal(again.status, 200);
      assert.equal(again.body.secret, undefined, 'never shown again');
      assert.ok(!again.text.includes('whsec_'));
      const row = await t.db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', r.body.id)
        .executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(row).includes(r.body.secret.slice(6)), 'the secret is not stored in clear');
      assert.deepEqual(repo.activeSecrets(row), [r.body.secret]);
      const audit = await t.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', r.body.id)
        .execute();
      assert.equal(audit[0]?.action, 'webhook_endpoint.create');
      assert.equal(audit[0]?.actor, m.keyId);
    });

    it('answers VALIDATION_ERROR for unknown event types, missing fields and unknown fields', async () => {
      const bad = expectEnvelope(await create(m.key, { events: ['payment.nope'] }), 400, 'VALIDATION_ERROR');
      assert.ok(JSON.stringify(bad.error.details).includes('events'));
      expectEnvelope(await create(m.key, { events: [] }), 400, 'VALIDATION_ERROR');
      expectEnvelope(
        await t.request('POST', '/v1/webhook-endpoints', { key: m.key, body: { events: ['*'] } }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(await create(m.key, { secret: 'whsec_mine' }), 400, 'VALIDATION_ERROR');
      expectEnvelope(await create(m.key, { description: 'x'.repeat(501) }), 400, 'VALIDATION_ERROR');
    });

    it('is secured', async () => {
      await expectSecured(t, m.id, {
        method: 'POST',
        path: '/v1/webhook-endpoints',
        body: { url: 'https://hooks.example.com/', events: ['*'] },
        scope: SCOPE,
      });
    });
  });

  describe('GET /v1/webhook-endpoints', () => {
    it('lists the merchant’s endpoints newest first, in pages', async () => {
      const shop = await t.merchant('Pages');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await create(shop.key, { description: `n${i}` })).body.id);
      await create(other.key);
      const p1 = await t.request('GET', '/v1/webhook-endpoints?limit=2', { key: shop.key });
      assert.equal(p1.status, 200, p1.text);
      assert.equal(p1.body.object, 'list');
      assert.deepEqual(
        p1.body.data.map((e: { id: string }) => e.id),
        [ids[2], ids[1]],
      );
      assert.equal(p1.body.nextCursor, ids[1]);
      assert.ok(!p1.text.includes('whsec_'));
      const p2 = await t.request('GET', `/v1/webhook-endpoints?limit=2&cursor=${p1.body.nextCursor}`, {
        key: shop.key,
      });
      assert.deepEqual(
        p2.body.data.map((e: { id: string }) => e.id),
        [ids[0]],
      );
      assert.equal(p2.body.nextCursor, null);
      const exact = await t.request('GET', '/v1/webhook-endpoints?limit=3', { key: shop.key });
      assert.equal(exact.body.data.length, 3);
      assert.equal(exact.body.nextCursor, null, 'no cursor when nothing follows');
      const live = await t.key(shop.id, [SCOPE], { env: 'live' });
      const none = await t.request('GET', '/v1/webhook-endpoints', { key: live.key });
      assert.deepEqual(none.body.data, [], 'a live key does not see test endpoints');
    });

    it('answers VALIDATION_ERROR for a bad limit or a cursor that is not the caller’s', async () => {
      expectEnvelope(
        await t.request('GET', '/v1/webhook-endpoints?limit=0', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('GET', '/v1/webhook-endpoints?limit=101', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      const theirs = (await create(other.key)).body.id;
      const r = await t.request('GET', `/v1/webhook-endpoints?cursor=${theirs}`, { key: m.key });
      const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
      assert.ok(JSON.stringify(b.error.details).includes('cursor'));
    });

    it('is secured', async () => {
      await expectSecured(t, m.id, { method: 'GET', path: '/v1/webhook-endpoints', scope: SCOPE });
    });
  });

  describe('GET /v1/webhook-endpoints/:id', () => {
    it('returns the endpoint', async () => {
      const id = (await create(m.key)).body.id;
      const r = await t.request('GET', `/v1/webhook-endpoints/${id}`, { key: m.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.id, id);
      assert.equal(r.body.disabledReason, null);
    });

    it('answers 404 for a missing id or another merchant’s or environment’s endpoint, 400 for a malformed id', async () => {
      expectEnvelope(
        await t.request('GET', `/v1/webhook-endpoints/${MISSING_ENDPOINT}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', '/v1/webhook-endpoints/nope', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      const theirs = (await create(other.key)).body.id;
      expectEnvelope(
        await t.request('GET', `/v1/webhook-endpoints/${theirs}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const live = await t.key(other.id, [SCOPE], { env: 'live' });
      expectEnvelope(
        await t.request('GET', `/v1/webhook-endpoints/${theirs}`, { key: live.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('is secured', async () => {
      const id = (await create(m.key)).body.id;
      await expectSecured(t, m.id, { method: 'GET', path: `/v1/webhook-endpoints/${id}`, scope: SCOPE });
    });
  });

  describe('PATCH /v1/webhook-endpoints/:id', () => {
    it('updates fields, disables with enabled:false and enables again', async () => {
      const id = (await create(m.key)).body.id;
      const path = `/v1/webhook-endpoints/${id}`;
      const r = await t.request('PATCH', path, {
        key: m.key,
        body: { url: 'http://127.0.0.1:4000/hooks', events: ['payment.failed'], description: 'dev box' },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.url, 'http://127.0.0.1:4000/hooks', 'development mode allows loopback');
      assert.deepEqual(r.body.events, ['payment.failed']);
      assert.equal(r.body.description, 'dev box');

      const off = await t.request('PATCH', path, { key: m.key, body: { enabled: false } });
      assert.equal(off.status, 200, off.text);
      assert.equal(off.body.enabled, false);
      assert.equal(off.body.disabledReason, 'disabled by the merchant');
      assert.ok(off.body.disabledAt);
      const on = await t.request('PATCH', path, { key: m.key, body: { enabled: true } });
      assert.equal(on.body.enabled, true);
      assert.equal(on.body.disabledReason, null);
      assert.equal(on.body.disabledAt, null);
    });

    it('answers VALIDATION_ERROR for an empty or unknown change and 404 for another merchant’s endpoint', async () => {
      const id = (await create(m.key)).body.id;
      const path = `/v1/webhook-endpoints/${id}`;
      expectEnvelope(await t.request('PATCH', path, { key: m.key, body: {} }), 400, 'VALIDATION_ERROR');
      expectEnvelope(
        await t.request('PATCH', path, { key: m.key, body: { secret: 'x' } }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('PATCH', path, { key: m.key, body: { enabled: 'no' } }),
        400,
        'VALIDATION_ERROR',
      );
      const theirs = (await create(other.key)).body.id;
      expectEnvelope(
        await t.request('PATCH', `/v1/webhook-endpoints/${theirs}`, {
          key: m.key,
          body: { enabled: false },
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const still = await t.request('GET', `/v1/webhook-endpoints/${theirs}`, { key: other.key });
      assert.equal(still.body.enabled, true);
    });

    it('is secured', async () => {
      const id = (await create(m.key)).body.id;
      await expectSecured(t, m.id, {
        method: 'PATCH',
        path: `/v1/webhook-endpoints/${id}`,
        body: { description: 'x' },
        scope: SCOPE,
      });
    });
  });

  describe('DELETE /v1/webhook-endpoints/:id', () => {
    it('deletes the endpoint', async () => {
      const id = (await create(m.key)).body.id;
      const r = await t.request('DELETE', `/v1/webhook-endpoints/${id}`, { key: m.key });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { id, object: 'webhook_endpoint', deleted: true });
      expectEnvelope(
        await t.request('GET', `/v1/webhook-endpoints/${id}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('DELETE', `/v1/webhook-endpoints/${id}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('answers 404 for another merchant’s endpoint and leaves it', async () => {
      const theirs = (await create(other.key)).body.id;
      expectEnvelope(
        await t.request('DELETE', `/v1/webhook-endpoints/${theirs}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      assert.equal(
        (await t.request('GET', `/v1/webhook-endpoints/${theirs}`, { key: other.key })).status,
        200,
      );
    });

    it('is secured', async () => {
      const id = (await create(m.key)).body.id;
      await expectSecured(t, m.id, { method: 'DELETE', path: `/v1/webhook-endpoints/${id}`, scope: SCOPE });
      assert.equal((await t.request('GET', `/v1/webhook-endpoints/${id}`, { key: m.key })).status, 200);
    });
  });

  describe('POST /v1/webhook-endpoints/:id/rotate-secret', () => {
    it('returns a new secret; the old one keeps signing for 24 hours', async () => {
      const created = (await create(m.key)).body;
      const before = Date.now();
      const r = await t.request('POST', `/v1/webhook-endpoints/${created.id}/rotate-secret`, { key: m.key });
      assert.equal(r.status, 200, r.text);
      assert.match(r.body.secret, /^whsec_/);
      assert.notEqual(r.body.secret, created.secret);
      const expires = Date.parse(r.body.previousSecretExpiresAt);
      assert.ok(expires >= before + 24 * 3600_000 - 1000 && expires <= Date.now() + 24 * 3600_000 + 1000);
      const row = await t.db
        .selectFrom('webhook_endpoints')
        .select('secrets')
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(repo.activeSecrets(row), [r.body.secret, created.secret], 'newest first');
      assert.deepEqual(repo.activeSecrets(row, new Date(expires + 1000)), [r.body.secret]);
      const shown = await t.request('GET', `/v1/webhook-endpoints/${created.id}`, { key: m.key });
      assert.equal(shown.body.previousSecretExpiresAt, r.body.previousSecretExpiresAt);
      assert.ok(!shown.text.includes('whsec_'));
    });

    it('answers VALIDATION_ERROR for a bad overlap and 404 for another merchant’s endpoint', async () => {
      const id = (await create(m.key)).body.id;
      expectEnvelope(
        await t.request('POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
          key: m.key,
          body: { overlapSeconds: -1 },
        }),
        400,
        'VALIDATION_ERROR',
      );
      const theirs = (await create(other.key)).body.id;
      expectEnvelope(
        await t.request('POST', `/v1/webhook-endpoints/${theirs}/rotate-secret`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('is secured', async () => {
      const id = (await create(m.key)).body.id;
      await expectSecured(t, m.id, {
        method: 'POST',
        path: `/v1/webhook-endpoints/${id}/rotate-secret`,
        scope: SCOPE,
      });
    });
  });

  describe('GET /v1/events', () => {
    it('lists the merchant’s events, filtered by type and payment, in pages', async () => {
      const shop = await t.merchant('Events');
      const a = await insertEvent(shop.id, {
        type: 'payment.failed',
        paymentId: 'pay_AAAAAAAAAAAAAAAAAAAAA1',
      });
      const b = await insertEvent(shop.id, {
        type: 'payment.success',
        paymentId: 'pay_AAAAAAAAAAAAAAAAAAAAA2',
      });
      const c = await insertEvent(shop.id, {
        type: 'payment.success',
        paymentId: 'pay_AAAAAAAAAAAAAAAAAAAAA1',
      });
      await insertEvent(other.id);
      await insertEvent(shop.id, { environment: 'live' });

      const all = await t.request('GET', '/v1/events', { key: shop.key });
      assert.equal(all.status, 200, all.text);
      assert.equal(all.body.data.length, 3);
      assert.deepEqual(new Set(all.body.data.map((e: { id: string }) => e.id)), new Set([a.id, b.id, c.id]));
      for (const e of all.body.data) assert.deepEqual(Object.keys(e), ['id', 'type', 'created', 'data']);

      const ok = await t.request('GET', '/v1/events?type=payment.success', { key: shop.key });
      assert.deepEqual(new Set(ok.body.data.map((e: { id: string }) => e.id)), new Set([b.id, c.id]));
      const pay1 = await t.request('GET', '/v1/events?paymentId=pay_AAAAAAAAAAAAAAAAAAAAA1', {
        key: shop.key,
      });
      assert.deepEqual(new Set(pay1.body.data.map((e: { id: string }) => e.id)), new Set([a.id, c.id]));
      const both = await t.request(
        'GET',
        '/v1/events?type=payment.failed&paymentId=pay_AAAAAAAAAAAAAAAAAAAAA1',
        { key: shop.key },
      );
      assert.deepEqual(
        both.body.data.map((e: { id: string }) => e.id),
        [a.id],
      );

      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 5; i++) {
        const r = await t.request('GET', `/v1/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`, {
          key: shop.key,
        });
        assert.equal(r.status, 200, r.text);
        seen.push(...r.body.data.map((e: { id: string }) => e.id));
        cursor = r.body.nextCursor;
        if (!cursor) break;
      }
      assert.deepEqual(
        seen,
        all.body.data.map((e: { id: string }) => e.id),
        'pages add up to the list',
      );
    });

    it('answers VALIDATION_ERROR for an unknown type, a malformed payment id or a foreign cursor', async () => {
      expectEnvelope(
        await t.request('GET', '/v1/events?type=payment.nope', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      expectEnvelope(
        await t.request('GET', '/v1/events?paymentId=nope', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      const theirs = await insertEvent(other.id);
      expectEnvelope(
        await t.request('GET', `/v1/events?cursor=${theirs.id}`, { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
    });

    it('is secured', async () => {
      await expectSecured(t, m.id, { method: 'GET', path: '/v1/events', scope: SCOPE });
    });
  });

  describe('GET /v1/events/:id', () => {
    it('returns the event byte for byte as delivered', async () => {
      const e = await insertEvent(m.id, { type: 'payment.needs_review' });
      const r = await t.request('GET', `/v1/events/${e.id}`, { key: m.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, e.body);
    });

    it('answers 404 for a missing or another merchant’s event', async () => {
      expectEnvelope(
        await t.request('GET', `/v1/events/${MISSING_EVENT}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const theirs = await insertEvent(other.id);
      expectEnvelope(
        await t.request('GET', `/v1/events/${theirs.id}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', '/v1/events/pay_123456', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
    });

    it('is secured', async () => {
      const e = await insertEvent(m.id);
      await expectSecured(t, m.id, { method: 'GET', path: `/v1/events/${e.id}`, scope: SCOPE });
    });
  });

  describe('GET /v1/events/:id/deliveries', () => {
    it('lists each delivery with its attempt log', async () => {
      const shop = await t.merchant('Deliveries');
      const ep = (await create(shop.key)).body;
      const e = await insertEvent(shop.id);
      const [ref] = await repo.planDeliveries(e.id);
      assert.ok(ref);
      await repo.recordAttempt(ref.deliveryId, {
        attempt: 1,
        at: new Date('2026-01-01T00:00:00Z'),
        url: ep.url,
        ok: false,
        statusCode: 500,
        latencyMs: 42,
        error: 'boom',
        responseSnippet: 'x'.repeat(1024),
      });
      await repo.recordAttempt(ref.deliveryId, {
        attempt: 2,
        at: new Date('2026-01-01T00:00:05Z'),
        url: ep.url,
        ok: false,
        statusCode: null,
        latencyMs: 15000,
        error: 'no answer within 15000 ms',
        responseSnippet: '',
      });
      const r = await t.request('GET', `/v1/events/${e.id}/deliveries`, { key: shop.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.data.length, 1);
      const d = r.body.data[0];
      assert.equal(d.id, ref.deliveryId);
      assert.equal(d.eventId, e.id);
      assert.deepEqual(d.target, { kind: 'endpoint', id: ep.id, url: ep.url });
      assert.equal(d.workflowId, `whk:${e.id}:${ep.id}`);
      assert.equal(d.attempts, 2);
      assert.deepEqual(d.attemptLog, [
        {
          attempt: 1,
          attemptedAt: '2026-01-01T00:00:00.000Z',
          url: ep.url,
          statusCode: 500,
          latencyMs: 42,
          error: 'boom',
          responseSnippet: 'x'.repeat(1024),
        },
        {
          attempt: 2,
          attemptedAt: '2026-01-01T00:00:05.000Z',
          url: ep.url,
          statusCode: null,
          latencyMs: 15000,
          error: 'no answer within 15000 ms',
          responseSnippet: '',
        },
      ]);
      const none = await insertEvent(shop.id, { type: 'payment.failed' });
      const empty = await t.request('GET', `/v1/events/${none.id}/deliveries`, { key: shop.key });
      assert.deepEqual(empty.body, { object: 'list', data: [] });
    });

    it('answers 404 for a missing or another merchant’s event', async () => {
      expectEnvelope(
        await t.request('GET', `/v1/events/${MISSING_EVENT}/deliveries`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const theirs = await insertEvent(other.id);
      expectEnvelope(
        await t.request('GET', `/v1/events/${theirs.id}/deliveries`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
    });

    it('is secured', async () => {
      const e = await insertEvent(m.id);
      await expectSecured(t, m.id, { method: 'GET', path: `/v1/events/${e.id}/deliveries`, scope: SCOPE });
    });
  });

  describe('POST /v1/events/:id/redeliver', () => {
    it('starts new deliveries of the same event to every target, or to one endpoint', async () => {
      const shop = await t.merchant('Redeliver');
      const ch = await t.channel(shop.id);
      const e1 = (await create(shop.key, { events: ['payment.success'] })).body;
      const e2 = (await create(shop.key, { events: ['*'] })).body;
      const notSubscribed = (await create(shop.key, { events: ['payment.failed'] })).body;
      const paymentId = 'pay_RRRRRRRRRRRRRRRRRRRRRR';
      await t.db
        .insertInto('payments')
        .values({
          id: paymentId,
          merchant_id: shop.id,
          environment: 'test',
          channel_id: ch.id,
          status: 'success',
          amount: 10,
          phone: '254708374149',
          reference: 'INV1',
          description: 'Payment',
          callback_url: 'https://hooks.example.com/callback',
          api_key_id: shop.keyId,
        })
        .execute();
      const e = await insertEvent(shop.id, { paymentId });
      rec.started.length = 0;

      const all = await t.request('POST', `/v1/events/${e.id}/redeliver`, { key: shop.key });
      assert.equal(all.status, 202, all.text);
      const targets = all.body.data.map((d: { target: { kind: string; id: string } }) => d.target.id);
      assert.deepEqual(new Set(targets), new Set([shop.keyId, e1.id, e2.id]));
      assert.ok(!targets.includes(notSubscribed.id));
      for (const d of all.body.data) {
        assert.equal(d.eventId, e.id, 'the same event id');
        assert.equal(d.status, 'pending');
        assert.deepEqual(d.attemptLog, []);
      }
      assert.deepEqual(
        rec.started.map((s) => s.workflowId).sort(),
        [`whk:${e.id}:callback`, `whk:${e.id}:${e1.id}`, `whk:${e.id}:${e2.id}`].sort(),
        'the first delivery of a target is sequence 0',
      );
      assert.ok(rec.started.every((s) => s.eventId === e.id));

      rec.started.length = 0;
      const one = await t.request('POST', `/v1/events/${e.id}/redeliver`, {
        key: shop.key,
        body: { endpointId: e1.id },
      });
      assert.equal(one.status, 202, one.text);
      assert.equal(one.body.data.length, 1);
      assert.equal(one.body.data[0].sequence, 1);
      assert.deepEqual(
        rec.started.map((s) => s.workflowId),
        [`whk:${e.id}:${e1.id}:r1`],
      );
      const explicit = await t.request('POST', `/v1/events/${e.id}/redeliver`, {
        key: shop.key,
        body: { endpointId: notSubscribed.id },
      });
      assert.equal(explicit.status, 202, 'an explicit endpoint gets it even if not subscribed');

      const list = await t.request('GET', `/v1/events/${e.id}/deliveries`, { key: shop.key });
      assert.equal(list.body.data.length, 5);
      const audit = await t.db.selectFrom('audit_log').selectAll().where('target_id', '=', e.id).execute();
      assert.equal(audit.length, 3);
      assert.ok(audit.every((a) => a.action === 'event.redeliver'));
    });

    it('answers 404 for another merchant’s event or endpoint, 409 for a disabled endpoint, 400 for a bad body', async () => {
      const mine = await insertEvent(m.id);
      const theirs = await insertEvent(other.id);
      const theirEndpoint = (await create(other.key)).body.id;
      rec.started.length = 0;
      expectEnvelope(
        await t.request('POST', `/v1/events/${theirs.id}/redeliver`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('POST', `/v1/events/${mine.id}/redeliver`, {
          key: m.key,
          body: { endpointId: theirEndpoint },
        }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const off = (await create(m.key)).body.id;
      await t.request('PATCH', `/v1/webhook-endpoints/${off}`, { key: m.key, body: { enabled: false } });
      expectEnvelope(
        await t.request('POST', `/v1/events/${mine.id}/redeliver`, { key: m.key, body: { endpointId: off } }),
        409,
        'CONFLICT',
      );
      expectEnvelope(
        await t.request('POST', `/v1/events/${mine.id}/redeliver`, { key: m.key, body: { endpointId: 'x' } }),
        400,
        'VALIDATION_ERROR',
      );
      assert.equal(rec.started.length, 0, 'nothing started');
    });

    it('is secured', async () => {
      const e = await insertEvent(m.id);
      rec.started.length = 0;
      await expectSecured(t, m.id, { method: 'POST', path: `/v1/events/${e.id}/redeliver`, scope: SCOPE });
      assert.equal(rec.started.length, 0);
    });
  });

  describe('SSRF guard in development mode', () => {
    it('refuses private and metadata addresses and non-http schemes, allows loopback', async () => {
      expectRefusedUrl(await create(m.key, { url: 'http://10.0.0.1/hooks' }), /private/);
      expectRefusedUrl(
        await create(m.key, { url: 'http://169.254.169.254/latest/meta-data/' }),
        /cloud metadata/,
      );
      expectRefusedUrl(await create(m.key, { url: 'ftp://hooks.example.com/x' }), /scheme/);
      expectRefusedUrl(await create(m.key, { url: 'not a url' }), /valid/);
      expectRefusedUrl(await create(m.key, { url: 'http://user:pw@hooks.example.com/' }), /credentials/);
      for (const url of ['http://127.0.0.1:8080/h', 'http://[::1]:8080/h', 'http://rebind.example.com/h']) {
        const r = await create(m.key, { url });
        assert.equal(r.status, 201, `${url}: ${r.text}`);
      }
      const id = (await create(m.key)).body.id;
      expectRefusedUrl(
        await t.request('PATCH', `/v1/webhook-endpoints/${id}`, {
          key: m.key,
          body: { url: 'http://192.168.1.1/' },
        }),
        /private/,
      );
    });

    it('applies to a payment’s callbackUrl before anything starts', async () => {
      const send = (callbackUrl: string) =>
        t.request('POST', '/v1/payments/stk-push', {
          key: m.key,
          body: { phone: '254708374149', amount: 10, reference: 'INV1', callbackUrl },
        });
      expectRefusedUrl(await send('http://10.0.0.1/cb'), /private/);
      expectRefusedUrl(await send('http://169.254.169.254/cb'), /cloud metadata/);
      expectEnvelope(await send('ftp://hooks.example.com/cb'), 400, 'VALIDATION_ERROR');
      const payments = await t.db
        .selectFrom('payments')
        .select('id')
        .where('merchant_id', '=', m.id)
        .execute();
      assert.equal(payments.length, 0, 'no payment was created');
    });
  });

  describe('SSRF guard in production mode', () => {
    let prod: TestApp;
    let pm: TestMerchant;
    before(async () => {
      prod = await startTestApp({
        env: {
          MALIPO_MODE: 'production',
          MALIPO_PUBLIC_URL: 'https://pay.example.com',
          MALIPO_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
        },
        overrides: { webhookResolver: resolver, deliveryStarter: recordingStarter().starter },
      });
      pm = await prod.merchant('Prod shop');
    });
    after(() => prod.close());

    const createIn = (url: string) =>
      prod.request('POST', '/v1/webhook-endpoints', { key: pm.key, body: { url, events: ['*'] } });

    it('refuses 10.0.0.1, 169.254.169.254, [::1], a name resolving to 127.0.0.1, ftp:// and plain http', async () => {
      expectRefusedUrl(await createIn('https://10.0.0.1/hooks'), /private/);
      expectRefusedUrl(await createIn('https://169.254.169.254/latest/meta-data/'), /cloud metadata/);
      expectRefusedUrl(await createIn('https://[::1]/hooks'), /loopback/);
      expectRefusedUrl(
        await createIn('https://rebind.example.com/hooks'),
        /rebind\.example\.com resolves to a loopback/,
      );
      expectRefusedUrl(await createIn('ftp://hooks.example.com/hooks'), /scheme/);
      expectRefusedUrl(await createIn('http://hooks.example.com/hooks'), /https/);
      expectRefusedUrl(await createIn('https://localhost/hooks'), /loopback/);
      expectRefusedUrl(await createIn('https://[::ffff:10.0.0.1]/hooks'), /private/);
      expectRefusedUrl(await createIn('https://nowhere.example.com/hooks'), /does not resolve/);
      const ok = await createIn('https://hooks.example.com/hooks');
      assert.equal(ok.status, 201, ok.text);
      const all = await prod.request('GET', '/v1/webhook-endpoints', { key: pm.key });
      assert.equal(all.body.data.length, 1, 'nothing refused was saved');
    });

    it('refuses the same callbackUrls on a payment', async () => {
      const send = (callbackUrl: string) =>
        prod.request('POST', '/v1/payments/stk-push', {
          key: pm.key,
          body: { phone: '254708374149', amount: 10, reference: 'INV1', callbackUrl },
        });
      expectRefusedUrl(await send('https://rebind.example.com/cb'), /loopback/);
      expectRefusedUrl(await send('https://[::1]/cb'), /loopback/);
      expectRefusedUrl(await send('http://hooks.example.com/cb'), /https/);
    });
  });
});

describe('MALIPO_WEBHOOK_SCHEDULE_SCALE', () => {
  it('defaults to 1, accepts (0, 1] in development and is refused in production mode', () => {
    assert.equal(loadConfig({}).MALIPO_WEBHOOK_SCHEDULE_SCALE, 1);
    assert.equal(loadConfig({ MALIPO_WEBHOOK_SCHEDULE_SCALE: '0.001' }).MALIPO_WEBHOOK_SCHEDULE_SCALE, 0.001);
    assert.throws(() => loadConfig({ MALIPO_WEBHOOK_SCHEDULE_SCALE: '0' }), ConfigError);
    assert.throws(() => loadConfig({ MALIPO_WEBHOOK_SCHEDULE_SCALE: '2' }), ConfigError);
    const prod = {
      MALIPO_MODE: 'production',
      MALIPO_PUBLIC_URL: 'https://pay.example.com',
      MALIPO_ENCRYPTION_KEY: 'a'.repeat(64),
    };
    assert.equal(loadConfig(prod).MALIPO_WEBHOOK_SCHEDULE_SCALE, 1);
    assert.throws(
      () => loadConfig({ ...prod, MALIPO_WEBHOOK_SCHEDULE_SCALE: '0.5' }),
      /MALIPO_WEBHOOK_SCHEDULE_SCALE: a test-only setting/,
    );
  });
});
