/**
 * The C2B match of reconciliation on PGlite and (when configured) PostgreSQL: a `needs_review` payment
 * claims the oldest unmatched C2B confirmation with its channel, phone, amount and reference inside the
 * window; a confirmation settles at most one payment (unique index payments_matched_c2b), even when
 * two payments race for it; a retried claim returns the payment's earlier one.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { PaymentRepository } from '../../src/payments/repository';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { createMerchant } from '../../src/platform/merchants';
import { SecretBox } from '../../src/platform/secret-box';
import { testDatabases } from '../helpers/db';
import { CHANNEL_DEFAULTS } from '../helpers/http';

const PHONE = '254708374149';
const T0 = new Date('2026-03-01T10:00:00.000Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

for (const target of testDatabases()) {
  describe(`reconciliation C2B match on ${target.name}`, () => {
    let handle: DatabaseHandle;
    let repo: PaymentRepository;
    let merchantId: string;
    let channelId: string;
    let otherChannelId: string;

    before(async () => {
      handle = await target.open();
      repo = new PaymentRepository(handle.db);
      const box = new SecretBox(crypto.randomBytes(32));
      merchantId = (await createMerchant(handle.db, { name: 'M' }, { actor: 'test' })).id;
      const ch = (shortcode: string) =>
        createChannel(
          handle.db,
          box,
          merchantId,
          { ...CHANNEL_DEFAULTS, shortcode },
          { actor: 'test' },
          DEVELOPMENT_CHANNEL_POLICY,
        );
      channelId = (await ch('600984')).id;
      otherChannelId = (await ch('600985')).id;
    });
    after(async () => {
      await handle?.close();
    });

    async function c2b(
      over: { at?: Date; amount?: number; reference?: string; phone?: string; channel?: string } = {},
    ) {
      const id = newId('payment');
      const receipt = `R${crypto.randomBytes(5).toString('hex').toUpperCase().slice(0, 9)}`;
      await handle.db
        .insertInto('payments')
        .values({
          id,
          merchant_id: merchantId,
          environment: 'test',
          channel_id: over.channel ?? channelId,
          kind: 'c2b',
          status: 'success',
          version: 1,
          amount: over.amount ?? 250,
          phone: over.phone ?? PHONE,
          reference: over.reference ?? ' inv0042 ',
          description: 'Pay Bill',
          callback_url: null,
          metadata: null,
          api_key_id: null,
          mpesa_receipt: receipt,
          transaction_date: '20260301130500',
          created_at: over.at ?? minutes(10),
        })
        .execute();
      return { id, receipt };
    }

    async function stk(): Promise<string> {
      const id = newId('payment');
      await repo.createPending({
        id,
        merchantId,
        environment: 'test',
        channelId,
        amount: 250,
        phone: PHONE,
        reference: 'INV0042',
        description: 'Payment',
        callbackUrl: null,
        metadata: null,
        apiKeyId: null,
      });
      return id;
    }

    const claim = (paymentId: string) =>
      repo.claimC2bMatch({
        paymentId,
        channelId,
        phone: PHONE,
        amount: 250,
        reference: 'INV0042',
        from: T0,
        to: minutes(120),
      });

    it('matches phone, amount, reference (trimmed, any case) and channel inside the window only', async () => {
      // none of these is this payment
      await c2b({ amount: 251 });
      await c2b({ reference: 'INV0043' });
      await c2b({ phone: '254708374150' });
      await c2b({ channel: otherChannelId });
      await c2b({ at: minutes(-1) });
      await c2b({ at: minutes(120) });
      const lonely = await stk();
      assert.equal(await claim(lonely), undefined);

      const later = await c2b({ at: minutes(30) });
      const earlier = await c2b({ at: minutes(20) });
      const p = await stk();
      const got = await claim(p);
      assert.deepEqual(got, {
        c2bPaymentId: earlier.id,
        mpesaReceipt: earlier.receipt,
        transactionDate: '20260301130500',
      });
      // a retried activity gets the same claim back
      assert.deepEqual(await claim(p), got);
      // the next payment in review takes the other one; then none is left
      const q = await stk();
      assert.equal((await claim(q))?.c2bPaymentId, later.id);
      assert.equal(await claim(lonely), undefined);
      const row = await repo.getById(p);
      assert.equal(row?.matchedC2bPaymentId, earlier.id);
    });

    it('two payments racing for one confirmation: exactly one gets it', async () => {
      const only = await c2b({ at: minutes(50), reference: 'RACE' });
      const ids = await Promise.all([stk(), stk(), stk(), stk()]);
      const results = await Promise.all(
        ids.map((paymentId) =>
          repo.claimC2bMatch({
            paymentId,
            channelId,
            phone: PHONE,
            amount: 250,
            reference: 'race',
            from: T0,
            to: minutes(120),
          }),
        ),
      );
      const winners = results.filter((r) => r !== undefined);
      assert.equal(winners.length, 1, 'one confirmation settles one payment');
      assert.equal(winners[0]?.c2bPaymentId, only.id);
    });
  });
}
