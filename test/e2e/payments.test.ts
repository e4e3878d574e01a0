/**
 * STK push payments end to end: the real Temporal dev server, database, worker and Daraja simulator
 * (test/helpers/stack.ts). The simulator's ledger is the ground truth every final status is checked
 * against. The tests of this file run concurrently (each uses its own phones, references or merchant).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stkCallbackPath } from '../../src/payments/callback-token';
import { SCENARIOS } from '../../src/sandbox';
import { expectEnvelope, type TestResponse } from '../helpers/http';
import { eventually, type Stack, startStack } from '../helpers/stack';

let s: Stack;

before(async () => {
  // on PostgreSQL when MALIPO_TEST_DATABASE_URL is set (scripts/with-postgres), else PGlite in memory
  s = await startStack({ postgresUrl: process.env.MALIPO_TEST_DATABASE_URL });
});
after(async () => {
  await s?.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: payments are read as JSON
type Json = any;

let refSeq = 0;
const newRef = (prefix = 'R') => `${prefix}${Date.now().toString(36).slice(-6)}${(refSeq++).toString(36)}`;

const createBody = (phone: string, extra: Record<string, unknown> = {}) => ({
  phone,
  amount: 10 + (refSeq % 50),
  reference: newRef(),
  ...extra,
});

/** Ledger entries of the pushes made for one payment (the CallBackURL names the payment). */
const pushesOf = (paymentId: string) =>
  s.sandbox.state.ledger().pushes.filter((p) => p.callbackUrl.includes(`/hooks/daraja/stk/${paymentId}/`));

/** A fresh phone whose simulated customer answers `resultCode` shortly after each push. */
function scriptedPhone(resultCode: number | string = 0): string {
  const phone = s.freshPhone();
  s.sandbox.state.setPhoneOutcome(phone, { resultCode });
  return phone;
}

async function inboxRows(paymentId: string) {
  return s.db.selectFrom('callback_inbox').selectAll().where('payment_id', '=', paymentId).execute();
}

function expect202(r: TestResponse): Json {
  assert.equal(r.status, 202, r.text);
  assert.match(r.body.id, /^pay_/);
  return r.body;
}

const FAILURE_REASON: Record<string, string> = {
  '1032': 'cancelled',
  '1037': 'timeout',
  '1': 'insufficient_funds',
  '2001': 'wrong_pin',
  '1019': 'expired',
  '17': 'rejected',
  SFC_IC0003: 'rejected',
};

