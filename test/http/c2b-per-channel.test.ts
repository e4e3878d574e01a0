/**
 * C2B duplicates are per channel, through the real confirmation hook on PGlite and PostgreSQL: a TransID
 * already recorded on one merchant's channel is recorded again, for its own merchant, when it is
 * confirmed on another channel (another merchant, shortcode or environment), and is a duplicate only on
 * the channel it was first seen on.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { c2bHookPath } from '../../src/c2b';
import type { DatabaseHandle } from '../../src/db';
import { callbackSecretOf } from '../../src/http/app';
import type { DeliveryRef } from '../../src/webhooks/repository';
import { testDatabases } from '../helpers/db';
import { startTestApp, type TestApp } from '../helpers/http';

/** Daraja's v2 confirmation payload (daraja.md §8.5). */
const payload = (transId: string, over: Record<string, unknown> = {}) => ({
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
  ...over,
});

for (const target of testDatabases()) {
  describe(`C2B confirmations are unique per channel (${target.name})`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    let secret: string;
    const started: DeliveryRef[] = [];

    before(async () => {
      handle = await target.open();
      t = await startTestApp({
        db: handle,
        overrides: { deliveryStarter: { start: async (ref: DeliveryRef) => void started.push(ref) } },
      });
      secret = callbackSecretOf(t.config, t.secretBox);
    });
    after(async () => {
      await t?.close();
      await handle?.close();
    });

    const confirm = (channelId: string, body: unknown) =>
      t.request('POST', c2bHookPath(secret, channelId, 'confirmation'), { body });
    const rowsFor = (transId: string) =>
      t.db
        .selectFrom('payments')
        .selectAll()
        .where('kind', '=', 'c2b')
        .where('mpesa_receipt', '=', transId)
        .orderBy('created_at')
        .execute();
    const eventsFor = (paymentId: string) =>
      t.db.selectFrom('events').selectAll().where('payment_id', '=', paymentId).execute();

    it('another merchant’s channel records its own payment for a TransID seen elsewhere; repeats stay per channel', async () => {
      const a = await t.merchant('Shop A');
      const b = await t.merchant('Shop B');
      const chA = await t.channel(a.id, { shortcode: '600984' });
      const chB = await t.channel(b.id, { shortcode: '600985' });
      const transId = `TX${crypto.randomBytes(4).toString('hex').toUpperCase()}`;

      const first = await confirm(chA.id, payload(transId));
      assert.deepEqual(first.body, { ResultCode: 0, ResultDesc: 'Success' }, first.text);
      const second = await confirm(
        chB.id,
        payload(transId, { BusinessShortCode: '600985', TransAmount: '75.00' }),
      );
      assert.deepEqual(second.body, { ResultCode: 0, ResultDesc: 'Success' }, second.text);

      const rows = await rowsFor(transId);
      assert.equal(rows.length, 2, 'one payment per channel, none dropped');
      const [pa, pb] = [
        rows.find((r) => r.channel_id === chA.id)!,
        rows.find((r) => r.channel_id === chB.id)!,
      ];
      assert.equal(pa.merchant_id, a.id);
      assert.equal(pa.amount, 250);
      assert.equal(pb.merchant_id, b.id);
      assert.equal(pb.amount, 75, 'B’s payment is B’s confirmation, not A’s shadow');
      assert.equal((await eventsFor(pa.id)).length, 1);
      const [eb] = await eventsFor(pb.id);
      assert.equal(eb?.type, 'payment.c2b');
      assert.equal(eb?.merchant_id, b.id);

      // each merchant sees its own payment, and only its own
      const listA = await t.request('GET', '/v1/payments?kind=c2b', { key: a.key });
      const listB = await t.request('GET', '/v1/payments?kind=c2b', { key: b.key });
      assert.deepEqual(
        listA.body.data.map((p: { id: string }) => p.id),
        [pa.id],
      );
      assert.deepEqual(
        listB.body.data.map((p: { id: string }) => p.id),
        [pb.id],
      );

      // Daraja's retries are duplicates on their own channel only: nothing new anywhere
      for (const [ch, over] of [
        [chA.id, {}],
        [chB.id, { BusinessShortCode: '600985', TransAmount: '75.00' }],
      ] as const) {
        const again = await confirm(ch, payload(transId, over));
        assert.deepEqual(again.body, { ResultCode: 0, ResultDesc: 'Success' });
      }
      assert.equal((await rowsFor(transId)).length, 2);
      assert.equal((await eventsFor(pb.id)).length, 1);
    });

    it('the same merchant’s second shortcode is not shadowed either, even when confirmations race', async () => {
      const m = await t.merchant('Two tills');
      const one = await t.channel(m.id, { shortcode: '600986' });
      const two = await t.channel(m.id, { shortcode: '600987' });
      const transId = `TY${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
      const answers = await Promise.all([
        confirm(one.id, payload(transId, { BusinessShortCode: '600986' })),
        confirm(two.id, payload(transId, { BusinessShortCode: '600987' })),
        confirm(one.id, payload(transId, { BusinessShortCode: '600986' })),
        confirm(two.id, payload(transId, { BusinessShortCode: '600987' })),
      ]);
      for (const r of answers) assert.deepEqual(r.body, { ResultCode: 0, ResultDesc: 'Success' }, r.text);
      const rows = await rowsFor(transId);
      assert.deepEqual(rows.map((r) => r.channel_id).sort(), [one.id, two.id].sort());
    });
  });
}
