/** The one error envelope: every code in the issue from a real request, headers on every response, logging. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode, MalipoError } from '../../src/domain/errors';
import { parseAmount } from '../../src/domain/money';
import { normalizePhone } from '../../src/domain/phone';
import { defineRoute } from '../../src/http/route';
import { createLogger } from '../../src/logger';
import { expectEnvelope, startTestApp, type TestApp, type TestMerchant } from '../helpers/http';

/** Test-only routes: a payment-like body check, a route that throws, and one that raises any code. */
const echo = defineRoute({
  method: 'post',
  path: '/test/echo',
  scope: 'payments:create',
  summary: 'test: validates a payment-like body',
  request: { body: z.object({ phone: z.string(), amount: z.number() }) },
  responses: { 200: { description: 'ok', schema: z.object({ phone: z.string(), amount: z.number() }) } },
  handler: ({ body, reply }) => {
    const phone = normalizePhone(body.phone);
    if (!phone.ok) {
      throw new MalipoError('INVALID_PHONE_NUMBER', phone.reason, {
        details: [{ path: 'phone', message: phone.reason, code: 'invalid_phone' }],
      });
    }
    const amount = parseAmount(body.amount);
    if (!amount.ok) throw new MalipoError('INVALID_AMOUNT', amount.reason);
    return reply(200, { phone: phone.msisdn, amount: amount.amount });
  },
});

const boom = defineRoute({
  method: 'get',
  path: '/test/boom',
  scope: null,
  summary: 'test: throws an unexpected error',
  responses: { 200: { description: 'never' } },
  handler: () => {
    throw new Error('connection to 10.0.0.5:5432 refused; password=hunter2');
  },
});

const raise = defineRoute({
  method: 'get',
  path: '/test/raise/:code',
  scope: null,
  summary: 'test: answers with the given error code',
  request: { params: z.object({ code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode]) }) },
  responses: { 200: { description: 'never' } },
  handler: ({ params }) => {
    throw new MalipoError(params.code, `raised ${params.code}`, {
      ...(params.code === 'UPSTREAM_ERROR'
        ? { details: [{ path: 'daraja', message: 'Invalid Access Token', code: '404.001.03' }] }
        : {}),
    });
  },
});

