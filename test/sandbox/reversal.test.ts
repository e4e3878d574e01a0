/**
 * The simulator's Reversal endpoint: Daraja's validation, asynchronous Results, the faults (500,
 * lost response, dropped, late and duplicate Results) and the ground-truth ledger, which records each
 * reversed amount against the original transaction and refuses reversing more than it.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  parseAsyncResult,
  reversalResultDetails,
  transactionStatusDetails,
} from '../../src/daraja/callbacks';
import { DarajaError } from '../../src/daraja/errors';
import { SIMULATOR_CERT_PATH, securityCredential } from '../../src/daraja/security-credential';
import { DEFAULT_APP, NO_FAULTS, SANDBOX_PASSKEY, type SandboxServer } from '../../src/sandbox';
import { clientFor, type Receiver, sleep, startReceiver, startSim, waitUntil } from '../helpers/sandbox';

const CREDENTIAL = securityCredential(DEFAULT_APP.initiatorPassword!, { path: SIMULATOR_CERT_PATH });

let sim: SandboxServer;
let rec: Receiver;
let seq = 0;

before(async () => {
  [sim, rec] = await Promise.all([
    startSim({ lateCallbackDelayMs: 400, slowResponseMs: 1500 }),
    startReceiver(),
  ]);
});
after(async () => {
  await sim?.close();
  await rec?.close();
});
beforeEach(() => sim.sandbox.state.setFaults(NO_FAULTS));

/** A paid STK push of `amount`; its receipt. */
async function paid(amount: number): Promise<string> {
  const stk = await clientFor(sim).stkPush({
    shortcode: '174379',
    passkey: SANDBOX_PASSKEY,
    type: 'paybill',
    amount,
    phone: '254708374149',
    callbackUrl: `${rec.url}/stk/cb`,
    accountReference: `R${++seq}`,
    description: 'Reversal',
  });
  const e = await waitUntil(() => {
    const x = sim.sandbox.state.entry(stk.checkoutRequestId);
    return x?.receipt ? x : undefined;
  });
  return e.receipt!;
}

function reversal(tag: string, transactionId: string, amount: number) {
  return clientFor(sim, { timeoutMs: 800 }).reversal({
    initiatorName: 'testapi',
    securityCredential: CREDENTIAL,
    transactionId,
    amount,
    receiverParty: '174379',
    resultUrl: `${rec.url}/rev/result/${tag}`,
    queueTimeoutUrl: `${rec.url}/rev/timeout/${tag}`,
    remarks: 'Refund',
  });
}

const resultsFor = (tag: string) => rec.received.filter((r) => r.path === `/rev/result/${tag}`);
async function resultOf(tag: string) {
  const [hit] = await waitUntil(() => (resultsFor(tag).length ? resultsFor(tag) : undefined));
  const p = parseAsyncResult(hit!.body);
  assert.ok(p.ok);
  return p.value;
}

