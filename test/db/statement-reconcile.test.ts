/**
 * `malipo admin reconcile --statement`: the command over a real database (PGlite, and PostgreSQL when
 * configured): exit codes 0 / 1 / 2, the table and the JSON, and that only the merchant's records in
 * the chosen environment are compared.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reconcileStatement } from '../../src/admin/reconcile-statement';
import type { DatabaseHandle } from '../../src/db';
import { createMerchant } from '../../src/platform/merchants';
import { testDatabases } from '../helpers/db';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'statements');

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

for (const target of testDatabases()) {
  describe(`admin reconcile --statement (${target.name})`, () => {
    let handle: DatabaseHandle;
    let merchant: string;
    let other: string;

    before(async () => {
      handle = await target.open();
      const db = handle.db;
      merchant = (await createMerchant(db, { name: 'Shop' }, { actor: 'test' })).id;
      other = (await createMerchant(db, { name: 'Other' }, { actor: 'test' })).id;
      const payment = (
        id: string,
        m: string,
        status: string,
        amount: number,
        receipt: string,
        settled: string,
        environment = 'live',
      ) => ({
        id,
        merchant_id: m,
        environment,
        channel_id: 'ch_x',
        status,
        amount,
        phone: '254708374149',
        reference: 'R',
        description: 'D',
        mpesa_receipt: receipt,
        settled_at: settled,
      });
      await db
        .insertInto('payments')
        .values([
          payment('pay_a', merchant, 'success', 1000, 'UAA1000001', '2026-01-10T07:00:05Z'),
          payment('pay_c', merchant, 'success', 2500, 'UAA1000003', '2026-01-20T15:45:11Z'),
          payment('pay_d', merchant, 'failed', 300, 'UAA1000004', '2026-01-15T09:00:00Z'),
          // outside the statement's range: not a difference
          payment('pay_f', merchant, 'success', 70, 'UAA1000006', '2026-02-05T09:00:00Z'),
          // another merchant's and a test payment with a statement receipt are unknown to this comparison
          payment('pay_o', other, 'success', 40, 'UAZ9999999', '2026-01-16T09:00:00Z'),
          payment('pay_t', merchant, 'success', 40, 'UAZ9999999', '2026-01-16T09:00:00Z', 'test'),
        ])
        .execute();
      await db
        .insertInto('payouts')
        .values({
          id: 'po_b',
          merchant_id: merchant,
          environment: 'live',
          channel_id: 'ch_x',
          status: 'success',
          amount: 250,
          phone: '254708374149',
          command_id: 'BusinessPayment',
          remarks: 'Pay',
          occasion: null,
          reference: 'P',
          callback_url: null,
          metadata: null,
          api_key_id: null,
          mpesa_receipt: 'UAA1000002',
          settled_at: '2026-01-12T06:30:02Z',
        })
        .execute();
      await db
        .insertInto('reversals')
        .values({
          id: 'rev_e',
          merchant_id: merchant,
          environment: 'live',
          payment_id: 'pay_a',
          channel_id: 'ch_x',
          status: 'success',
          amount: 100,
          reason: 'Refund',
          api_key_id: null,
          mpesa_receipt: 'UAA1000005',
          settled_at: '2026-01-26T09:00:00Z',
        })
        .execute();
    });
    after(async () => {
      await handle?.close();
    });

    const run = async (file: string, extra: { env?: string; json?: boolean; merchant?: string } = {}) => {
      const c = io();
      const code = await reconcileStatement(
        handle.db,
        { statement: path.join(FIXTURES, file), merchant: extra.merchant ?? merchant, ...extra },
        c.io,
      );
      return { code, out: c.out.join(''), err: c.err.join('') };
    };

    it('exit 0 when the statement agrees', async () => {
      const r = await run('matching.csv');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /3 matched, 0 differences/);
      assert.equal(r.err, '');
    });

    it('exit 1 with the differences as a table, or as JSON with --json', async () => {
      const t = await run('differences.csv');
      assert.equal(t.code, 1);
      assert.match(t.out, /^absent_from_statement +UAA1000003 +- +pay_c +success +2500 /m);
      assert.match(t.out, /^not_success_in_malipo +UAA1000004 +300 +pay_d +failed +300 /m);
      const j = await run('differences.csv', { json: true });
      assert.equal(j.code, 1);
      const body = JSON.parse(j.out) as {
        merchant: string;
        environment: string;
        matched: number;
        differences: Array<{ kind: string; receipt: string; malipoId: string | null }>;
      };
      assert.equal(body.merchant, merchant);
      assert.equal(body.environment, 'live');
      assert.equal(body.matched, 2);
      assert.deepEqual(body.differences.map((d) => `${d.kind}:${d.receipt}:${d.malipoId}`).sort(), [
        'absent_from_statement:UAA1000003:pay_c',
        'amount_mismatch:UAA1000001:pay_a',
        'non_whole_amount:UAZ9999998:null',
        'not_success_in_malipo:UAA1000004:pay_d',
        'unknown_receipt:UAZ9999999:null',
      ]);
    });

    it('--env test compares the test records only', async () => {
      const r = await run('matching.csv', { env: 'test', json: true });
      assert.equal(r.code, 1);
      const diffs = (
        JSON.parse(r.out) as {
          differences: Array<{ kind: string; receipt: string; malipoId: string | null }>;
        }
      ).differences;
      // the live records are unknown here; the test payment settled in range is absent from the statement
      assert.deepEqual(diffs.map((d) => `${d.kind}:${d.receipt}:${d.malipoId}`).sort(), [
        'absent_from_statement:UAZ9999999:pay_t',
        'unknown_receipt:UAA1000001:null',
        'unknown_receipt:UAA1000002:null',
        'unknown_receipt:UAA1000003:null',
      ]);
    });

    it('exit 2 with a clear message on bad input', async () => {
      const cases: Array<[string, { env?: string; merchant?: string }, RegExp]> = [
        ['missing.csv', {}, /cannot read .*missing\.csv \(ENOENT\)/],
        [
          'bad-amount.csv',
          {},
          /is not a statement this command can read: line 2, Paid In: "one thousand" is not an amount/,
        ],
        ['no-header.csv', {}, /no header row/],
        ['matching.csv', { env: 'prod' }, /--env must be live or test/],
        ['matching.csv', { merchant: 'shop' }, /--merchant must look like mer_/],
        ['matching.csv', { merchant: 'mer_000000000000' }, /no merchant mer_000000000000/],
      ];
      for (const [file, extra, message] of cases) {
        const r = await run(file, extra);
        assert.equal(r.code, 2, file);
        assert.match(r.err, message);
        assert.equal(r.out, '');
      }
    });
  });
}