describe('the error envelope', () => {
  let t: TestApp;
  let m: TestMerchant;
  const lines: string[] = [];

  before(async () => {
    t = await startTestApp({
      extraRoutes: [echo, boom, raise],
      logger: createLogger('info', { write: (l) => lines.push(l) }),
    });
    m = await t.merchant();
  });
  after(() => t.close());

  it('VALIDATION_ERROR lists each bad field', async () => {
    const r = await t.request('POST', '/test/echo', { key: m.key, body: { phone: 7 } });
    const b = expectEnvelope(r, 400, 'VALIDATION_ERROR');
    assert.equal(b.message, b.error.message);
    const paths = (b.error.details as Array<{ path: string; code: string; message: string }>).map(
      (d) => d.path,
    );
    assert.deepEqual(paths.sort(), ['amount', 'phone']);
  });

  it('INVALID_PHONE_NUMBER and INVALID_AMOUNT', async () => {
    const p = await t.request('POST', '/test/echo', { key: m.key, body: { phone: '12345', amount: 10 } });
    assert.equal(expectEnvelope(p, 400, 'INVALID_PHONE_NUMBER').error.details?.length, 1);
    const a = await t.request('POST', '/test/echo', {
      key: m.key,
      body: { phone: '0712345678', amount: -3 },
    });
    expectEnvelope(a, 400, 'INVALID_AMOUNT');
    const ok = await t.request('POST', '/test/echo', {
      key: m.key,
      body: { phone: '0712345678', amount: 10 },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { phone: '254712345678', amount: 10 });
  });

  it('MALFORMED_JSON for a body that is not JSON', async () => {
    const r = await t.request('POST', '/v1/channels', { key: m.key, raw: '{"type": "paybill",' });
    expectEnvelope(r, 400, 'MALFORMED_JSON');
  });

  it('PAYLOAD_TOO_LARGE for a 65 KiB body', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(65 * 1024) });
    assert.ok(Buffer.byteLength(big) > 64 * 1024);
    const r = await t.request('POST', '/v1/channels', { key: m.key, raw: big });
    expectEnvelope(r, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('UNSUPPORTED_MEDIA_TYPE for a body that is not application/json', async () => {
    const r = await t.request('POST', '/v1/channels', {
      key: m.key,
      raw: 'type=paybill',
      contentType: 'application/x-www-form-urlencoded',
    });
    expectEnvelope(r, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('RESOURCE_NOT_FOUND for an unknown route', async () => {
    const r = await t.request('GET', '/v1/nothing-here');
    expectEnvelope(r, 404, 'RESOURCE_NOT_FOUND');
  });

  it('UNAUTHORIZED without a key, INVALID_API_KEY with a wrong one, MISSING_SCOPE naming the scope', async () => {
    expectEnvelope(await t.request('GET', '/v1/channels'), 401, 'UNAUTHORIZED');
    expectEnvelope(await t.request('GET', '/v1/channels', { key: 'mlp_test_nope' }), 401, 'INVALID_API_KEY');
    const reader = await t.key(m.id, ['payments:read']);
    const r = await t.request('GET', '/v1/channels', { key: reader.key });
    assert.match(expectEnvelope(r, 403, 'MISSING_SCOPE').error.message, /channels:read/);
  });

  it('INTERNAL_ERROR without internals', async () => {
    const r = await t.request('GET', '/test/boom');
    const b = expectEnvelope(r, 500, 'INTERNAL_ERROR');
    assert.doesNotMatch(r.text, /10\.0\.0\.5|hunter2|refused|at .*\.ts/);
    assert.ok(b.requestId.startsWith('req_'));
    // the log keeps the cause for the operator
    assert.ok(lines.some((l) => l.includes('connection to 10.0.0.5') && l.includes(b.requestId)));
  });

  it('every code in the table has its status and the envelope, UPSTREAM_ERROR with Daraja’s code', async () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const r = await t.request('GET', `/test/raise/${code}`);
      const b = expectEnvelope(r, status, code);
      if (code === 'UPSTREAM_ERROR') {
        assert.deepEqual(b.error.details, [
          { path: 'daraja', message: 'Invalid Access Token', code: '404.001.03' },
        ]);
      }
    }
    for (const code of ['IDEMPOTENCY_KEY_IN_USE', 'IDEMPOTENCY_KEY_MISMATCH', 'UPSTREAM_ERROR']) {
      assert.ok(code in ERROR_STATUS);
    }
  });

  it('every response carries x-request-id; a sane caller id is echoed', async () => {
    for (const path of ['/healthz', '/v1/channels', '/nope', '/openapi.json']) {
      const r = await t.request('GET', path);
      assert.match(r.headers.get('x-request-id') ?? '', /^req_/);
    }
    const r = await t.request('GET', '/healthz', { headers: { 'x-request-id': 'my-trace-12345' } });
    assert.equal(r.headers.get('x-request-id'), 'my-trace-12345');
  });

  it('security headers (helmet), no x-powered-by, no CORS', async () => {
    const r = await t.request('GET', '/v1/channels', {
      key: m.key,
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-powered-by'), null);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(r.headers.get('content-security-policy'));
    assert.ok(r.headers.get('strict-transport-security'));
  });

  it('request logs carry request id, route, status, duration and key id, never the key; phones masked', async () => {
    lines.length = 0;
    const r = await t.request('POST', '/test/echo?phone=0712345678', {
      key: m.key,
      body: { phone: '0712345678', amount: 10 },
    });
    assert.equal(r.status, 200);
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.req?.url?.startsWith('/test/echo'));
    assert.ok(line, lines.join('\n'));
    assert.equal(line.requestId, r.headers.get('x-request-id'));
    assert.equal(line.route, '/test/echo');
    assert.equal(line.res.statusCode, 200);
    assert.equal(typeof line.responseTime, 'number');
    assert.equal(line.keyId, m.keyId);
    const all = lines.join('\n');
    assert.ok(!all.includes(m.key), 'the key never appears in logs');
    assert.ok(!all.includes('712345678'), 'phone numbers are masked');
  });

  it('a Daraja hook URL is logged without its token', async () => {
    lines.length = 0;
    const token = 'S3cretT0kenThatMustNotBeLogged01';
    await t.request('POST', `/hooks/daraja/stk/pay_abcdefgh/${token}`, { body: {} });
    await t.request('POST', `/hooks/daraja/b2c/po_abcdefgh/${token}/result`, { body: {} });
    const urls = lines.map((l) => JSON.parse(l)).filter((l) => l.req?.url?.startsWith('/hooks/daraja/'));
    assert.deepEqual(
      [...new Set(urls.map((l) => l.req.url))],
      ['/hooks/daraja/stk/pay_abcdefgh/[token]', '/hooks/daraja/b2c/po_abcdefgh/[token]/result'],
    );
    assert.ok(!lines.join('\n').includes(token), 'the token never appears in logs');
  });
});
