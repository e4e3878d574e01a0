/**
 * Manual resolution end to end (test/helpers/stack.ts: the real dev server, database, worker and
 * simulator): pushes whose answer is lost (`ambiguousPush`) and whose callback is dropped
 * (`dropCallback`) end in needs_review; one is resolved `success` through its still-running workflow
 * (the `resolve` update), the other `failed` after its workflow has ended (written directly). Each is
 * checked against the simulator's ledger, the event and the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectEnvelope } from '../helpers/http';
import { type Stack, startStack } from '../helpers/stack';

let s: Stack;

before(async () => {
  s = await startStack({ postgresUrl: process.env.MALIPO_TEST_DATABASE_URL });
  // every push's answer is held back past the client's timeout, and no callback is ever sent
  s.sandbox.state.setFaults({ ambiguousPush: 1, dropCallback: 1 });
});
after(async () => {
  await s?.stop();
});

const events = (id: string) =>
  s.db.selectFrom('events').selectAll().where('payment_id', '=', id).orderBy('payment_version').execute();
const audit = (id: string) => s.db.selectFrom('audit_log').selectAll().where('target_id', '=', id).execute();
const reviewed = (p: { status: string }) => p.status === 'needs_review';

async function pushInReview(phone: string, reference: string) {
  const r = await s.api('POST', '/v1/payments/stk-push', { phone, amount: 10, reference });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.checkoutRequestId, null, 'the push is ambiguous');
  const p = await s.waitForStatus(r.body.id, reviewed, 90_000);
  assert.equal(p.reviewReason, 'ambiguous_initiation');
  return p;
}

describe('manual resolution of a needs_review payment, end to end', () => {
  it('success through the running workflow, with the receipt the customer was given', async () => {
    // the scenario phone whose push answer is held back; the customer pays
    const p = await pushInReview('254700009504', 'RESOLVE-OK');
    const truth = s.sandbox.state.ledger().pushesByAccountReference;
    assert.equal(truth['RESOLVE-OK'], 1, 'one push');
    const txn = Object.values(s.sandbox.state.ledger().pushes).find(
      (x) => x.accountReference === 'RESOLVE-OK',
    );
    assert.ok(txn?.receipt, 'the customer paid and got a receipt');
    // the workflow still runs: it waits for its first reconciliation attempt
    const handle = s.temporal.workflow.getHandle(p.id);
    assert.equal((await handle.describe()).status.name, 'RUNNING');

    const body = { status: 'success', mpesaReceipt: txn.receipt, note: 'customer forwarded the M-Pesa SMS' };
    const r = await s.api('POST', `/v1/payments/${p.id}/resolve`, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'success');
    assert.equal(r.body.mpesaReceipt, txn.receipt);
    assert.equal(r.body.resolvedBy, 'manual');
    const state = await handle.result();
    assert.equal(state.status, 'success');
    assert.equal(state.resolvedBy, 'manual');

    const evs = await events(p.id);
    assert.deepEqual(
      evs.map((e) => e.type),
      ['payment.needs_review', 'payment.success'],
    );
    const data = JSON.parse(evs[1]!.body).data;
    assert.equal(data.resolvedBy, 'manual');
    assert.equal(data.mpesaReceipt, txn.receipt);
    const rows = await audit(p.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.action, 'payment.resolve');
    assert.equal(rows[0]!.actor, s.keyId);

    // once settled: the same again is 200, another answer is 409
    const again = await s.api('POST', `/v1/payments/${p.id}/resolve`, body);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.status, 'success');
    expectEnvelope(
      await s.api('POST', `/v1/payments/${p.id}/resolve`, { status: 'failed', note: 'no' }),
      409,
      'RESOLUTION_CONFLICT',
    );
    assert.equal((await audit(p.id)).length, 1);
  });

  it('failed after the workflow has ended: written directly, with its event and audit row', async () => {
    // a customer who cancels; neither the push's answer nor the callback ever arrives
    const phone = s.freshPhone();
    s.sandbox.state.setPhoneOutcome(phone, { resultCode: 1032 });
    const p = await pushInReview(phone, 'RESOLVE-NO');
    const handle = s.temporal.workflow.getHandle(p.id);
    // stands for a run that reached its reconciliation horizon
    await handle.terminate('ended for the test');
    const r = await s.api('POST', `/v1/payments/${p.id}/resolve`, {
      status: 'failed',
      note: 'statement shows no such payment',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'failed');
    assert.equal(r.body.failureReason, 'reviewed');
    assert.equal(r.body.resolvedBy, 'manual');
    const evs = await events(p.id);
    assert.deepEqual(
      evs.map((e) => e.type),
      ['payment.needs_review', 'payment.failed'],
    );
    assert.equal(JSON.parse(evs[1]!.body).data.resolvedBy, 'manual');
    assert.equal((await audit(p.id)).length, 1);
    const txn = Object.values(s.sandbox.state.ledger().pushes).find(
      (x) => x.accountReference === 'RESOLVE-NO',
    );
    assert.notEqual(txn?.customerAction, 'paid', 'the ledger agrees: nothing was paid');
  });
});
