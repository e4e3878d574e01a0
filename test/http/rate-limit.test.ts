/** Per-key rate limits: 60/min on creation, 120/min else, 429 with Retry-After, shared through PostgreSQL. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import type { DatabaseHandle } from '../../src/db';
import { MemoryRateLimitStore, PostgresRateLimitStore } from '../../src/http/middleware/rate-limit';
import { defineRoute } from '../../src/http/route';
import { testDatabases } from '../helpers/db';
import { expectEnvelope, startTestApp, type TestApp, type TestMerchant } from '../helpers/http';

/** A stand-in for POST /v1/payments: later payment routes declare `rateLimit: 'creation'` the same way. */
const createThing = defineRoute({
  method: 'post',
  path: '/test/payments',
  scope: 'payments:create',
  rateLimit: 'creation',
  summary: 'test: a creation route',
  responses: { 201: { description: 'created', schema: z.object({ ok: z.literal(true) }) } },
  handler: ({ reply }) => reply(201, { ok: true }),
});

const WINDOW = 60_000;
const T0 = 1_700_000_040_000; // 0 s into a minute window (a multiple of 60 000)

describe('rate limits (in memory)', () => {
  let t: TestApp;
  let m: TestMerchant;
  let now = T0 + 10_000;

  before(async () => {
    t = await startTestApp({ extraRoutes: [createThing], rateLimit: { now: () => now } });
    m = await t.merchant();
  });
  after(() => t.close());

  it('answers 429 with Retry-After on the 61st creation request in a minute', async () => {
    for (let i = 1; i <= 60; i++) {
      const r = await t.request('POST', '/test/payments', { key: m.key });
      assert.equal(r.status, 201, `request ${i}`);
      assert.equal(r.headers.get('ratelimit-limit'), '60');
      assert.equal(r.headers.get('ratelimit-remaining'), String(60 - i));
      assert.equal(r.headers.get('ratelimit-reset'), '50');
    }
    const r = await t.request('POST', '/test/payments', { key: m.key });
    expectEnvelope(r, 429, 'RATE_LIMIT_EXCEEDED');
    assert.equal(r.headers.get('retry-after'), '50');
    assert.equal(r.headers.get('ratelimit-remaining'), '0');

    // other routes count separately, at 120 a minute
    const other = await t.request('GET', '/v1/channels', { key: m.key });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('ratelimit-limit'), '120');
    // other keys are not affected
    const k2 = await t.key(m.id, ['payments:create']);
    assert.equal((await t.request('POST', '/test/payments', { key: k2.key })).status, 201);
    // the next window starts afresh
    now = T0 + WINDOW + 1;
    assert.equal((await t.request('POST', '/test/payments', { key: m.key })).status, 201);
  });

  it('limits the other routes at 120 a minute', async () => {
    now = T0 + 5 * WINDOW;
    const k = await t.key(m.id, ['channels:read']);
    for (let i = 1; i <= 120; i++) {
      assert.equal((await t.request('GET', '/v1/channels', { key: k.key })).status, 200);
    }
    const r = await t.request('GET', '/v1/channels', { key: k.key });
    expectEnvelope(r, 429, 'RATE_LIMIT_EXCEEDED');
    assert.equal(r.headers.get('retry-after'), '60');
  });

  it('unauthenticated requests are refused before they count', async () => {
    now = T0 + 7 * WINDOW;
    expectEnvelope(await t.request('POST', '/test/payments'), 401, 'UNAUTHORIZED');
  });
});

describe('rate limits are configurable', () => {
  it('MALIPO_RATE_LIMIT_CREATE_PER_MINUTE and MALIPO_RATE_LIMIT_PER_MINUTE', async () => {
    const t = await startTestApp({
      extraRoutes: [createThing],
      env: { MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: '3', MALIPO_RATE_LIMIT_PER_MINUTE: '4' },
      rateLimit: { store: new MemoryRateLimitStore(), now: () => T0 },
    });
    try {
      const m = await t.merchant();
      for (let i = 0; i < 3; i++)
        assert.equal((await t.request('POST', '/test/payments', { key: m.key })).status, 201);
      expectEnvelope(await t.request('POST', '/test/payments', { key: m.key }), 429, 'RATE_LIMIT_EXCEEDED');
      for (let i = 0; i < 4; i++)
        assert.equal((await t.request('GET', '/v1/keys', { key: m.key })).status, 200);
      expectEnvelope(await t.request('GET', '/v1/keys', { key: m.key }), 429, 'RATE_LIMIT_EXCEEDED');
    } finally {
      await t.close();
    }
  });
});

for (const database of testDatabases()) {
  describe(`rate limits shared through the database (${database.name})`, () => {
    let handle: DatabaseHandle;
    before(async () => {
      handle = await database.open();
    });
    after(() => handle.close());

    it('counts atomically under concurrent hits', async () => {
      const store = new PostgresRateLimitStore(handle.db);
      const counts = await Promise.all(
        Array.from({ length: 40 }, () => store.hit('key_a:creation', T0, WINDOW)),
      );
      assert.deepEqual(
        [...counts].sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      assert.equal(await store.hit('key_a:creation', T0 + WINDOW, WINDOW), 1, 'a new window starts at 1');
      assert.equal(await store.hit('key_b:creation', T0, WINDOW), 1, 'buckets are independent');
    });

    it('two API processes on one database share the limit: the 61st creation request is refused', async () => {
      const now = () => T0 + 30_000;
      const a = await startTestApp({
        db: handle,
        extraRoutes: [createThing],
        env: { MALIPO_RATE_LIMIT_STORE: 'postgres' },
        rateLimit: { now },
      });
      // a second app on the same database, as another process would be
      const b = await startTestApp({
        db: handle,
        extraRoutes: [createThing],
        rateLimit: { store: new PostgresRateLimitStore(handle.db), now },
      });
      try {
        const m = await a.merchant();
        const results = [];
        for (let i = 0; i < 60; i++) {
          const app = i % 2 === 0 ? a : b;
          results.push((await app.request('POST', '/test/payments', { key: m.key })).status);
        }
        assert.ok(results.every((s) => s === 201));
        const r = await b.request('POST', '/test/payments', { key: m.key });
        expectEnvelope(r, 429, 'RATE_LIMIT_EXCEEDED');
        assert.equal(r.headers.get('retry-after'), '30');
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('sweeps windows that have ended', async () => {
      const store = new PostgresRateLimitStore(handle.db, 0);
      await store.hit('old', T0 - 10 * WINDOW, WINDOW);
      await store.hit('new', T0 + 20 * WINDOW, WINDOW);
      const rows = await handle.db
        .selectFrom('rate_limit_windows')
        .select('bucket')
        .where('bucket', '=', 'old')
        .execute();
      assert.equal(rows.length, 0);
    });
  });
}
