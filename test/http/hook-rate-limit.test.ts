/**
 * The Daraja hooks' rate limit: requests without a valid token are refused with 429 once their
 * address has spent its small budget (before the route runs), while every request carrying a valid
 * token for a payment, payout, lookup or channel is still accepted from that same address, never
 * counted and never refused.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { c2bHookPath, c2bToken } from '../../src/c2b';
import { errorHandler } from '../../src/http/errors';
import { callbackSecretOf } from '../../src/http/app';
import { HOOK_INVALID_PER_MINUTE, hookRateLimit, validHookOf } from '../../src/http/hooks';
import {
  MemoryRateLimitStore,
  PostgresRateLimitStore,
  type RateLimitStore,
} from '../../src/http/middleware/rate-limit';
import { lookupResultPath } from '../../src/lookups/hook';
import { callbackToken, stkCallbackPath } from '../../src/payments/callback-token';
import { payoutCallbackPath } from '../../src/payouts/callback-paths';
import type { DatabaseHandle } from '../../src/db';
import { testDatabases } from '../helpers/db';
import { expectEnvelope, startTestApp, type TestApp } from '../helpers/http';

const T0 = 1_700_000_040_000; // 0 s into a minute window

const confirmation = (transId: string) => ({
  TransactionType: 'Pay Bill',
  TransID: transId,
  TransTime: '20240101153012',
  TransAmount: '250.00',
  BusinessShortCode: '600984',
  BillRefNumber: 'INV0042',
  InvoiceNumber: '',
  OrgAccountBalance: '10250.00',
  ThirdPartyTransID: '',
  MSISDN: '2547 ***** 149',
  FirstName: 'JANE',
  MiddleName: '',
  LastName: '',
});

/** The in-memory store, and the shared (PostgreSQL-protocol) store on each test database. */
const cases = [
  {
    name: 'in memory',
    db: testDatabases()[0]!,
    store: (_h: DatabaseHandle): RateLimitStore => new MemoryRateLimitStore(),
  },
  ...testDatabases().map((db) => ({
    name: `shared through ${db.name}`,
    db,
    store: (h: DatabaseHandle): RateLimitStore => new PostgresRateLimitStore(h.db),
  })),
];

