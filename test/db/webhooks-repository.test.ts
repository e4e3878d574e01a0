/** Webhook storage: endpoint CRUD and the SSRF check on save, secret rotation, deliveries, 5-day disable. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { DatabaseHandle } from '../../src/db';
import { SecretBox } from '../../src/platform/secret-box';
import { type Owner, WebhookRepository } from '../../src/webhooks/repository';
import { signDelivery } from '../../src/webhooks/signing';
import type { Resolver } from '../../src/webhooks/ssrf';
import { verifyWebhook } from '../../src/webhooks/verify';
import { testDatabases } from '../helpers/db';

const resolve: Resolver = async (h) => {
  if (h === 'hooks.example.com') return [{ address: '93.184.216.34', family: 4 }];
  if (h === 'rebind.example.com') return [{ address: '127.0.0.1', family: 4 }];
  throw new Error('ENOTFOUND');
};
const owner: Owner = { merchantId: 'mer_A', environment: 'test' };

async function insertEvent(
  h: DatabaseHandle,
  id: string,
  type = 'payment.success',
  paymentId = 'pay_1',
  version = 1,
) {
  const body = JSON.stringify({ id, type, created: 1751394302, data: { id: paymentId, status: 'success' } });
  await h.db
    .insertInto('events')
    .values({
      id,
      merchant_id: owner.merchantId,
      environment: owner.environment,
      type,
      payment_id: paymentId,
      payment_version: version,
      body,
    })
    .execute();
  return body;
}

for (const target of testDatabases()) {
  describe(`webhook repository (${target.name})`, () => {
    let h: DatabaseHandle;
    let clock = new Date('2026-01-01T00:00:00Z');
    let repo: WebhookRepository;
    before(async () => {
      h = await target.open();
      repo = new WebhookRepository(h.db, new SecretBox(crypto.randomBytes(32)), {
        mode: 'production',
        resolve,
        now: () => clock,
      });
    });
    after(async () => {
      await h?.close();
    });

    it('creates an endpoint, shows the secret once, and refuses unsafe URLs', async () => {
      const { endpoint, secret } = await repo.createEndpoint(owner, {
        url: 'https://hooks.example.com/mpesa',
        events: ['payment.success'],
        description: 'orders',
      });
      assert.match(endpoint.id, /^we_/);
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(JSON.stringify(endpoint).includes(secret), false);
      assert.equal(JSON.stringify(await repo.getEndpoint(owner, endpoint.id)).includes('whsec_'), false);
      for (const url of [
        'https://10.0.0.1/h',
        'https://rebind.example.com/h',
        'http://hooks.example.com/h',
        'gopher://x',
      ]) {
        await assert.rejects(repo.createEndpoint(owner, { url, events: ['*'] }), {
          code: 'VALIDATION_ERROR',
        });
      }
      await assert.rejects(
        repo.createEndpoint(owner, { url: 'https://hooks.example.com/', events: ['nope'] }),
        {
          code: 'VALIDATION_ERROR',
        },
      );
    });

    it('lists, gets, updates, disables, enables and deletes, scoped to merchant and environment', async () => {
      const a = await repo.createEndpoint(owner, { url: 'https://hooks.example.com/a', events: ['*'] });
      const list = await repo.listEndpoints(owner);
      assert.ok(list.some((e) => e.id === a.endpoint.id));
      await assert.rejects(repo.getEndpoint({ ...owner, environment: 'live' }, a.endpoint.id), {
        code: 'RESOURCE_NOT_FOUND',
      });
      await assert.rejects(repo.getEndpoint({ ...owner, merchantId: 'mer_B' }, a.endpoint.id), {
        code: 'RESOURCE_NOT_FOUND',
      });
      const u = await repo.updateEndpoint(owner, a.endpoint.id, {
        events: ['payment.failed'],
        description: 'x',
      });
      assert.deepEqual(u.events, ['payment.failed']);
      await assert.rejects(repo.updateEndpoint(owner, a.endpoint.id, { url: 'https://169.254.169.254/' }), {
        code: 'VALIDATION_ERROR',
      });
      const d = await repo.disableEndpoint(owner, a.endpoint.id);
      assert.equal(d.enabled, false);
      assert.equal(d.disabledReason, 'disabled by the merchant');
      const e = await repo.enableEndpoint(owner, a.endpoint.id);
      assert.equal(e.enabled, true);
      assert.equal(e.disabledReason, null);
      const page1 = await repo.listEndpoints(owner, { limit: 1 });
      assert.equal(page1.length, 1);
      const page2 = await repo.listEndpoints(owner, { limit: 10, startingAfter: page1[0]!.id });
      assert.ok(!page2.some((x) => x.id === page1[0]!.id));
      await repo.deleteEndpoint(owner, a.endpoint.id);
      await assert.rejects(repo.getEndpoint(owner, a.endpoint.id), { code: 'RESOURCE_NOT_FOUND' });
    });

    it('rotation: both secrets verify during the 24 h overlap, only the new one after', async () => {
      clock = new Date('2026-01-02T00:00:00Z');
      const { endpoint, secret: oldSecret } = await repo.createEndpoint(owner, {
        url: 'https://hooks.example.com/rot',
        events: ['*'],
      });
      const { secret: newSecret, endpoint: rotated } = await repo.rotateSecret(owner, endpoint.id);
      assert.notEqual(newSecret, oldSecret);
      assert.equal(rotated.previousSecretExpiresAt, '2026-01-03T00:00:00.000Z');
      const signAt = async (at: Date) => {
        clock = at;
        const row = await h.db
          .selectFrom('webhook_endpoints')
          .select('secrets')
          .where('id', '=', endpoint.id)
          .executeTakeFirstOrThrow();
        const body = '{"id":"evt_rot","type":"payment.success","created":1,"data":{}}';
        const t = Math.floor(at.getTime() / 1000);
        const headers = signDelivery({
          eventId: 'evt_rot',
          eventType: 'payment.success',
          body,
          timestamp: t,
          secrets: repo.activeSecrets(row, at),
        });
        return (secret: string) => {
          try {
            verifyWebhook(body, headers, secret, { now: t });
            return true;
          } catch {
            return false;
          }
        };
      };
      const during = await signAt(new Date('2026-01-02T23:59:00Z'));
      assert.equal(during(newSecret), true);
      assert.equal(during(oldSecret), true);
      const afterOverlap = await signAt(new Date('2026-01-03T00:00:01Z'));
      assert.equal(afterOverlap(newSecret), true);
      assert.equal(afterOverlap(oldSecret), false);
      assert.equal((await repo.getEndpoint(owner, endpoint.id)).previousSecretExpiresAt, null);
      // the standardwebhooks package agrees during the overlap (it checks against the real clock)
      clock = new Date();
      const row = await h.db
        .selectFrom('webhook_endpoints')
        .select('secrets')
        .where('id', '=', endpoint.id)
        .executeTakeFirstOrThrow();
      const body = '{"id":"evt_rot"}';
      const headers = signDelivery({
        eventId: 'evt_rot',
        eventType: 'payment.success',
        body,
        timestamp: Math.floor(Date.now() / 1000),
        secrets: repo.activeSecrets(row, new Date('2026-01-02T12:00:00Z')),
      });
      assert.doesNotThrow(() => new Webhook(oldSecret).verify(body, headers));
      assert.doesNotThrow(() => new Webhook(newSecret).verify(body, headers));
    });

    it('plans deliveries to matching endpoints once, and redelivers with the same event id', async () => {
      clock = new Date('2026-02-01T00:00:00Z');
      const o2: Owner = { merchantId: 'mer_plan', environment: 'test' };
      const repo2 = new WebhookRepository(h.db, new SecretBox(crypto.randomBytes(32)), {
        mode: 'production',
        resolve,
        now: () => clock,
      });
      const all = await repo2.createEndpoint(o2, { url: 'https://hooks.example.com/all', events: ['*'] });
      const failedOnly = await repo2.createEndpoint(o2, {
        url: 'https://hooks.example.com/f',
        events: ['payment.failed'],
      });
      const off = await repo2.createEndpoint(o2, { url: 'https://hooks.example.com/off', events: ['*'] });
      await repo2.disableEndpoint(o2, off.endpoint.id);
      await h.db
        .insertInto('events')
        .values({
          id: 'evt_plan',
          merchant_id: o2.merchantId,
          environment: 'test',
          type: 'payment.success',
          payment_id: 'pay_plan',
          payment_version: 1,
          body: '{"id":"evt_plan"}',
        })
        .execute();
      const refs = await repo2.planDeliveries('evt_plan');
      assert.deepEqual(
        refs.map((r) => r.workflowId),
        [`whk:evt_plan:${all.endpoint.id}`],
      );
      assert.deepEqual(await repo2.planDeliveries('evt_plan'), refs, 'idempotent');
      const again = await repo2.createRedelivery(o2, 'evt_plan');
      assert.deepEqual(
        again.map((r) => r.workflowId),
        [`whk:evt_plan:${all.endpoint.id}:r1`],
      );
      const one = await repo2.createRedelivery(o2, 'evt_plan', { endpointId: failedOnly.endpoint.id });
      assert.deepEqual(
        one.map((r) => r.workflowId),
        [`whk:evt_plan:${failedOnly.endpoint.id}`],
      );
      await assert.rejects(repo2.createRedelivery(o2, 'evt_plan', { endpointId: off.endpoint.id }), {
        code: 'CONFLICT',
      });
      const deliveries = await repo2.listDeliveries(o2, 'evt_plan');
      assert.equal(deliveries.length, 3);
      assert.ok(deliveries.every((d) => d.eventId === 'evt_plan' && d.status === 'pending'));
      await assert.rejects(repo2.listDeliveries(owner, 'evt_plan'), { code: 'RESOURCE_NOT_FOUND' });
    });

    it('lists events by type and payment', async () => {
      await insertEvent(h, 'evt_l1', 'payment.success', 'pay_L', 1);
      await insertEvent(h, 'evt_l2', 'payment.failed', 'pay_M', 1);
      const byType = await repo.listEvents(owner, { type: 'payment.failed' });
      assert.deepEqual(
        byType.map((e) => e.id),
        ['evt_l2'],
      );
      const byPayment = await repo.listEvents(owner, { paymentId: 'pay_L' });
      assert.deepEqual(
        byPayment.map((e) => e.id),
        ['evt_l1'],
      );
      const e = await repo.getEvent(owner, 'evt_l1');
      assert.equal(e.type, 'payment.success');
      assert.deepEqual(e.data, { id: 'pay_L', status: 'success' });
    });

    it('disables an endpoint failing continuously for 5 days, and a success resets the run', async () => {
      clock = new Date('2026-03-01T00:00:00Z');
      const { endpoint } = await repo.createEndpoint(owner, {
        url: 'https://hooks.example.com/down',
        events: ['*'],
      });
      await insertEvent(h, 'evt_down');
      const ref = (await repo.planDeliveries('evt_down')).find((r) => r.workflowId.endsWith(endpoint.id));
      const fail = (attempt: number, at: Date) =>
        repo.recordAttempt(ref!.deliveryId, {
          attempt,
          at,
          url: endpoint.url,
          ok: false,
          statusCode: 500,
          latencyMs: 3,
          responseSnippet: 'boom',
        });
      assert.deepEqual(await fail(1, new Date('2026-03-01T00:00:00Z')), {});
      // a success in between resets the run
      await repo.recordAttempt(ref!.deliveryId, {
        attempt: 2,
        at: new Date('2026-03-03T00:00:00Z'),
        url: endpoint.url,
        ok: true,
        statusCode: 200,
        latencyMs: 3,
        responseSnippet: '',
      });
      assert.deepEqual(await fail(3, new Date('2026-03-06T00:00:00Z')), {});
      assert.deepEqual(await fail(4, new Date('2026-03-10T23:00:00Z')), {});
      const r = await fail(5, new Date('2026-03-11T00:00:00Z'));
      assert.match(
        r.endpointDisabled ?? '',
        /every delivery failed since 2026-03-06T00:00:00.000Z \(5 days\); last: HTTP 500/,
      );
      const ep = await repo.getEndpoint(owner, endpoint.id);
      assert.equal(ep.enabled, false);
      assert.match(ep.disabledReason ?? '', /5 days/);
      const ctx = await repo.attemptContext(ref!.deliveryId);
      assert.equal(ctx.kind, 'skip');
      const d = await repo.getDelivery(ref!.deliveryId);
      assert.equal(d.attempts, 5);
      assert.equal(d.attemptLog?.length, 5);
      assert.equal(d.attemptLog?.[0]?.responseSnippet, 'boom');
    });
  });
}