describe('STK push payments end to end', { concurrency: true }, () => {
  it('every scenario phone settles to the simulator ledger’s truth, with one push per payment', async () => {
    assert.equal(SCENARIOS.length, 14, 'docs/sandbox.md lists 14 scenario phones');
    const results = await Promise.all(
      SCENARIOS.map(async (sc, i) => {
        const body = { phone: sc.phone, amount: 100 + i, reference: `SCN${i}`, metadata: { scenario: i } };
        const created = expect202(await s.api('POST', '/v1/payments/stk-push', body));
        const final = await s.waitForStatus(created.id, (p) => p.status !== 'pending', 75_000);
        return { sc, created, final };
      }),
    );
    // the late callback arrives after the first STK query has settled the payment: wait for it too
    await eventually(
      () => s.sandbox.state.ledger().pushes.find((p) => p.phone === '254700009003' && p.callbacks.length > 0),
      30_000,
      'the late callback',
    );

    const ledger = s.sandbox.state.ledger();
    for (const { sc, created, final } of results) {
      const label = `${sc.phone} (${sc.label})`;
      const again = (await s.api('GET', `/v1/payments/${created.id}`)).body;
      assert.equal(again.status, final.status, `${label}: nothing moved it after settling`);
      assert.deepEqual(again.metadata, created.metadata, `${label}: metadata echoed`);
      const pushes = pushesOf(created.id);

      if (sc.push === 'error500') {
        // no prompt was ever shown: Daraja refused the push (a definitive, non-transient answer)
        assert.equal(pushes.length, 0, `${label}: no prompt`);
        assert.equal(ledger.rejectedPushes.filter((r) => r.phone === sc.phone).length, 1, label);
        assert.equal(final.status, 'failed', label);
        assert.equal(final.failureReason, 'rejected', label);
        assert.equal(final.resultCode, '500.003.1001', label);
        assert.equal(final.mpesaReceipt, null, label);
        continue;
      }

      assert.equal(pushes.length, 1, `${label}: exactly one push`);
      assert.equal(ledger.pushesByAccountReference[created.reference], 1, `${label}: one push`);
      const truth = pushes[0]!;
      assert.equal(truth.status, 'completed', label);
      assert.equal(final.checkoutRequestId, truth.checkoutRequestId, label);
      assert.equal(final.amount, truth.amount, label);
      assert.equal(final.phone, sc.phone, label);
      if (sc.push === 'slow') {
        assert.equal(truth.responseDelayed, true, label);
        // Daraja's answer never came back in time: the 202 could not name the push
        assert.equal(created.checkoutRequestId, null, `${label}: ambiguous push, no CheckoutRequestID`);
      } else {
        assert.equal(created.checkoutRequestId, truth.checkoutRequestId, `${label}: the 202 carries it`);
      }

      if (String(truth.resultCode) === '0') {
        assert.equal(truth.customerAction, 'paid', label);
        assert.equal(final.status, 'success', label);
        assert.equal(final.resultCode, '0', label);
        assert.equal(final.failureReason, null, label);
        if (sc.callback === 'drop' || sc.callback === 'late') {
          // settled by the STK query, which carries no receipt (the late callback went to the inbox)
          assert.equal(final.mpesaReceipt, null, label);
        } else {
          assert.equal(final.mpesaReceipt, truth.receipt, `${label}: the ledger's receipt`);
          assert.ok(final.transactionDate, label);
        }
        if (sc.callback === 'late') {
          assert.equal(truth.callbacks.length, 1, label);
          assert.equal(truth.callbacks[0]?.httpStatus, 200, `${label}: the hook acknowledged it`);
        }
        if (sc.callback === 'duplicate') assert.equal(truth.callbacks.length, 2, label);
        if (sc.callback === 'drop') assert.equal(truth.callbacks.length, 0, label);
      } else {
        assert.notEqual(final.status, 'success', `${label}: never success when not paid`);
        assert.equal(final.status, 'failed', label);
        assert.equal(final.failureReason, FAILURE_REASON[String(truth.resultCode)], label);
        assert.equal(final.resultCode, String(truth.resultCode), label);
        assert.equal(final.mpesaReceipt, null, label);
      }
    }
  });

  it('a retried POST with the same Idempotency-Key replays the same payment and pushes once', async () => {
    const phone = scriptedPhone(0);
    const body = createBody(phone, { metadata: { orderId: 'o-1' } });
    const key = `order-${newRef()}`;
    const first = await s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key });
    const p = expect202(first);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    assert.match(p.checkoutRequestId, /^ws_CO_/, 'Daraja accepted quickly, so the 202 names the push');

    const retry = await s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key });
    assert.equal(retry.status, 202);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(retry.body, first.body, 'the first answer, replayed');

    // the same key with a different body
    const changed = await s.api(
      'POST',
      '/v1/payments/stk-push',
      { ...body, amount: body.amount + 1 },
      {
        'Idempotency-Key': key,
      },
    );
    expectEnvelope(changed, 422, 'IDEMPOTENCY_KEY_MISMATCH');

    const final = await s.waitForStatus(p.id);
    assert.equal(final.status, 'success');
    // a retry after settling still replays the first answer and pushes nothing
    const late = await s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key });
    assert.equal(late.headers.get('idempotent-replayed'), 'true');
    assert.equal(late.body.id, p.id);
    assert.equal(pushesOf(p.id).length, 1);
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phone], 1);
  });

  it('a retry that takes over a lapsed key after the workflow finished does not push again', async () => {
    // The first process started the workflow, then died before storing its answer; the payment
    // settled meanwhile. A retry after the key's lock lapsed must answer the payment, not re-push.
    const phone = scriptedPhone(0);
    const body = createBody(phone);
    const key = `crash-${newRef()}`;
    const p = expect202(await s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key }));
    assert.equal((await s.waitForStatus(p.id)).status, 'success');
    await eventually(
      async () =>
        (await s.temporal.workflow.getHandle(p.id).describe()).status.name === 'COMPLETED' ? true : undefined,
      20_000,
      'the workflow to complete',
    );
    await s.db
      .updateTable('idempotency_keys')
      .set({
        state: 'in_flight',
        response_status: null,
        response_body: null,
        locked_until: new Date(Date.now() - 1000),
      })
      .where('key', '=', key)
      .execute();
    const retry = await s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key });
    assert.equal(retry.status, 202, retry.text);
    assert.equal(retry.body.id, p.id);
    assert.equal(retry.body.status, 'success', 'the stored state, not the first run’s stale answer');
    assert.equal(retry.body.mpesaReceipt, pushesOf(p.id)[0]?.receipt);
    await new Promise((r) => setTimeout(r, 1500));
    const runs: string[] = [];
    for await (const wf of s.temporal.workflow.list({ query: `WorkflowId = '${p.id}'` })) runs.push(wf.runId);
    assert.equal(runs.length, 1, 'one workflow run');
    assert.equal(pushesOf(p.id).length, 1, 'no second push');
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phone], 1);
    const again = await s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key });
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, p.id);
  });

  it('two concurrent identical requests with one key make one payment and one push', async () => {
    const phone = scriptedPhone(0);
    const body = createBody(phone);
    const key = `race-${newRef()}`;
    const send = () => s.api('POST', '/v1/payments/stk-push', body, { 'Idempotency-Key': key });
    const answers = await Promise.all([send(), send()]);
    const fresh = answers.filter((r) => r.status === 202 && r.headers.get('idempotent-replayed') !== 'true');
    assert.equal(fresh.length, 1, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
    const other = answers.find((r) => r !== fresh[0])!;
    if (other.status === 409) {
      expectEnvelope(other, 409, 'IDEMPOTENCY_KEY_IN_USE');
    } else {
      assert.equal(other.status, 202, other.text);
      assert.equal(other.headers.get('idempotent-replayed'), 'true');
      assert.equal(other.body.id, fresh[0]!.body.id);
    }
    const id = fresh[0]!.body.id;
    await s.waitForStatus(id);
    const list = await s.api('GET', `/v1/payments?phone=${phone}`);
    assert.deepEqual(
      list.body.data.map((x: Json) => x.id),
      [id],
    );
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phone], 1);
  });

  it('X-Idempotency-Key and the idempotencyKey body field work too; without a key every POST is new', async () => {
    const phoneA = scriptedPhone(0);
    const bodyA = createBody(phoneA);
    const keyA = `x-${newRef()}`;
    const a1 = expect202(await s.api('POST', '/v1/payments/stk-push', bodyA, { 'X-Idempotency-Key': keyA }));
    const a2 = await s.api('POST', '/v1/payments/stk-push', bodyA, { 'X-Idempotency-Key': keyA });
    assert.equal(a2.headers.get('idempotent-replayed'), 'true');
    assert.equal(a2.body.id, a1.id);

    const phoneB = scriptedPhone(0);
    const bodyB = createBody(phoneB, { idempotencyKey: `b-${newRef()}` });
    const b1 = expect202(await s.api('POST', '/v1/payments/stk-push', bodyB));
    const b2 = await s.api('POST', '/v1/payments/stk-push', bodyB);
    assert.equal(b2.headers.get('idempotent-replayed'), 'true');
    assert.equal(b2.body.id, b1.id);

    const phoneC = scriptedPhone(0);
    const bodyC = createBody(phoneC);
    const c1 = expect202(await s.api('POST', '/v1/payments/stk-push', bodyC));
    const c2r = await s.api('POST', '/v1/payments/stk-push', bodyC);
    const c2 = expect202(c2r);
    assert.notEqual(c1.id, c2.id, 'no key: two payments');
    assert.equal(c2r.headers.get('idempotent-replayed'), null);

    for (const id of [a1.id, b1.id, c1.id, c2.id]) {
      const final = await s.waitForStatus(id, undefined, 60_000);
      assert.equal(final.status, 'success', id);
      // the second no-key push may have met the first one's open prompt ("unable to lock
      // subscriber", not a push): each payment still has exactly one accepted push
      assert.equal(pushesOf(id).length, 1, id);
    }
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phoneA], 1);
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phoneB], 1);
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phoneC], 2);
  });

  it('GET one payment (with ?refresh=true on a pending one) and list with filters and a stable cursor', async () => {
    const m = await s.newMerchant('Lister');
    const asM = (path: string) => s.request('GET', path, { key: m.key });
    const shared = newRef('S');
    const plan: Array<{ phone: string; reference: string; code?: number }> = [
      { phone: scriptedPhone(0), reference: shared, code: 0 },
      { phone: scriptedPhone(0), reference: shared, code: 0 },
      { phone: scriptedPhone(0), reference: newRef(), code: 0 },
      { phone: scriptedPhone(1032), reference: newRef(), code: 1032 },
      { phone: s.freshPhone(), reference: newRef() }, // waits for the handset: stays pending
    ];
    const created: Json[] = [];
    for (const [i, x] of plan.entries()) {
      const r = await s.request('POST', '/v1/payments/stk-push', {
        key: m.key,
        body: { phone: x.phone, amount: 20 + i, reference: x.reference, metadata: { i } },
      });
      created.push(expect202(r));
    }
    const pending = created[4];
    for (const p of created.slice(0, 4)) await s.waitForStatus(p.id, undefined, 60_000, m.key);

    // GET by id from the database, metadata echoed
    for (const [i, p] of created.entries()) {
      const r = await asM(`/v1/payments/${p.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.id, p.id);
      assert.deepEqual(r.body.metadata, { i });
      assert.equal(r.body.channelId, m.channelId);
    }

    // refresh on the pending one runs a live STK query through the workflow
    const before = s.sandbox.state.entry(pending.checkoutRequestId)!.queries;
    const refreshed = await asM(`/v1/payments/${pending.id}?refresh=true`);
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal(refreshed.body.status, 'pending');
    assert.equal(refreshed.body.checkoutRequestId, pending.checkoutRequestId);
    assert.ok(s.sandbox.state.entry(pending.checkoutRequestId)!.queries > before, 'a live query was made');

    const ids = async (query: string) => {
      const r = await asM(`/v1/payments${query}`);
      assert.equal(r.status, 200, r.text);
      return (r.body.data as Json[]).map((p) => p.id).sort();
    };
    const idsOf = (idx: number[]) => idx.map((i) => created[i].id).sort();
    assert.deepEqual(await ids('?status=success'), idsOf([0, 1, 2]));
    assert.deepEqual(await ids('?status=failed'), idsOf([3]));
    assert.deepEqual(await ids('?status=pending'), idsOf([4]));
    assert.deepEqual(await ids(`?reference=${shared}`), idsOf([0, 1]));
    const ph = plan[2]!.phone;
    for (const form of [ph, `+${ph}`, `0${ph.slice(3)}`, `${ph.slice(0, 3)} ${ph.slice(3)}`]) {
      assert.deepEqual(await ids(`?phone=${encodeURIComponent(form)}`), idsOf([2]), form);
    }
    expectEnvelope(await asM('/v1/payments?phone=12345'), 400, 'INVALID_PHONE_NUMBER');
    assert.deepEqual(await ids(`?channelId=${m.channelId}`), idsOf([0, 1, 2, 3, 4]));
    assert.deepEqual(await ids(`?channelId=${s.channelId}`), [], 'another channel');
    const times = created.map((p) => Date.parse(p.createdAt));
    const from = new Date(times[2]!).toISOString();
    const to = new Date(times[4]!).toISOString();
    const expected = created
      .filter((_, i) => times[i]! >= times[2]! && times[i]! < times[4]!)
      .map((p) => p.id);
    assert.deepEqual(
      await ids(`?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`),
      expected.sort(),
    );

    // cursor pagination: newest first, stable, no repeats, nothing skipped
    const full = (await asM('/v1/payments?limit=100')).body.data.map((p: Json) => p.id);
    assert.deepEqual([...full].sort(), idsOf([0, 1, 2, 3, 4]));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: TestResponse = await asM(`/v1/payments?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.data.length <= 2);
      seen.push(...r.body.data.map((p: Json) => p.id));
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual(seen, full, 'pages concatenate to the full, ordered list');
    assert.equal(pages, 3);
    expectEnvelope(await asM('/v1/payments?cursor=bm9wZQ'), 400, 'VALIDATION_ERROR');

    s.sandbox.state.complete(pending.checkoutRequestId, 1032);
    await s.waitForStatus(pending.id, undefined, 30_000, m.key);
  });

  it('every payment route is secured: 401 without or with a wrong key, 403 without the scope, 404 across merchants', async () => {
    const readOnly = await s.newKey(['payments:read']);
    const balanceOnly = await s.newKey(['balance:read']);
    const bad = `mlp_test_${'A'.repeat(43)}`;
    const mine = expect202(await s.api('POST', '/v1/payments/stk-push', createBody(scriptedPhone(0))));
    const routes = [
      {
        method: 'POST',
        path: '/v1/payments/stk-push',
        body: createBody(s.freshPhone()),
        lacking: readOnly.key,
      },
      { method: 'GET', path: `/v1/payments/${mine.id}`, lacking: balanceOnly.key },
      { method: 'GET', path: `/v1/payments/${mine.id}?refresh=true`, lacking: balanceOnly.key },
      { method: 'GET', path: '/v1/payments', lacking: balanceOnly.key },
    ];
    for (const r of routes) {
      const send = (key: string | null) => s.request(r.method, r.path, { key, body: r.body });
      expectEnvelope(await send(null), 401, 'UNAUTHORIZED');
      expectEnvelope(await send(bad), 401, 'INVALID_API_KEY');
      const denied = expectEnvelope(await send(r.lacking), 403, 'MISSING_SCOPE');
      assert.match(denied.error.message, r.method === 'POST' ? /payments:create/ : /payments:read/);
    }
    // nothing was pushed by the refused creations
    assert.equal(s.sandbox.state.ledger().pushesByPhone[routes[0]!.body!.phone], undefined);

    const other = await s.newMerchant('Other');
    const asM = (path: string) => s.request('GET', path, { key: other.key });
    expectEnvelope(await asM(`/v1/payments/${mine.id}`), 404, 'RESOURCE_NOT_FOUND');
    expectEnvelope(await asM(`/v1/payments/${mine.id}?refresh=true`), 404, 'RESOURCE_NOT_FOUND');
    const theirs = await asM('/v1/payments?limit=100');
    assert.equal(theirs.status, 200);
    assert.ok(!theirs.body.data.some((p: Json) => p.id === mine.id));
    // another merchant's channel cannot be used to push
    const foreign = await s.request('POST', '/v1/payments/stk-push', {
      key: other.key,
      body: createBody(s.freshPhone(), { channelId: s.channelId }),
    });
    assert.ok([403, 404].includes(foreign.status), foreign.text);
    await s.waitForStatus(mine.id);
  });

  it('bad input answers the error envelope and pushes nothing', async () => {
    const phone = s.freshPhone();
    const post = (body: unknown, headers?: Record<string, string>) =>
      s.api('POST', '/v1/payments/stk-push', body, headers);
    const ok = { phone, amount: 10, reference: 'INV1' };
    const phoneErr = expectEnvelope(await post({ ...ok, phone: '12345' }), 400, 'INVALID_PHONE_NUMBER');
    assert.ok(Array.isArray(phoneErr.error.details));
    for (const amount of [0, 1.5, 250_001, -5]) {
      expectEnvelope(await post({ ...ok, amount }), 400, 'INVALID_AMOUNT');
    }
    expectEnvelope(await post({ ...ok, reference: 'ABCDEFGHIJKLM' }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await post({ ...ok, reference: '   ' }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await post({ phone, amount: 10 }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await post({ ...ok, description: 'fourteen chars' }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await post({ ...ok, surprise: true }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await post({ ...ok, metadata: { big: 'x'.repeat(2100) } }), 400, 'VALIDATION_ERROR');
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]));
    expectEnvelope(await post({ ...ok, metadata: many }), 400, 'VALIDATION_ERROR');
    expectEnvelope(await post({ ...ok, callbackUrl: 'ftp://x.example' }), 400, 'VALIDATION_ERROR');
    for (const key of ['has space', 'x'.repeat(256), 'tab\there']) {
      expectEnvelope(await post(ok, { 'Idempotency-Key': key }), 400, 'VALIDATION_ERROR');
    }
    expectEnvelope(await post({ ...ok, idempotencyKey: '' }), 400, 'VALIDATION_ERROR');
    const raw = await s.request('POST', '/v1/payments/stk-push', {
      raw: '{"phone":',
      contentType: 'application/json',
    });
    assert.equal(raw.status, 400, raw.text);
    assert.equal(s.sandbox.state.ledger().pushesByPhone[phone], undefined, 'nothing was pushed');
    const list = await s.api('GET', `/v1/payments?phone=${phone}`);
    assert.deepEqual(list.body.data, [], 'no payment row was left behind');
  });

  it('the callback route: a wrong token is 404, garbage goes to the inbox, a forged success is not believed', async () => {
    const phone = s.freshPhone(); // waits for the handset: nobody pays
    const p = expect202(await s.api('POST', '/v1/payments/stk-push', createBody(phone, { amount: 77 })));
    assert.match(p.checkoutRequestId, /^ws_CO_/);
    const path = stkCallbackPath(s.callbackSecret, p.id);
    const hook = (url: string, body: unknown) => s.request('POST', url, { key: null, body });
    const successBody = {
      Body: {
        stkCallback: {
          MerchantRequestID: p.merchantRequestId,
          CheckoutRequestID: p.checkoutRequestId,
          ResultCode: 0,
          ResultDesc: 'The service request is processed successfully.',
          CallbackMetadata: {
            Item: [
              { Name: 'Amount', Value: 77 },
              { Name: 'MpesaReceiptNumber', Value: 'FORGED0001' },
              { Name: 'TransactionDate', Value: 20240101120000 },
              { Name: 'PhoneNumber', Value: Number(phone) },
            ],
          },
        },
      },
    };

    // a wrong token: 404, and nothing changes
    const wrongToken = `${path.slice(0, path.lastIndexOf('/') + 1)}${'A'.repeat(32)}`;
    const wrong = await hook(wrongToken, successBody);
    expectEnvelope(wrong, 404, 'RESOURCE_NOT_FOUND');
    assert.ok(!wrong.text.includes('A'.repeat(32)), 'the token is not echoed');
    expectEnvelope(await hook(`/hooks/daraja/stk/${p.id}/short`, successBody), 404, 'RESOURCE_NOT_FOUND');
    assert.equal((await inboxRows(p.id)).length, 0);
    assert.equal((await s.workflowState(p.id)).status, 'pending');

    // a valid token with a garbage body: acknowledged, kept in the inbox
    const garbage = await hook(path, { hello: 'world' });
    assert.equal(garbage.status, 200, garbage.text);
    assert.deepEqual(garbage.body, { ResultCode: 0, ResultDesc: 'Accepted' });
    const rows = await inboxRows(p.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.kind, 'stk');

    // a forged success with the right token: the STK query says "being processed", so no success
    const forged = await hook(path, successBody);
    assert.deepEqual(forged.body, { ResultCode: 0, ResultDesc: 'Accepted' });
    await eventually(
      async () => ((await s.workflowState(p.id)).queries > 0 ? true : undefined),
      20_000,
      'the confirming query',
    );
    const during = (await s.api('GET', `/v1/payments/${p.id}`)).body;
    assert.notEqual(during.status, 'success');
    assert.equal(s.sandbox.state.entry(p.checkoutRequestId)!.status, 'open', 'the customer has not acted');

    // the customer then cancels: the payment ends anything but success
    s.sandbox.state.complete(p.checkoutRequestId, 1032);
    const final = await s.waitForStatus(p.id, (x) => x.status !== 'pending', 60_000);
    assert.notEqual(final.status, 'success');
    assert.ok(
      (final.status === 'needs_review' && final.reviewReason === 'unconfirmed_success') ||
        (final.status === 'failed' && final.failureReason === 'cancelled'),
      JSON.stringify(final),
    );
    assert.equal(pushesOf(p.id).length, 1);
    const events = await s.db.selectFrom('events').select('type').where('payment_id', '=', p.id).execute();
    assert.ok(!events.some((e) => e.type === 'payment.success'));

    // a callback for a payment whose workflow does not exist lands in the inbox
    const ghost = 'pay_NoSuchWorkflow0000000000';
    const ghostAnswer = await hook(stkCallbackPath(s.callbackSecret, ghost), successBody);
    assert.equal(ghostAnswer.status, 200);
    assert.deepEqual(ghostAnswer.body, { ResultCode: 0, ResultDesc: 'Accepted' });
    const ghostRows = await inboxRows(ghost);
    assert.equal(ghostRows.length, 1);
    const stored =
      typeof ghostRows[0]!.body === 'string' ? JSON.parse(ghostRows[0]!.body) : ghostRows[0]!.body;
    assert.equal(stored.Body.stkCallback.CheckoutRequestID, p.checkoutRequestId);
  });

  it('the Temporal search attributes find a pending payment and, later, a settled one', async () => {
    const m = await s.newMerchant('Searcher');
    const phone = s.freshPhone();
    const p = expect202(
      await s.request('POST', '/v1/payments/stk-push', {
        key: m.key,
        body: { phone, amount: 4321, reference: 'FINDME' },
      }),
    );
    const list = async (query: string) => {
      const ids: string[] = [];
      for await (const wf of s.temporal.workflow.list({ query })) ids.push(wf.workflowId);
      return ids;
    };
    const byStatus = (status: string) =>
      `MalipoStatus = '${status}' AND MalipoMerchantId = '${m.merchantId}'`;
    // visibility is eventually consistent: poll
    await eventually(
      async () => ((await list(byStatus('pending'))).includes(p.id) ? true : undefined),
      30_000,
      'the pending payment in visibility',
      500,
    );
    assert.deepEqual(
      await list(`MalipoReference = 'FINDME' AND MalipoAmount = 4321 AND MalipoChannelId = '${m.channelId}'`),
      [p.id],
    );
    s.sandbox.state.complete(p.checkoutRequestId, 1032);
    const final = await s.waitForStatus(p.id, undefined, 30_000, m.key);
    assert.equal(final.status, 'failed');
    await eventually(
      async () => {
        const failed = await list(byStatus('failed'));
        const pending = await list(byStatus('pending'));
        return failed.includes(p.id) && !pending.includes(p.id) ? true : undefined;
      },
      30_000,
      'the settled payment in visibility',
      500,
    );
  });
});
