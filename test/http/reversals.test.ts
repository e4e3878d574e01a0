/**
 * The reversal routes on the real app and database (PGlite, and PostgreSQL when configured), with a
 * Temporal stand-in that records the workflows started and the signals sent: the happy path, bad
 * input, another merchant's payment, the scopes, over-reversal (also under concurrent requests),
 * idempotency and the Daraja hook.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import type { ReversalInput } from '../../src/domain/reversal';
import { callbackSecretOf } from '../../src/http/app';
import { PaymentRepository } from '../../src/payments/repository';
import { reversalCallbackPath } from '../../src/reversals/callback-paths';
import { testDatabases } from '../helpers/db';
import {
  expectEnvelope,
  expectSecured,
  fakeTemporal,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

const startedInputs: ReversalInput[] = [];
const signals: Array<{ id: string; name: string; payload: unknown }> = [];
const temporal = {
  ...fakeTemporal,
  workflow: {
    async start(_wf: unknown, opts: { workflowId: string; args: [ReversalInput] }) {
      startedInputs.push(opts.args[0]);
      return { workflowId: opts.workflowId };
    },
    getHandle(id: string) {
      return {
        async signal(def: { name: string }, payload: unknown) {
          signals.push({ id, name: def.name, payload });
        },
        async describe() {
          return {};
        },
      };
    },
  },
} as unknown as Client;

for (const target of testDatabases()) {
  describe(`reversal routes (${target.name})`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    let m: TestMerchant;
    let other: TestMerchant;
    let channelId: string;

    before(async () => {
      handle = await target.open();
      t = await startTestApp({ db: handle, temporal });
      m = await t.merchant('Shop');
      other = await t.merchant('Other shop');
      channelId = (await t.channel(m.id, { initiatorName: 'testapi', initiatorPassword: 'Safaricom999!*!' }))
        .id;
      await t.channel(other.id);
    });
    after(async () => {
      await t?.close();
      await handle?.close();
    });
    beforeEach(() => {
      startedInputs.length = 0;
      signals.length = 0;
    });

    let receipts = 0;
    /** A payment of `amount` in `status`, as the stkPush workflow would have left it. */
    async function payment(amount: number, status = 'success', merchantId = m.id): Promise<string> {
      const id = newId('payment');
      const ch =
        merchantId === m.id
          ? channelId
          : (
              await t.db
                .selectFrom('channels')
                .select('id')
                .where('merchant_id', '=', merchantId)
                .executeTakeFirstOrThrow()
            ).id;
      await new PaymentRepository(t.db).createPending({
        id,
        merchantId,
        environment: 'test',
        channelId: ch,
        amount,
        phone: '254708374149',
        reference: 'ORDER-1',
        description: 'Order',
        callbackUrl: null,
        metadata: null,
        apiKeyId: null,
      });
      const receipt = `UAB${String(++receipts).padStart(7, '0')}`;
      await t.db
        .updateTable('payments')
        .set({ status, version: 3, mpesa_receipt: status === 'success' ? receipt : null })
        .where('id', '=', id)
        .execute();
      return id;
    }

    const reverse = (
      paymentId: string,
      body: unknown,
      opts: { key?: string; headers?: Record<string, string> } = {},
    ) =>
      t.request('POST', `/v1/payments/${paymentId}/reversals`, {
        key: opts.key ?? m.key,
        body,
        headers: opts.headers,
      });

    it('reverses in full by default: 202 pending, one workflow whose input carries no secret', async () => {
      const pay = await payment(500);
      const r = await reverse(pay, { reason: 'Customer refund' });
      assert.equal(r.status, 202, r.text);
      assert.match(r.body.id, /^rev_/);
      assert.equal(r.body.object, 'reversal');
      assert.equal(r.body.status, 'pending');
      assert.equal(r.body.amount, 500);
      assert.equal(r.body.paymentId, pay);
      assert.equal(r.body.reason, 'Customer refund');
      assert.equal(startedInputs.length, 1);
      const input = startedInputs[0]!;
      assert.equal(input.reversalId, r.body.id);
      assert.equal(input.amount, 500);
      assert.match(input.receipt, /^UAB\d{7}$/);
      assert.equal(input.remarks, 'Customer refund');
      assert.ok(
        !JSON.stringify(input).includes('Safaricom999'),
        'no initiator password in the workflow input',
      );
      const got = await t.request('GET', `/v1/reversals/${r.body.id}`, { key: m.key });
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, r.body);
      const list = await t.request('GET', `/v1/payments/${pay}/reversals`, { key: m.key });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.data.map((x: { id: string }) => x.id),
        [r.body.id],
      );
    });

    it('partial reversals add up to the payment at most: the one beyond it is 422 REVERSAL_EXCEEDS_PAYMENT', async () => {
      const pay = await payment(100);
      assert.equal((await reverse(pay, { amount: 60, reason: 'Part one' })).status, 202);
      const over = expectEnvelope(
        await reverse(pay, { amount: 41, reason: 'Too much' }),
        422,
        'REVERSAL_EXCEEDS_PAYMENT',
      );
      assert.match(over.message, /At most 40 KES/);
      const rest = await reverse(pay, { reason: 'The rest' });
      assert.equal(rest.status, 202);
      assert.equal(rest.body.amount, 40);
      expectEnvelope(
        await reverse(pay, { amount: 1, reason: 'Nothing left' }),
        422,
        'REVERSAL_EXCEEDS_PAYMENT',
      );
      assert.equal(startedInputs.length, 2, 'no workflow for a refused reversal');
    });

    it('a failed reversal frees its amount; needs_review keeps holding it', async () => {
      const pay = await payment(100);
      const a = await reverse(pay, { amount: 70, reason: 'First' });
      await t.db.updateTable('reversals').set({ status: 'failed' }).where('id', '=', a.body.id).execute();
      const b = await reverse(pay, { amount: 100, reason: 'Again' });
      assert.equal(b.status, 202);
      await t.db
        .updateTable('reversals')
        .set({ status: 'needs_review' })
        .where('id', '=', b.body.id)
        .execute();
      expectEnvelope(await reverse(pay, { amount: 1, reason: 'More' }), 422, 'REVERSAL_EXCEEDS_PAYMENT');
    });

    it('concurrent reversals never exceed the payment (the payment row is locked)', async () => {
      const pay = await payment(100);
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => reverse(pay, { amount: 30, reason: `Race ${i}` })),
      );
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [202, 202, 202, 422, 422, 422]);
      const rows = await t.db
        .selectFrom('reversals')
        .select('amount')
        .where('payment_id', '=', pay)
        .execute();
      assert.equal(
        rows.reduce((s, r) => s + r.amount, 0),
        90,
      );
    });

    it('only a success payment can be reversed (409 CONFLICT)', async () => {
      for (const status of ['pending', 'failed', 'needs_review']) {
        const pay = await payment(100, status);
        const b = expectEnvelope(await reverse(pay, { reason: 'Refund' }), 409, 'CONFLICT');
        assert.match(b.message, new RegExp(status));
      }
    });

    it('bad input gets 400 listing the field', async () => {
      const pay = await payment(100);
      const cases: Array<[unknown, string, string]> = [
        [{ reason: 'Refund', amount: 0 }, 'INVALID_AMOUNT', 'amount'],
        [{ reason: 'Refund', amount: 10.5 }, 'INVALID_AMOUNT', 'amount'],
        [{ reason: 'Refund', amount: -5 }, 'INVALID_AMOUNT', 'amount'],
        [{ reason: 'Refund', amount: '10' }, 'VALIDATION_ERROR', 'amount'],
        [{}, 'VALIDATION_ERROR', 'reason'],
        [{ reason: 'x' }, 'VALIDATION_ERROR', 'reason'],
        [{ reason: 'Refund <b>' }, 'VALIDATION_ERROR', 'reason'],
        [{ reason: 'r'.repeat(101) }, 'VALIDATION_ERROR', 'reason'],
        [{ reason: 'Refund', extra: 1 }, 'VALIDATION_ERROR', '(body)'],
      ];
      for (const [body, code, field] of cases) {
        const b = expectEnvelope(await reverse(pay, body), 400, code);
        const paths = (b.error.details as Array<{ path: string }> | undefined)?.map((d) => d.path) ?? [];
        assert.ok(
          paths.includes(field) || (field === '(body)' && paths.length > 0),
          `${JSON.stringify(body)}: ${JSON.stringify(paths)}`,
        );
      }
      expectEnvelope(await reverse('pay_nope!', { reason: 'Refund' }), 400, 'VALIDATION_ERROR');
      expectEnvelope(
        await t.request('POST', `/v1/payments/${pay}/reversals`, {
          key: m.key,
          raw: '{"reason":',
          contentType: 'application/json',
        }),
        400,
        'MALFORMED_JSON',
      );
      assert.equal(startedInputs.length, 0);
    });

    it('another merchant’s payment and reversal are 404, like unknown ones', async () => {
      const pay = await payment(100);
      const r = await reverse(pay, { reason: 'Refund' });
      expectEnvelope(await reverse(pay, { reason: 'Refund' }, { key: other.key }), 404, 'RESOURCE_NOT_FOUND');
      expectEnvelope(
        await t.request('GET', `/v1/payments/${pay}/reversals`, { key: other.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', `/v1/reversals/${r.body.id}`, { key: other.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', `/v1/reversals/rev_${'x'.repeat(22)}`, { key: m.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(await reverse(`pay_${'y'.repeat(22)}`, { reason: 'Refund' }), 404, 'RESOURCE_NOT_FOUND');
      // a live key does not see test payments
      const live = await t.key(m.id, ['*'], { env: 'live' });
      expectEnvelope(await reverse(pay, { reason: 'Refund' }, { key: live.key }), 404, 'RESOURCE_NOT_FOUND');
    });

    it('needs reversals:create to reverse and reversals:read to read (payments:create is not enough)', async () => {
      const pay = await payment(100);
      await expectSecured(t, m.id, {
        method: 'POST',
        path: `/v1/payments/${pay}/reversals`,
        body: { reason: 'Refund' },
        scope: 'reversals:create',
      });
      await expectSecured(t, m.id, {
        method: 'GET',
        path: `/v1/payments/${pay}/reversals`,
        scope: 'reversals:read',
      });
      await expectSecured(t, m.id, {
        method: 'GET',
        path: `/v1/reversals/rev_${'x'.repeat(22)}`,
        scope: 'reversals:read',
      });
      const payer = await t.key(m.id, ['payments:create', 'payments:read']);
      expectEnvelope(await reverse(pay, { reason: 'Refund' }, { key: payer.key }), 403, 'MISSING_SCOPE');
      const refunder = await t.key(m.id, ['reversals:create']);
      assert.equal((await reverse(pay, { reason: 'Refund' }, { key: refunder.key })).status, 202);
    });

    it('Idempotency-Key: a retry replays the first answer, another body is 422, another payment too', async () => {
      const pay = await payment(100);
      const headers = { 'Idempotency-Key': `rev-${Date.now()}` };
      const first = await reverse(pay, { amount: 10, reason: 'Refund' }, { headers });
      assert.equal(first.status, 202);
      const again = await reverse(pay, { amount: 10, reason: 'Refund' }, { headers });
      assert.equal(again.status, 202);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(again.body, first.body);
      assert.equal(startedInputs.length, 1, 'one workflow');
      expectEnvelope(
        await reverse(pay, { amount: 11, reason: 'Refund' }, { headers }),
        422,
        'IDEMPOTENCY_KEY_MISMATCH',
      );
      const pay2 = await payment(100);
      expectEnvelope(
        await reverse(pay2, { amount: 10, reason: 'Refund' }, { headers }),
        422,
        'IDEMPOTENCY_KEY_MISMATCH',
      );
      const rows = await t.db.selectFrom('reversals').select('id').where('payment_id', '=', pay).execute();
      assert.equal(rows.length, 1);
    });

    it('the hook: a wrong token is 404; a valid one signals the parsed Result and always acknowledges', async () => {
      const pay = await payment(100);
      const r = await reverse(pay, { amount: 25, reason: 'Refund' });
      const secret = callbackSecretOf(t.config, t.secretBox);
      const path = reversalCallbackPath(secret, r.body.id, 'result');
      const body = {
        Result: {
          ResultType: 0,
          ResultCode: 0,
          ResultDesc: 'The service request is processed successfully.',
          OriginatorConversationID: '8521-4298025-1',
          ConversationID: 'AG_20240101_abc',
          TransactionID: 'UAB9Z8Y7X6',
          ResultParameters: { ResultParameter: [{ Key: 'Amount', Value: 25 }] },
        },
      };
      const wrong = path.replace(/\/[^/]+\/result$/, `/${'A'.repeat(32)}/result`);
      expectEnvelope(await t.request('POST', wrong, { body }), 404, 'RESOURCE_NOT_FOUND');
      assert.equal(signals.length, 0);
      const ok = await t.request('POST', path, { body });
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { ResultCode: 0, ResultDesc: 'Accepted' });
      assert.deepEqual(signals, [
        {
          id: r.body.id,
          name: 'reversalResult',
          payload: {
            kind: 'result',
            resultCode: '0',
            resultDesc: 'The service request is processed successfully.',
            conversationId: 'AG_20240101_abc',
            originatorConversationId: '8521-4298025-1',
            transactionId: 'UAB9Z8Y7X6',
            amount: 25,
          },
        },
      ]);
      const junk = await t.request('POST', path, { body: { nothing: true } });
      assert.equal(junk.status, 200, 'an unparseable body is kept, and acknowledged');
      assert.equal(signals.length, 1);
    });
  });
}
