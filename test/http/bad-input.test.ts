/**
 * Hostile input never answers 500: deeply nested JSON (merchant routes 400, Daraja hooks acknowledged
 * and logged) and date filters outside what the databases hold (400), on PGlite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { c2bHookPath } from '../../src/c2b/urls';
import { callbackSecretOf } from '../../src/http/app';
import { MAX_BODY_DEPTH } from '../../src/http/middleware/json-depth';
import { jsonDepth } from '../../src/http/schemas';
import { createLogger } from '../../src/logger';
import { lookupResultPath } from '../../src/lookups/hook';
import { stkCallbackPath } from '../../src/payments/callback-token';
import { payoutCallbackPath } from '../../src/payouts/callback-paths';
import { testDatabases } from '../helpers/db';
import { expectEnvelope, startTestApp, type TestApp, type TestMerchant } from '../helpers/http';

/** 10,000 nested arrays: 20 kB, well inside the 64 KiB body limit. */
const DEEP = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;

/** The first `details` entry of an error envelope. */
function firstIssue(b: { error: { details?: unknown[] } }): { path?: string; code?: string } {
  return (b.error.details?.[0] ?? {}) as { path?: string; code?: string };
}

/** `{"a":{"a":…{"a":1}}}` with `levels` objects. */
function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

describe('jsonDepth', () => {
  it('counts objects and arrays, stops past the limit, and survives any depth', () => {
    assert.equal(jsonDepth(1, 5), 0);
    assert.equal(jsonDepth({}, 5), 1);
    assert.equal(jsonDepth({ a: [1, { b: null }] }, 5), 3);
    assert.equal(jsonDepth(nested(5), 5), 5);
    assert.equal(jsonDepth(nested(6), 5), 6);
    assert.equal(jsonDepth(JSON.parse(DEEP), 32), 33, 'stops one past the limit');
    assert.equal(jsonDepth(JSON.parse(DEEP), 100_000), 10_000);
  });
});