for (const c of cases)
  describe(`hook rate limit through the app (${c.name})`, () => {
    let t: TestApp;
    let handle: DatabaseHandle;
    let secret: string;
    let now = T0 + 5_000;

    before(async () => {
      handle = await c.db.open();
      t = await startTestApp({
        db: handle,
        rateLimit: { now: () => now, store: c.store(handle) },
        overrides: { deliveryStarter: { start: async () => undefined } },
      });
      secret = callbackSecretOf(t.config, t.secretBox);
    });
    after(async () => {
      await t?.close();
      await handle?.close();
    });

    it('a flood of invalid tokens gets 429 after the budget; valid tokens from the same address still go through', async () => {
      const m = await t.merchant();
      const ch = await t.channel(m.id, { shortcode: '600984' });
      const forged = [
        `/hooks/daraja/c2b/${ch.id}/${'0'.repeat(48)}/confirmation`,
        `/hooks/daraja/stk/pay_unknown1/${'A'.repeat(32)}`,
        `/hooks/daraja/b2c/po_unknown1/${'B'.repeat(32)}/result`,
        `/hooks/daraja/lookup/lk_unknown1/${'C'.repeat(32)}`,
        '/hooks/daraja/whatever',
      ];
      for (let i = 0; i < HOOK_INVALID_PER_MINUTE; i++) {
        const r = await t.request('POST', forged[i % forged.length]!, { body: {} });
        expectEnvelope(r, 404, 'RESOURCE_NOT_FOUND');
      }
      for (const path of forged) {
        const r = await t.request('POST', path, { body: confirmation('TZ00000001') });
        expectEnvelope(r, 429, 'RATE_LIMIT_EXCEEDED');
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }

      // Daraja's genuine callbacks, and its retries, from the very same address
      const transId = `TR${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
      for (let i = 0; i < 5; i++) {
        const r = await t.request('POST', c2bHookPath(secret, ch.id, 'confirmation'), {
          body: confirmation(transId),
        });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body, { ResultCode: 0, ResultDesc: 'Success' });
      }
      const rows = await t.db
        .selectFrom('payments')
        .select('id')
        .where('mpesa_receipt', '=', transId)
        .execute();
      assert.equal(rows.length, 1, 'recorded once');
      const validation = await t.request('POST', c2bHookPath(secret, ch.id, 'validation'), {
        body: confirmation(transId),
      });
      assert.equal(validation.status, 200, validation.text);
      // valid tokens of the other hooks pass the limiter (their routes then answer as usual: never 429)
      for (const path of [
        stkCallbackPath(secret, 'pay_known00001'),
        payoutCallbackPath(secret, 'po_known000001', 'result'),
        lookupResultPath(secret, 'lk_known000001'),
      ]) {
        const r = await t.request('POST', path, { body: { nonsense: true } });
        assert.notEqual(r.status, 429, `${path.split('/')[3]}: ${r.text}`);
      }

      // the next window gives the address a fresh budget
      now += 60_000;
      expectEnvelope(await t.request('POST', forged[0]!, { body: {} }), 404, 'RESOURCE_NOT_FOUND');
    });
  });

describe('hookRateLimit', () => {
  const secret = 'hook-test-secret';

  it('knows a valid token of every hook, and nothing else', () => {
    const ch = 'ch_AbCdEf123456';
    assert.deepEqual(validHookOf(secret, `/stk/pay_1234567/${callbackToken(secret, 'stk', 'pay_1234567')}`), {
      purpose: 'stk',
      id: 'pay_1234567',
    });
    assert.deepEqual(
      validHookOf(secret, `/b2c/po_1234567/${callbackToken(secret, 'b2c', 'po_1234567')}/status`),
      { purpose: 'b2c', id: 'po_1234567' },
    );
    assert.deepEqual(validHookOf(secret, `/lookup/lk_1/${callbackToken(secret, 'lookup', 'lk_1')}`), {
      purpose: 'lookup',
      id: 'lk_1',
    });
    assert.deepEqual(validHookOf(secret, `/c2b/${ch}/${c2bToken(secret, ch)}/confirmation`), {
      purpose: 'c2b',
      id: ch,
    });
    assert.deepEqual(
      validHookOf(secret, `/reversal/rev_1234567/${callbackToken(secret, 'reversal', 'rev_1234567')}/result`),
      { purpose: 'reversal', id: 'rev_1234567' },
    );
    for (const bad of [
      `/stk/pay_1234567/${callbackToken(secret, 'b2c', 'pay_1234567')}`, // another purpose's token
      `/stk/pay_1234568/${callbackToken(secret, 'stk', 'pay_1234567')}`, // another payment's token
      `/b2c/po_1234567/${callbackToken('other', 'b2c', 'po_1234567')}/result`,
      `/reversal/rev_1234567/${callbackToken(secret, 'b2c', 'rev_1234567')}/result`,
      `/reversal/rev_1234567/${callbackToken(secret, 'reversal', 'rev_1234567')}`,
      `/c2b/${ch}/${c2bToken(secret, 'ch_other00001')}/confirmation`,
      `/c2b/not-a-channel/${c2bToken(secret, ch)}/confirmation`,
      '/stk',
      '/',
      '/unknown/a/b',
    ]) {
      assert.equal(validHookOf(secret, bad), undefined, bad);
    }
  });

  it('a valid token is never counted: a burst of genuine callbacks passes while the address is refused', async () => {
    const store = new MemoryRateLimitStore();
    const app = express();
    app.use(
      '/hooks/daraja',
      hookRateLimit({ store, callbackSecret: secret, invalidPerMinute: 2, now: () => T0 }),
    );
    app.post('/hooks/daraja/*rest', (_req, res) => void res.json({ ok: true }));
    app.use(errorHandler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/daraja`;
    try {
      const post = (p: string) => fetch(base + p, { method: 'POST' });
      const wrong = `/stk/pay_1234567/${'x'.repeat(32)}`;
      const channel = 'ch_AbCdEf123456';
      const confirmation = `/c2b/${channel}/${c2bToken(secret, channel)}/confirmation`;
      assert.equal((await post(wrong)).status, 200, 'within the budget the route answers');
      assert.equal((await post(wrong)).status, 200);
      assert.equal((await post(wrong)).status, 429, 'the third without a valid token');
      // a busy paybill: all its confirmations share one channel token, none is ever refused
      const answers = await Promise.all(Array.from({ length: 200 }, () => post(confirmation)));
      assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
      assert.equal((await post(wrong)).status, 429, 'and the address is still refused');
    } finally {
      server.close();
    }
  });
});
