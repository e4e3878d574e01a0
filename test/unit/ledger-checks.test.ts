/**
 * The judges of `malipo chaos` can fail: the payout and C2B checks (src/chaos/payouts.ts,
 * src/chaos/c2b.ts) are fed a simulator ledger and database rows that disagree in each way they look
 * for, and must count it as wrong or double (and count honest `needs_review` and unreachable
 * confirmations apart). No stack: rows go straight into an in-memory PGlite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { c2bFlow } from '../../src/chaos/c2b';
import type { ChaosContext } from '../../src/chaos/kinds';
import { payoutFlow } from '../../src/chaos/payouts';
import { type DatabaseHandle, openDatabase } from '../../src/db';
import type { C2bPaymentLedgerEntry, PayoutLedgerEntry } from '../../src/sandbox';
import { SandboxState } from '../../src/sandbox';

const MERCHANT = 'mer_chaos';
const CHANNEL = 'ch_c2b';

let handle: DatabaseHandle;
before(async () => {
  handle = await openDatabase({});
});
after(async () => {
  await handle.close();
});

function context(state: SandboxState, violations: string[], ids: string[]): ChaosContext {
  let n = 0;
  return {
    db: handle.db,
    state,
    merchantId: MERCHANT,
    run: 'test',
    call: async () => ({ status: 202, body: { id: ids[0] }, text: '' }),
    // the API stand-in: payout #n is accepted as ids[n]
    submit: async () => ({ id: ids[n++] }),
    violate: (v) => violations.push(v),
    hookBase: 'http://127.0.0.1:9',
    callbackSecret: 'x'.repeat(64),
  };
}

function ledgerPayout(id: string, o: Partial<PayoutLedgerEntry>): PayoutLedgerEntry {
  return {
    apiVersion: 3,
    originatorConversationId: id,
    conversationId: `AG_${id}`,
    receivedAt: new Date().toISOString(),
    request: {},
    shortcode: '600000',
    phone: '254708374149',
    amount: 10,
    commandId: 'BusinessPayment',
    resultUrl: 'http://127.0.0.1:9/r',
    queueTimeoutUrl: 'http://127.0.0.1:9/t',
    httpStatus: 200,
    errorCode: null,
    errorMessage: null,
    responseDelayed: false,
    source: 'scenario',
    faults: [],
    processed: true,
    paid: true,
    resultCode: 0,
    resultDesc: 'ok',
    receipt: `R${id}`,
    transactionId: `R${id}`,
    completedAt: new Date().toISOString(),
    delivery: 'result_url',
    callbacks: [],
    statusQueries: 0,
    ...o,
  };
}

async function payoutRow(id: string, status: string, o: { receipt?: string; reason?: string } = {}) {
  await handle.db
    .insertInto('payouts')
    .values({
      id,
      merchant_id: MERCHANT,
      environment: 'test',
      channel_id: 'ch_default',
      status,
      amount: 10,
      phone: '254708374149',
      command_id: 'BusinessPayment',
      remarks: 'Chaos payout',
      reference: id,
      mpesa_receipt: o.receipt ?? null,
      review_reason: o.reason ?? null,
    })
    .execute();
}

describe('the payout check', () => {
  it('counts a status the B2C ledger contradicts as wrong, a second request as double, needs_review apart', async () => {
    const ids = ['po_ok', 'po_ghost', 'po_lost', 'po_review', 'po_twice', 'po_failed'];
    const state = new SandboxState({ seed: 1 });
    const violations: string[] = [];
    const flow = payoutFlow(context(state, violations, ids));
    for (let j = 0; j < ids.length; j++) await flow.drive(j);
    // right: success and paid
    state.recordPayout(ledgerPayout('po_ok', {}));
    await payoutRow('po_ok', 'success', { receipt: 'Rpo_ok' });
    // wrong: success, but the request was answered 500 and nothing moved
    state.recordPayout(
      ledgerPayout('po_ghost', { httpStatus: 500, processed: false, paid: false, receipt: null }),
    );
    await payoutRow('po_ghost', 'success', { receipt: 'RFAKE' });
    // wrong: failed, but the ledger paid it
    state.recordPayout(ledgerPayout('po_lost', {}));
    await payoutRow('po_lost', 'failed');
    // honest: needs_review, the Result was never sent
    state.recordPayout(ledgerPayout('po_review', { delivery: 'dropped' }));
    await payoutRow('po_review', 'needs_review', { reason: 'result_missing' });
    // double: sent twice (the second refused as a duplicate), though paid once
    state.recordPayout(ledgerPayout('po_twice', {}));
    state.recordPayout(
      ledgerPayout('po_twice', { httpStatus: 500, source: 'duplicate', paid: false, receipt: null }),
    );
    await payoutRow('po_twice', 'success', { receipt: 'Rpo_twice' });
    // right: failed, nothing paid
    state.recordPayout(ledgerPayout('po_failed', { paid: false, receipt: null, resultCode: 2040 }));
    await payoutRow('po_failed', 'failed');

    const c = await flow.check(state.ledger());
    assert.deepEqual(c.summary, {
      kind: 'b2c payouts',
      total: 6,
      success: 3,
      failed: 2,
      needsReview: 1,
      wrong: 2,
      double: 1,
    });
    assert.equal(violations.length, 3, violations.join('\n'));
    assert.ok(violations.some((v) => v.startsWith('po_ghost: payout success but the ledger paid nothing')));
    assert.ok(violations.some((v) => v.startsWith('po_lost: payout failed')));
    assert.ok(violations.some((v) => v.startsWith('po_twice: 2 B2C requests')));
    assert.equal(c.lines.find(([k]) => k === 'payout needs_review where money moved')?.[1], 1);
    assert.equal(c.finalIds.length, 6);
  });
});

function ledgerC2b(transId: string, o: Partial<C2bPaymentLedgerEntry> = {}): C2bPaymentLedgerEntry {
  const at = new Date().toISOString();
  return {
    transId,
    via: 'control',
    originatorConversationId: null,
    at,
    transTime: '20250101120000',
    shortcode: '600984',
    phone: '254708374149',
    amount: 50,
    billRefNumber: 'REF',
    transactionType: 'Pay Bill',
    registration: {
      at,
      shortcode: '600984',
      responseType: 'Completed',
      confirmationUrl: 'http://127.0.0.1:9/c',
      validationUrl: 'http://127.0.0.1:9/v',
    },
    validation: { request: {}, attempt: null, reply: null, outcome: 'accepted', resultCode: '0' },
    decidedBy: 'validation',
    accepted: true,
    thirdPartyTransId: null,
    orgAccountBalance: '50.00',
    confirmation: {
      request: {},
      attempts: [
        { attempt: 1, at, ok: true, httpStatus: 200, target: 'ConfirmationURL', url: 'http://127.0.0.1:9/c' },
      ],
      delivered: true,
    },
    statusQueries: 0,
    ...o,
  };
}

async function c2bRow(id: string, receipt: string, o: { channel?: string; amount?: number } = {}) {
  await handle.db
    .insertInto('payments')
    .values({
      id,
      merchant_id: MERCHANT,
      environment: 'test',
      channel_id: o.channel ?? CHANNEL,
      kind: 'c2b',
      status: 'success',
      amount: o.amount ?? 50,
      phone: '2547 ***** 149',
      reference: 'REF',
      description: 'Pay Bill',
      mpesa_receipt: receipt,
    })
    .execute();
}

describe('the C2B check', () => {
  it('counts a lost, misrecorded or invented confirmation as wrong, and one no API ever answered apart', async () => {
    const state = new SandboxState({ seed: 1 });
    const violations: string[] = [];
    const flow = c2bFlow(context(state, violations, []), {
      sandboxUrl: 'http://127.0.0.1:9',
      channelId: CHANNEL,
      shortcode: '600984',
      confirmationAttempts: 8,
    });
    // right
    state.recordC2bPayment(ledgerC2b('TXOK'));
    await c2bRow('pay_ok', 'TXOK');
    // wrong: confirmed (answered 200) but no payment
    state.recordC2bPayment(ledgerC2b('TXLOST'));
    // apart: every attempt refused at the socket (no API process up)
    const at = new Date().toISOString();
    state.recordC2bPayment(
      ledgerC2b('TXDOWN', {
        confirmation: {
          request: {},
          attempts: [
            { attempt: 1, at, ok: false, error: 'ECONNREFUSED', target: 'ConfirmationURL', url: 'x' },
          ],
          delivered: false,
        },
      }),
    );
    // wrong: on another channel, with another amount
    state.recordC2bPayment(ledgerC2b('TXELSE'));
    await c2bRow('pay_else', 'TXELSE', { channel: 'ch_other', amount: 49 });
    // wrong: rejected by validation, yet recorded
    state.recordC2bPayment(ledgerC2b('TXREJ', { accepted: false }));
    await c2bRow('pay_rej', 'TXREJ');
    // wrong: a payment no customer made
    await c2bRow('pay_ghost', 'TXGHOST');
    // another shortcode's payment is not this run's
    state.recordC2bPayment(ledgerC2b('TXNOTOURS', { shortcode: '600000' }));

    const c = await flow.check(state.ledger());
    assert.deepEqual(c.summary, {
      kind: 'c2b confirmations',
      total: 5,
      success: 1,
      failed: 1,
      needsReview: undefined,
      wrong: 4,
      double: 0,
    });
    assert.ok(violations.some((v) => v.startsWith('C2B TXLOST: confirmed (200) but no payment')));
    assert.ok(violations.some((v) => v.startsWith('C2B TXELSE: payment pay_else on ch_other')));
    assert.ok(violations.some((v) => v.startsWith('C2B TXREJ: rejected in the ledger')));
    assert.ok(violations.some((v) => v.includes('receipt TXGHOST is in no ledger entry')));
    assert.equal(c.lines.find(([k]) => k === 'C2B confirmations no API process ever answered')?.[1], 1);
    // TXDOWN has had one of its eight attempts: the simulator still confirms it, so the run keeps waiting
    assert.equal(await flow.settled(), false);
  });
});