for (const database of testDatabases()) {
  describe(`bad input on ${database.name}`, () => {
    let t: TestApp;
    let m: TestMerchant;
    let secret: string;
    const lines: string[] = [];

    before(async () => {
      t = await startTestApp({
        db: await database.open(),
        logger: createLogger('info', { write: (l) => void lines.push(l) }),
      });
      m = await t.merchant('Shop');
      secret = callbackSecretOf(t.config, t.secretBox);
    });
    after(async () => {
      await t.close();
      await t.handle.close();
    });

    describe('deeply nested JSON on merchant routes', () => {
      const deepMetadata = `{"phone":"0708374149","amount":10,"metadata":{"a":${DEEP}}}`;

      it('payment creation: 10,000 levels inside metadata is 400, not 500', async () => {
        const r = await t.request('POST', '/v1/payments/stk-push', { key: m.key, raw: deepMetadata });
        expectEnvelope(r, 400, 'VALIDATION_ERROR');
      });

      it('payout creation: the same', async () => {
        const r = await t.request('POST', '/v1/payouts', { key: m.key, raw: deepMetadata });
        expectEnvelope(r, 400, 'VALIDATION_ERROR');
      });

      it('metadata may nest 5 levels (the object itself is one), not 6', async () => {
        const six = await t.request('POST', '/v1/payments/stk-push', {
          key: m.key,
          body: { phone: '0708374149', amount: 10, metadata: nested(6) },
        });
        const b = expectEnvelope(six, 400, 'VALIDATION_ERROR');
        assert.deepEqual(b.error.details, [
          {
            path: 'metadata',
            message: 'metadata may nest objects and arrays at most 5 levels deep',
            code: 'custom',
          },
        ]);
        const payout = await t.request('POST', '/v1/payouts', {
          key: m.key,
          body: { phone: '0708374149', amount: 10, metadata: nested(6) },
        });
        assert.ok(
          JSON.stringify(expectEnvelope(payout, 400, 'VALIDATION_ERROR').error.details).includes('5 levels'),
        );
        // five levels pass validation: the request goes on and fails only for want of a channel
        const five = await t.request('POST', '/v1/payments/stk-push', {
          key: m.key,
          body: { phone: '0708374149', amount: 10, metadata: nested(5) },
        });
        assert.notEqual(five.status, 500, five.text);
        assert.ok(!five.text.includes('levels deep'), five.text);
      });

      it('any route: a body nested beyond the limit is 400 before it reaches the route', async () => {
        for (const [method, path] of [
          ['POST', '/v1/keys'],
          ['POST', '/v1/webhook-endpoints'],
          ['POST', '/v1/channels'],
          ['POST', '/v1/payment-links'],
        ] as const) {
          const r = await t.request(method, path, { key: m.key, raw: `{"x":${DEEP}}` });
          const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
          assert.equal(firstIssue(b).code, 'too_deep', path);
        }
        const ok = await t.request('POST', '/v1/keys', {
          key: m.key,
          raw: `{"scopes":["payments:read"],"label":"x","x":${JSON.stringify(nested(MAX_BODY_DEPTH - 1))}}`,
        });
        expectEnvelope(ok, 400, 'VALIDATION_ERROR'); // an unknown key, not the depth
        assert.notEqual(firstIssue(ok.body).code, 'too_deep');
      });
    });

    describe('deeply nested JSON on Daraja hooks', () => {
      it('every hook acknowledges, never 500, and logs the refusal without the token', async () => {
        const ch = await t.channel(m.id);
        const hooks: Array<[string, string]> = [
          ['stk', stkCallbackPath(secret, 'pay_3xK9mQ2vL8nR4tY7wZ1aB5')],
          ['b2c', payoutCallbackPath(secret, 'po_3xK9mQ2vL8nR4tY7wZ1aB5', 'result')],
          ['b2c', payoutCallbackPath(secret, 'po_3xK9mQ2vL8nR4tY7wZ1aB5', 'timeout')],
          ['lookup', lookupResultPath(secret, 'lkp_3xK9mQ2vL8nR4tY7wZ1aB5')],
          ['c2b', c2bHookPath(secret, ch.id, 'confirmation')],
          ['c2b', c2bHookPath(secret, ch.id, 'validation')],
        ];
        for (const [kind, path] of hooks) {
          const before = lines.length;
          const r = await t.request('POST', path, { raw: DEEP });
          assert.equal(r.status, 200, `${path}: ${r.text}`);
          assert.ok(r.body && 'ResultCode' in r.body, r.text);
          const logged = lines.slice(before).filter((l) => l.includes('nested too deeply'));
          assert.equal(logged.length, 1, `${path} logs the refusal`);
          assert.ok(logged[0]?.includes(`"hook":"${kind}"`), logged[0]);
          const token = path.split('/')[5] as string;
          assert.ok(!lines.slice(before).some((l) => l.includes(token)), 'the token is never logged');
        }
        // a wrong token is still a 404, deep body or not
        const wrong = await t.request('POST', '/hooks/daraja/stk/pay_3xK9mQ2vL8nR4tY7wZ1aB5/nottheone', {
          raw: DEEP,
        });
        expectEnvelope(wrong, 404, 'RESOURCE_NOT_FOUND');
      });
    });

    describe('dates in bodies', () => {
      it('a payment link expiry past year 9999 in UTC is 400, not 500; a key expiry in 9999 is fine', async () => {
        await t.channel(m.id, { isDefault: true });
        const body = { title: 'Order', amount: 10, expiresAt: '9999-12-31T23:59:59-23:59' };
        const created = await t.request('POST', '/v1/payment-links', { key: m.key, body });
        assert.equal(firstIssue(expectEnvelope(created, 400, 'VALIDATION_ERROR')).path, 'expiresAt');
        const ok = await t.request('POST', '/v1/payment-links', {
          key: m.key,
          body: { title: 'Order', amount: 10 },
        });
        assert.equal(ok.status, 201, ok.text);
        const patched = await t.request('PATCH', `/v1/payment-links/${ok.body.id}`, {
          key: m.key,
          body: { expiresAt: '9999-12-31T23:59:59-23:59' },
        });
        expectEnvelope(patched, 400, 'VALIDATION_ERROR');
        const key = await t.request('POST', '/v1/keys', {
          key: m.key,
          body: { scopes: ['payments:read'], expiresAt: '9999-12-31T23:59:59Z' },
        });
        assert.equal(key.status, 201, key.text);
      });
    });

    describe('date filters on lists', () => {
      const bad = [
        '0000-01-01T00:00:00Z',
        '0001-01-01T00:00:00Z',
        '1999-12-31T23:59:59Z',
        '2100-01-01T00:00:01Z',
        '9999-12-31T23:59:59-23:59',
        '275760-09-13T00:00:00Z',
        '+275760-09-13T00:00:00Z',
        '2024-02-30T00:00:00Z',
        '2024-13-01T00:00:00Z',
        'yesterday',
      ];

      for (const field of ['from', 'to']) {
        it(`GET /v1/payments?${field}= outside 2000..2100 or not a date is 400`, async () => {
          for (const d of bad) {
            const r = await t.request('GET', `/v1/payments?${field}=${encodeURIComponent(d)}`, {
              key: m.key,
            });
            const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
            assert.equal(firstIssue(b).path, field, d);
          }
        });
      }

      it('the edges of the range and offsets are accepted; from after to is 400', async () => {
        for (const q of [
          'from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z',
          'from=2025-01-01T03:00:00%2B03:00',
          'to=2099-12-31T23:59:59.999Z',
        ]) {
          const r = await t.request('GET', `/v1/payments?${q}`, { key: m.key });
          assert.equal(r.status, 200, `${q}: ${r.text}`);
        }
        const r = await t.request('GET', '/v1/payments?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z', {
          key: m.key,
        });
        const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
        assert.equal(firstIssue(b).path, 'to');
        // both bad at once: the from-before-to rule must not trip over the unparsed values
        for (const q of [
          'from=-1&to=-1',
          'from=yesterday&to=2025-01-01T00:00:00Z',
          'from=2025-01-01T00:00:00Z&to=0',
        ]) {
          expectEnvelope(
            await t.request('GET', `/v1/payments?${q}`, { key: m.key }),
            400,
            'VALIDATION_ERROR',
          );
        }
      });
    });
  });
}