async function rawPost(
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { token } = sim.sandbox.state.issueToken(DEFAULT_APP);
  const r = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('simulator Reversal', () => {
  it('reverses in parts, records each amount against the original, and refuses going beyond it with R000003', async () => {
    const receipt = await paid(100);
    const a = await reversal('p1', receipt, 30);
    assert.match(a.conversationId, /^AG_/);
    const r1 = await resultOf('p1');
    assert.equal(r1.resultCode, '0');
    const d1 = reversalResultDetails(r1);
    assert.equal(d1.amount, 30);
    assert.equal(d1.originalTransactionId, receipt);
    assert.equal(r1.conversationId, a.conversationId);
    await reversal('p2', receipt, 70);
    assert.equal((await resultOf('p2')).resultCode, '0');
    await reversal('p3', receipt, 1);
    const r3 = await resultOf('p3');
    assert.equal(r3.resultCode, 'R000003');
    assert.deepEqual(r3.parameters, {});
    const state = sim.sandbox.state;
    assert.equal(state.reversedAmount(receipt), 100);
    assert.deepEqual(
      state.reversalsOf(receipt).map((r) => [r.amount, r.reversed, r.original?.kind]),
      [
        [30, true, 'stk'],
        [70, true, 'stk'],
        [1, false, 'stk'],
      ],
    );
    // the control API shows the same ledger
    const ctl = (await (await fetch(`${sim.url}/sandbox/__sandbox/ledger/reversals/${receipt}`)).json()) as {
      reversedAmount: number;
      reversals: unknown[];
    };
    assert.equal(ctl.reversedAmount, 100);
    assert.equal(ctl.reversals.length, 3);
  });

  it('an unknown receipt gets R000002 and a wrong credential 2001, both asynchronously', async () => {
    await reversal('unknown', 'UAB0000000', 5);
    const r = await resultOf('unknown');
    assert.equal(r.resultCode, 'R000002');
    assert.equal(r.resultDesc, 'The OriginalTransactionID is invalid.');
    const receipt = await paid(20);
    await clientFor(sim).reversal({
      initiatorName: 'testapi',
      securityCredential: securityCredential('wrong password', { path: SIMULATOR_CERT_PATH }),
      transactionId: receipt,
      amount: 5,
      receiverParty: '174379',
      resultUrl: `${rec.url}/rev/result/cred`,
      queueTimeoutUrl: `${rec.url}/rev/timeout/cred`,
      remarks: 'Refund',
    });
    assert.equal((await resultOf('cred')).resultCode, '2001');
    assert.equal(sim.sandbox.state.reversedAmount(receipt), 0);
  });

  it('validates like Daraja: 400.002.02 naming the field, RecieverIdentifierType spelt as Daraja does', async () => {
    const receipt = await paid(10);
    const good = {
      Initiator: 'testapi',
      SecurityCredential: CREDENTIAL,
      CommandID: 'TransactionReversal',
      TransactionID: receipt,
      Amount: 5,
      ReceiverParty: '174379',
      RecieverIdentifierType: '11',
      ResultURL: `${rec.url}/rev/result/raw`,
      QueueTimeOutURL: `${rec.url}/rev/timeout/raw`,
      Remarks: 'Refund',
    };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ CommandID: 'Reversal' }, 'CommandID'],
      [{ TransactionID: 'short' }, 'TransactionID'],
      [{ Amount: 0 }, 'Amount'],
      [{ Amount: 1.5 }, 'Amount'],
      [{ ReceiverParty: 'abc' }, 'ReceiverParty'],
      [{ RecieverIdentifierType: '4' }, 'RecieverIdentifierType'],
      [{ Remarks: '' }, 'Remarks'],
      [{ ResultURL: 'not a url' }, 'ResultURL'],
    ];
    for (const [patch, field] of cases) {
      const r = await rawPost('/mpesa/reversal/v1/request', { ...good, ...patch });
      assert.equal(r.status, 400, field);
      assert.equal(r.body.errorCode, '400.002.02');
      assert.equal(r.body.errorMessage, `Bad Request - Invalid ${field}`);
    }
    const ok = await rawPost('/mpesa/reversal/v1/request', good);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.ResponseCode, '0');
    assert.equal(sim.sandbox.state.reversalsOf(receipt).length, 1, 'refused requests never reach the ledger');
  });

  it('faults: 500 is not executed; a lost response is executed; dropped, late and duplicate Results', async () => {
    const receipt = await paid(100);
    const state = sim.sandbox.state;
    state.setFaults({ ...NO_FAULTS, reversalRequestError500: 1 });
    await assert.rejects(reversal('f500', receipt, 10), DarajaError);
    assert.equal(state.reversedAmount(receipt), 0);

    state.setFaults({ ...NO_FAULTS, reversalLostResponse: 1 });
    await assert.rejects(
      reversal('flost', receipt, 10),
      (e: unknown) => e instanceof DarajaError && e.kind === 'ambiguous',
    );
    assert.equal((await resultOf('flost')).resultCode, '0', 'the request was executed all the same');
    assert.equal(state.reversedAmount(receipt), 10);

    state.setFaults({ ...NO_FAULTS, reversalResultDrop: 1 });
    await reversal('fdrop', receipt, 10);
    await sleep(300);
    assert.equal(resultsFor('fdrop').length, 0);
    assert.equal(state.reversedAmount(receipt), 20, 'a dropped Result is still a reversal');

    state.setFaults({ ...NO_FAULTS, reversalResultLate: 1 });
    const t0 = Date.now();
    await reversal('flate', receipt, 10);
    await resultOf('flate');
    assert.ok(Date.now() - t0 >= 350, 'the late Result waits lateCallbackDelayMs');

    state.setFaults({ ...NO_FAULTS, reversalResultDuplicate: 1 });
    await reversal('fdup', receipt, 10);
    await waitUntil(() => (resultsFor('fdup').length === 2 ? true : undefined));
    assert.deepEqual(resultsFor('fdup')[0]!.body, resultsFor('fdup')[1]!.body);
    assert.equal(state.reversedAmount(receipt), 40);
  });

  it('Transaction Status finds an executed reversal by its OriginatorConversationID; a refused one is unknown', async () => {
    const receipt = await paid(10);
    const ok = await reversal('ts1', receipt, 10);
    await resultOf('ts1');
    const refused = await reversal('ts2', receipt, 1);
    await resultOf('ts2');
    for (const [tag, ack] of [
      ['q1', ok],
      ['q2', refused],
    ] as const) {
      await clientFor(sim).transactionStatus({
        initiatorName: 'testapi',
        securityCredential: CREDENTIAL,
        originalConversationId: ack.originatorConversationId,
        partyA: '174379',
        identifierType: 'shortcode',
        resultUrl: `${rec.url}/rev/status/${tag}`,
        queueTimeoutUrl: `${rec.url}/rev/status/${tag}`,
        remarks: 'Status',
      });
    }
    const status = async (tag: string) => {
      const [hit] = await waitUntil(() => {
        const l = rec.received.filter((r) => r.path === `/rev/status/${tag}`);
        return l.length ? l : undefined;
      });
      const p = parseAsyncResult(hit!.body);
      assert.ok(p.ok);
      return p.value;
    };
    const q1 = await status('q1');
    assert.equal(q1.resultCode, '0');
    assert.equal(transactionStatusDetails(q1).status, 'Completed');
    assert.equal(transactionStatusDetails(q1).amount, 10);
    assert.equal((await status('q2')).resultCode, 'R000001');
  });
});
