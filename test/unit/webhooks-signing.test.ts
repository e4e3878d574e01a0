/** Both signature schemes: checked with the standardwebhooks package, paylod's documented algorithm, and verifyWebhook. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signDelivery } from '../../src/webhooks/signing';
import { verifyWebhook, WebhookVerificationError } from '../../src/webhooks/verify';

const body = JSON.stringify({
  id: 'evt_3xK9aB',
  type: 'payment.success',
  created: 1751394302,
  data: { id: 'pay_1', amount: 10, description: 'Chai ☕ na mandazi' },
});
const now = () => Math.floor(Date.now() / 1000);

/**
 * paylod's verifier, re-implemented from its documentation (seeds/002): split on "," and "=",
 * HMAC-SHA256 keyed by the secret over `${t}.${rawBody}`, hex, constant-time compare with v1,
 * reject when now - t > 300.
 */
function paylodVerify(headers: Record<string, string>, rawBody: string, secret: string): boolean {
  const header = headers['x-webhook-signature']!;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('='))) as Record<string, string>;
  const signed = `${parts.t}.${rawBody}`;
  const expected = crypto.createHmac('sha256', secret).update(signed).digest('hex');
  const a = Buffer.from(expected);
  const b = Buffer.from(parts.v1!);
  const ok = a.length === b.length && crypto.timingSafeEqual(a, b);
  return ok && Date.now() / 1000 - Number(parts.t) <= 300;
}

describe('signDelivery', () => {
  const secret = generateWebhookSecret();

  it('sends both header sets, with the event id as the id on every attempt', () => {
    const h = signDelivery({
      eventId: 'evt_3xK9aB',
      eventType: 'payment.success',
      body,
      timestamp: now(),
      secrets: [secret],
    });
    assert.equal(h['x-webhook-id'], 'evt_3xK9aB');
    assert.equal(h['webhook-id'], 'evt_3xK9aB');
    assert.equal(h['x-webhook-event'], 'payment.success');
    assert.match(h['x-webhook-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.match(h['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.equal(
      h['webhook-timestamp'],
      h['x-webhook-signature'].slice(2, h['x-webhook-signature'].indexOf(',')),
    );
  });

  it('verifies with the standardwebhooks package', () => {
    const h = signDelivery({
      eventId: 'evt_3xK9aB',
      eventType: 'payment.success',
      body,
      timestamp: now(),
      secrets: [secret],
    });
    const event = new Webhook(secret).verify(body, h) as { id: string };
    assert.equal(event.id, 'evt_3xK9aB');
    assert.throws(() => new Webhook(generateWebhookSecret()).verify(body, h));
    assert.throws(() => new Webhook(secret).verify(body.replace('10', '11'), h));
  });

  it("verifies with paylod's documented algorithm", () => {
    const h = signDelivery({
      eventId: 'evt_3xK9aB',
      eventType: 'payment.success',
      body,
      timestamp: now(),
      secrets: [secret],
    });
    assert.equal(paylodVerify(h, body, secret), true);
    assert.equal(paylodVerify(h, body, generateWebhookSecret()), false);
    assert.equal(paylodVerify(h, `${body} `, secret), false);
  });

  it('matches the standardwebhooks reference signer byte for byte', () => {
    const t = 1751394302;
    const h = signDelivery({
      eventId: 'evt_3xK9aB',
      eventType: 'payment.success',
      body,
      timestamp: t,
      secrets: [secret],
    });
    assert.equal(h['webhook-signature'], new Webhook(secret).sign('evt_3xK9aB', new Date(t * 1000), body));
  });

  it('signs with every active secret while a rotation overlaps', () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const h = signDelivery({
      eventId: 'evt_3xK9aB',
      eventType: 'payment.success',
      body,
      timestamp: now(),
      secrets: [newSecret, oldSecret],
    });
    assert.equal(h['webhook-signature'].split(' ').length, 2);
    assert.equal(h['x-webhook-signature'].split(',').filter((p) => p.startsWith('v1=')).length, 2);
    for (const s of [newSecret, oldSecret]) {
      assert.doesNotThrow(() => new Webhook(s).verify(body, h));
      assert.equal(verifyWebhook(body, h, s).id, 'evt_3xK9aB');
      const paylodOnly = { 'x-webhook-signature': h['x-webhook-signature'] };
      assert.equal(verifyWebhook(body, paylodOnly, s).id, 'evt_3xK9aB');
    }
  });
});

describe('verifyWebhook', () => {
  const secret = generateWebhookSecret();
  const t = now();
  const headers = signDelivery({
    eventId: 'evt_3xK9aB',
    eventType: 'payment.success',
    body,
    timestamp: t,
    secrets: [secret],
  });
  const standardOnly = {
    'webhook-id': headers['webhook-id'],
    'webhook-timestamp': headers['webhook-timestamp'],
    'webhook-signature': headers['webhook-signature'],
  };
  const paylodOnly = {
    'x-webhook-id': headers['x-webhook-id'],
    'x-webhook-event': headers['x-webhook-event'],
    'x-webhook-signature': headers['x-webhook-signature'],
  };

  it('accepts either scheme, from a string, a Buffer, or fetch Headers', () => {
    assert.equal(verifyWebhook(body, standardOnly, secret).type, 'payment.success');
    assert.equal(verifyWebhook(Buffer.from(body), paylodOnly, secret).type, 'payment.success');
    assert.equal(verifyWebhook(body, new Headers(headers), secret).id, 'evt_3xK9aB');
    // Node lower-cases names, but other frameworks may not
    assert.equal(
      verifyWebhook(
        body,
        {
          'Webhook-Id': 'evt_3xK9aB',
          'Webhook-Timestamp': String(t),
          'Webhook-Signature': headers['webhook-signature'],
        },
        secret,
      ).id,
      'evt_3xK9aB',
    );
  });

  it('rejects a tampered body, a wrong secret and a changed id', () => {
    for (const h of [standardOnly, paylodOnly, headers]) {
      assert.throws(() => verifyWebhook(body.replace('10', '99'), h, secret), WebhookVerificationError);
      assert.throws(() => verifyWebhook(body, h, generateWebhookSecret()), WebhookVerificationError);
    }
    assert.throws(
      () => verifyWebhook(body, { ...standardOnly, 'webhook-id': 'evt_other' }, secret),
      /no webhook-signature matches/,
    );
  });

  it('rejects stale and future timestamps, and honours toleranceSeconds', () => {
    for (const h of [standardOnly, paylodOnly]) {
      assert.throws(() => verifyWebhook(body, h, secret, { now: t + 301 }), /too old/);
      assert.throws(() => verifyWebhook(body, h, secret, { now: t - 301 }), /in the future/);
      assert.equal(verifyWebhook(body, h, secret, { now: t + 301, toleranceSeconds: 600 }).id, 'evt_3xK9aB');
    }
  });

  it('rejects a re-signed stale timestamp: the timestamp is part of the signed content', () => {
    const forged = {
      ...paylodOnly,
      'x-webhook-signature': headers['x-webhook-signature'].replace(/^t=\d+/, `t=${t + 1}`),
    };
    assert.throws(() => verifyWebhook(body, forged, secret), /no x-webhook-signature v1 matches/);
  });

  it('rejects missing headers and parsed bodies with a clear message', () => {
    assert.throws(() => verifyWebhook(body, {}, secret), /no webhook-signature or x-webhook-signature/);
    assert.throws(
      () => verifyWebhook(JSON.parse(body) as unknown as string, headers, secret),
      /raw request body/,
    );
  });
});
