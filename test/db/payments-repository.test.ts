/** The payments projection and the idempotency store, on PGlite and (when configured) PostgreSQL. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { IdempotencyStore, canonicalJson, requestHash } from '../../src/payments/idempotency';
import { PaymentRepository } from '../../src/payments/repository';
import { testDatabases } from '../helpers/db';

for (const target of testDatabases()) {
  describe(`payments repository on ${target.name}`, () => {
    let handle: DatabaseHandle;
    let repo: PaymentRepository;
    before(async () => {
      handle = await target.open();
      repo = new PaymentRepository(handle.db);
    });
    after(async () => {
      await handle?.close();
    });

    const newPayment = (merchantId = 'mer_a') => ({
      id: newId('payment'),
      merchantId,
      environment: 'test',
      channelId: 'ch_x',
      amount: 100,
      phone: '254708374149',
      reference: 'INV-1',
      description: 'Payment',
      callbackUrl: null,
      metadata: { order: 42 },
      apiKeyId: 'key_1',
    });

    it('creates a pending payment once, and scopes reads by merchant', async () => {
      const p = newPayment();
      const first = await repo.createPending(p);
      const again = await repo.createPending({ ...p, amount: 999 });
      assert.equal(first.status, 'pending');
      assert.equal(again.amount, 100, 'a second insert of the same id changes nothing');
      assert.deepEqual(first.metadata, { order: 42 });
      assert.equal((await repo.get('mer_a', p.id))?.id, p.id);
      assert.equal(await repo.get('mer_other', p.id), undefined);
    });

    it('applies status changes monotonically, once, with one event each', async () => {
      const p = newPayment();
      await repo.createPending(p);
      const accepted = await repo.recordStatus({
        paymentId: p.id,
        version: 1,
        status: 'pending',
        checkoutRequestId: 'ws_CO_1',
      });
      assert.deepEqual(accepted, { applied: true, eventId: null });
      const failed = await repo.recordStatus({
        paymentId: p.id,
        version: 2,
        status: 'failed',
        failureReason: 'timeout',
      });
      assert.ok(failed.eventId?.startsWith('evt_'));
      // an activity retry of the same change
      assert.deepEqual(
        await repo.recordStatus({ paymentId: p.id, version: 2, status: 'failed', failureReason: 'timeout' }),
        {
          applied: false,
          eventId: null,
        },
      );
      // a late confirmed success
      const success = await repo.recordStatus({
        paymentId: p.id,
        version: 3,
        status: 'success',
        mpesaReceipt: 'TKL1ABC2DE',
        resultCode: '0',
        resultDesc: 'The service request is processed successfully.',
      });
      assert.equal(success.applied, true);
      // nothing leaves success, even with a newer version
      assert.equal(
        (
          await repo.recordStatus({
            paymentId: p.id,
            version: 4,
            status: 'failed',
            failureReason: 'cancelled',
          })
        ).applied,
        false,
      );
      // an older version never lands
      assert.equal(
        (await repo.recordStatus({ paymentId: p.id, version: 1, status: 'pending' })).applied,
        false,
      );

      const view = await repo.get('mer_a', p.id);
      assert.equal(view?.status, 'success');
      assert.equal(view?.mpesaReceipt, 'TKL1ABC2DE');
      assert.equal(view?.failureReason, null);
      assert.equal(view?.checkoutRequestId, 'ws_CO_1');
      const events = await handle.db
        .selectFrom('events')
        .selectAll()
        .where('payment_id', '=', p.id)
        .orderBy('payment_version')
        .execute();
      assert.deepEqual(
        events.map((e) => e.type),
        ['payment.failed', 'payment.success'],
      );
      const body = JSON.parse(events[1]!.body) as {
        id: string;
        type: string;
        created: number;
        data: { status: string };
      };
      assert.equal(body.id, events[1]!.id);
      assert.equal(body.type, 'payment.success');
      assert.equal(body.data.status, 'success');
      assert.equal(typeof body.created, 'number');
    });

    it('a decision replaces a pending write of the same version (from a lost workflow task), once', async () => {
      const p = newPayment();
      await repo.createPending(p);
      // the lost task: the push accepted, recorded as version 1
      await repo.recordStatus({
        paymentId: p.id,
        version: 1,
        status: 'pending',
        checkoutRequestId: 'ws_CO_lost',
      });
      // the retried task, in history: another pending write of version 1 changes nothing
      assert.deepEqual(await repo.recordStatus({ paymentId: p.id, version: 1, status: 'pending' }), {
        applied: false,
        eventId: null,
      });
      // its decision, version 1 too, is applied with its event
      const settled = await repo.recordStatus({
        paymentId: p.id,
        version: 1,
        status: 'success',
        mpesaReceipt: 'UKM8EOG5BS',
        resultCode: '0',
      });
      assert.equal(settled.applied, true);
      assert.ok(settled.eventId);
      assert.equal((await repo.getById(p.id))?.status, 'success');
      // and only once: the same write again, or another decision of that version, changes nothing
      assert.deepEqual(
        await repo.recordStatus({
          paymentId: p.id,
          version: 1,
          status: 'failed',
          failureReason: 'cancelled',
        }),
        { applied: false, eventId: null },
      );
      const events = await handle.db
        .selectFrom('events')
        .select('id')
        .where('payment_id', '=', p.id)
        .execute();
      assert.equal(events.length, 1);
    });

    it('a write that only adds the receipt to a success creates no second event', async () => {
      const p = newPayment();
      await repo.createPending(p);
      const first = await repo.recordStatus({
        paymentId: p.id,
        version: 1,
        status: 'success',
        resultCode: '0',
      });
      assert.ok(first.eventId);
      const detail = await repo.recordStatus({
        paymentId: p.id,
        version: 2,
        status: 'success',
        mpesaReceipt: 'TKL9ZZZ1AB',
        transactionDate: '20261122090634',
      });
      assert.deepEqual(detail, { applied: true, eventId: null });
      assert.equal((await repo.get('mer_a', p.id))?.mpesaReceipt, 'TKL9ZZZ1AB');
      const events = await handle.db
        .selectFrom('events')
        .select('type')
        .where('payment_id', '=', p.id)
        .execute();
      assert.deepEqual(
        events.map((e) => e.type),
        ['payment.success'],
      );
    });

    it('keeps undeliverable callbacks in the inbox', async () => {
      await repo.toInbox('stk', 'pay_missing', { Body: { stkCallback: {} } }, 'workflow not found');
      const rows = await handle.db
        .selectFrom('callback_inbox')
        .selectAll()
        .where('payment_id', '=', 'pay_missing')
        .execute();
      assert.equal(rows.length, 1);
    });
  });

  describe(`idempotency store on ${target.name}`, () => {
    let handle: DatabaseHandle;
    let store: IdempotencyStore;
    before(async () => {
      handle = await target.open();
      store = new IdempotencyStore(handle.db, 200);
    });
    after(async () => {
      await handle?.close();
    });
    const scope = (key: string) => ({ merchantId: 'mer_a', environment: 'test', scope: 'payments', key });

    it('new → in use → replay; a different body is a mismatch', async () => {
      const s = scope(`k-${Date.now()}`);
      const h = requestHash({ amount: 1, phone: 'x' });
      assert.deepEqual(await store.begin(s, h, 'pay_1'), {
        kind: 'new',
        resourceId: 'pay_1',
        takenOver: false,
      });
      assert.deepEqual(await store.begin(s, h, 'pay_2'), { kind: 'in_use' });
      assert.deepEqual(await store.begin(s, requestHash({ amount: 2, phone: 'x' }), 'pay_3'), {
        kind: 'mismatch',
      });
      await store.complete(s, 202, { id: 'pay_1' });
      assert.deepEqual(await store.begin(s, h, 'pay_4'), {
        kind: 'replay',
        status: 202,
        body: { id: 'pay_1' },
      });
      // another merchant or environment has its own key space
      assert.equal((await store.begin({ ...s, environment: 'live' }, h, 'pay_5')).kind, 'new');
      assert.equal((await store.begin({ ...s, merchantId: 'mer_b' }, h, 'pay_6')).kind, 'new');
    });

    it('a retry takes over a key whose holder died, keeping the same resource id', async () => {
      const s = scope(`dead-${Date.now()}`);
      const h = requestHash({ a: 1 });
      await store.begin(s, h, 'pay_first');
      await new Promise((r) => setTimeout(r, 250));
      assert.deepEqual(await store.begin(s, h, 'pay_second'), {
        kind: 'new',
        resourceId: 'pay_first',
        takenOver: true,
      });
    });

    it('release lets a failed-before-effect request be retried afresh', async () => {
      const s = scope(`rel-${Date.now()}`);
      await store.begin(s, 'h', 'pay_a');
      await store.release(s);
      assert.deepEqual(await store.begin(s, 'h', 'pay_b'), {
        kind: 'new',
        resourceId: 'pay_b',
        takenOver: false,
      });
    });

    it('two concurrent first requests: exactly one wins', async () => {
      const s = scope(`race-${Date.now()}`);
      const results = await Promise.all([store.begin(s, 'h', 'pay_x'), store.begin(s, 'h', 'pay_y')]);
      assert.deepEqual(results.map((r) => r.kind).sort(), ['in_use', 'new']);
    });
  });
}

describe('request hash', () => {
  it('ignores key order and undefined fields', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }], u: undefined }),
      '{"a":[1,{"c":3,"d":2}],"b":1}',
    );
    assert.equal(requestHash({ a: 1, b: 2 }), requestHash({ b: 2, a: 1 }));
    assert.notEqual(requestHash({ a: 1 }), requestHash({ a: '1' }));
  });
});
