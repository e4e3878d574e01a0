/**
 * The lookup routes with a stand-in Temporal client: how workflow answers map to HTTP (502, 503, 504,
 * found: false), the API's own wait bound when no answer comes at all, and what the Result hook
 * signals. The real workflow and simulator are covered by test/e2e/lookups.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { DarajaLookupInput, DarajaLookupResult, LookupResultSignal } from '../../src/domain/lookup';
import { callbackSecretOf } from '../../src/http/app';
import { lookupResultPath } from '../../src/lookups/hook';
import { kesString, parseBalances } from '../../src/lookups/results';
import { expectEnvelope, fakeTemporal, startTestApp, type TestApp, type TestMerchant } from '../helpers/http';

const WAIT_MS = 1000;

/** What the stand-in's next workflow answers (undefined: never). */
let answer: ((input: DarajaLookupInput) => Partial<DarajaLookupResult>) | undefined;
const startedInputs: DarajaLookupInput[] = [];
const signals: Array<{ id: string; name: string; payload: LookupResultSignal }> = [];
let signalError: Error | undefined;

const temporal = {
  ...fakeTemporal,
  workflow: {
    async start(_wf: unknown, opts: { workflowId: string; args: [DarajaLookupInput] }) {
      const input = opts.args[0];
      startedInputs.push(input);
      const a = answer;
      return {
        workflowId: opts.workflowId,
        result: () =>
          a
            ? Promise.resolve({
                lookupId: input.lookupId,
                kind: input.kind,
                status: 'completed',
                message: 'stand-in',
                decidedAt: new Date().toISOString(),
                ...a(input),
              })
            : new Promise(() => {}),
      };
    },
    getHandle(id: string) {
      return {
        async signal(def: { name: string }, payload: LookupResultSignal) {
          if (signalError) throw signalError;
          signals.push({ id, name: def.name, payload });
        },
      };
    },
  },
} as unknown as Client;

let t: TestApp;
let m: TestMerchant;

before(async () => {
  t = await startTestApp({ temporal, env: { MALIPO_LOOKUP_WAIT_MS: String(WAIT_MS) } });
  m = await t.merchant();
  await t.channel(m.id, { initiatorName: 'testapi', initiatorPassword: 'Safaricom999!*!' });
});
after(() => t.close());

const balance = () => t.request('GET', '/v1/balance', { key: m.key });
const status = (body: unknown) => t.request('POST', '/v1/transactions/status', { key: m.key, body });

describe('lookup routes: mapping the workflow’s answer', () => {
  it('the workflow input carries ids, never a credential', async () => {
    answer = () => ({ accounts: [], completedTime: '20240101150000' });
    const r = await balance();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.completedAt, '2024-01-01T12:00:00.000Z', 'BOCompletedTime is Nairobi time');
    const input = startedInputs.at(-1)!;
    assert.equal(input.kind, 'account_balance');
    assert.equal(input.waitMs, WAIT_MS);
    assert.equal(input.environment, 'test');
    assert.ok(!JSON.stringify(input).includes('Safaricom999'), 'no password in the workflow input');
    assert.ok(!JSON.stringify(input).includes('testapi'), 'not even the initiator name');
  });

  it('a refusal by Daraja is 502; by Malipo’s own checks 422; a missing certificate 503; no answer in time 504', async () => {
    answer = () => ({
      status: 'failed',
      failedAt: 'request',
      rejectedBy: 'daraja',
      resultCode: '400.002.02',
      resultDesc: 'Bad Request - Invalid Initiator',
    });
    const refused = expectEnvelope(await balance(), 502, 'UPSTREAM_ERROR');
    assert.deepEqual(refused.error.details, [
      { path: 'daraja', message: 'Bad Request - Invalid Initiator', code: '400.002.02' },
    ]);

    answer = () => ({
      status: 'failed',
      failedAt: 'request',
      rejectedBy: 'malipo',
      resultCode: 'invalid_request',
      resultDesc: 'Invalid Daraja request: shortcode must be a 5-7 digit shortcode',
    });
    expectEnvelope(await balance(), 422, 'CHANNEL_MISCONFIGURED');

    answer = () => ({
      status: 'failed',
      failedAt: 'request',
      rejectedBy: 'malipo',
      resultCode: 'certificate_missing',
      resultDesc: 'the production certificate is not installed',
    });
    expectEnvelope(await balance(), 503, 'SERVICE_UNAVAILABLE');

    answer = () => ({ status: 'timeout' });
    expectEnvelope(await balance(), 504, 'UPSTREAM_TIMEOUT');
  });

  it('a workflow that never answers (no worker) is 504 after the wait plus slack', async () => {
    answer = undefined;
    const started = Date.now();
    const r = await status({ receipt: 'UKM8EOG5BS' });
    const took = Date.now() - started;
    expectEnvelope(r, 504, 'UPSTREAM_TIMEOUT');
    assert.ok(took >= WAIT_MS && took < WAIT_MS + 8000, `${took} ms`);
  });

  it('Transaction Status: another code is found: false; an initiator code is 502', async () => {
    answer = () => ({
      status: 'failed',
      failedAt: 'result',
      resultCode: 'R000001',
      resultDesc: 'The transaction receipt number does not exist.',
      transaction: {},
    });
    const notFound = await status({ receipt: 'UKM8EOG5BS' });
    assert.equal(notFound.status, 200, notFound.text);
    assert.deepEqual(notFound.body, {
      object: 'transaction_status',
      lookupId: startedInputs.at(-1)!.lookupId,
      channelId: notFound.body.channelId,
      found: false,
      status: null,
      receipt: 'UKM8EOG5BS',
      amount: null,
      debitPartyName: null,
      creditPartyName: null,
      initiatedAt: null,
      finalisedAt: null,
      reasonType: null,
      resultCode: 'R000001',
      resultDesc: 'The transaction receipt number does not exist.',
    });
    for (const code of ['2001', '8006', '21']) {
      answer = () => ({ status: 'failed', failedAt: 'result', resultCode: code, resultDesc: 'initiator' });
      const b = expectEnvelope(await status({ originatorConversationId: 'oc-1' }), 502, 'UPSTREAM_ERROR');
      assert.match(b.error.message, /initiator name and password/);
    }
    assert.equal(startedInputs.at(-1)!.originatorConversationId, 'oc-1');
    assert.equal(startedInputs.at(-1)!.receipt, undefined);
  });
});

describe('the Result hook with a stand-in client', () => {
  const ACK = { ResultCode: 0, ResultDesc: 'Accepted' };
  const hook = (id: string, body: unknown) =>
    t.request('POST', lookupResultPath(callbackSecretOf(t.config, t.secretBox), id), { body });

  it('signals a balance Result with its accounts as decimal strings', async () => {
    signals.length = 0;
    const r = await hook('lkp_Balance000000000000001', {
      Result: {
        ResultType: '0',
        ResultCode: '0',
        ResultDesc: 'The service request is processed successfully.',
        OriginatorConversationID: 'oc-1',
        ConversationID: 'AG_20240101_1',
        TransactionID: 'SAX0000000',
        ResultParameters: {
          ResultParameter: [
            {
              Key: 'AccountBalance',
              Value:
                'Working Account|KES|900000.00|900000.00|0.00|0.00&Utility Account|KES|10116|10116.00|0.00|0.00',
            },
            { Key: 'BOCompletedTime', Value: 20240101150000 },
          ],
        },
        ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://internal.example/x' } },
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, ACK);
    assert.deepEqual(signals, [
      {
        id: 'lkp_Balance000000000000001',
        name: 'lookupResult',
        payload: {
          resultCode: '0',
          resultDesc: 'The service request is processed successfully.',
          resultType: 0,
          conversationId: 'AG_20240101_1',
          originatorConversationId: 'oc-1',
          accounts: [
            {
              name: 'Working Account',
              currency: 'KES',
              available: '900000.00',
              uncleared: '900000.00',
              reserved: '0.00',
            },
            {
              name: 'Utility Account',
              currency: 'KES',
              available: '10116.00',
              uncleared: '10116.00',
              reserved: '0.00',
            },
          ],
          completedTime: '20240101150000',
        },
      },
    ]);
  });

  it('signals a Transaction Status Result with its fields, and a failure code as sent', async () => {
    signals.length = 0;
    const params = {
      DebitPartyName: '254700000000 - SANDBOX CUSTOMER',
      CreditPartyName: '174379 - MALIPO SANDBOX',
      InitiatedTime: 20240101120000,
      DebitPartyCharges: '',
      ReasonType: 'Pay Bill Online',
      TransactionStatus: 'Completed',
      FinalisedTime: 20240101120005,
      Amount: 137,
      ReceiptNo: 'UKM8EOG5BS',
    };
    await hook('lkp_Status0000000000000001', {
      Result: {
        ResultType: 0,
        ResultCode: 0,
        ResultDesc: 'ok',
        ConversationID: 'AG_2',
        ResultParameters: { ResultParameter: Object.entries(params).map(([Key, Value]) => ({ Key, Value })) },
      },
    });
    await hook('lkp_Status0000000000000002', {
      Result: { ResultCode: 'R000001', ResultDesc: 'The transaction receipt number does not exist.' },
    });
    assert.deepEqual(signals[0]?.payload.transaction, {
      receipt: 'UKM8EOG5BS',
      status: 'Completed',
      amount: 137,
      debitPartyName: '254700000000 - SANDBOX CUSTOMER',
      creditPartyName: '174379 - MALIPO SANDBOX',
      initiatedTime: '20240101120000',
      finalisedTime: '20240101120005',
      reasonType: 'Pay Bill Online',
    });
    assert.equal(signals[0]?.payload.accounts, undefined);
    assert.deepEqual(signals[1]?.payload, {
      resultCode: 'R000001',
      resultDesc: 'The transaction receipt number does not exist.',
      conversationId: '',
      originatorConversationId: '',
    });
  });

  it('acknowledges Daraja even when the workflow is gone or the body unreadable; a wrong token is 404', async () => {
    signals.length = 0;
    signalError = new WorkflowNotFoundError('workflow execution already completed', 'lkp_Gone', undefined);
    try {
      const gone = await hook('lkp_Gone00000000000000001', { Result: { ResultCode: 0 } });
      assert.deepEqual(gone.body, ACK);
      signalError = new Error('temporal unavailable');
      const down = await hook('lkp_Gone00000000000000001', { Result: { ResultCode: 0 } });
      assert.deepEqual(down.body, ACK);
    } finally {
      signalError = undefined;
    }
    const garbage = await hook('lkp_Gone00000000000000001', { hello: 'world' });
    assert.deepEqual(garbage.body, ACK);
    assert.equal(signals.length, 0, 'an unreadable body signals nothing');

    const wrong = await t.request(
      'POST',
      `/hooks/daraja/lookup/lkp_Gone00000000000000001/${'A'.repeat(32)}`,
      {
        body: { Result: { ResultCode: 0 } },
      },
    );
    expectEnvelope(wrong, 404, 'RESOURCE_NOT_FOUND');
    assert.equal(signals.length, 0);
  });
});

describe('balance strings', () => {
  it('kesString keeps two decimals without floating point', () => {
    assert.equal(kesString('900000.00'), '900000.00');
    assert.equal(kesString('900'), '900.00');
    assert.equal(kesString('12.5'), '12.50');
    assert.equal(kesString('-4510.00'), '-4510.00');
    assert.equal(kesString('-0'), '0.00');
    assert.equal(kesString('007.10'), '7.10');
    assert.equal(kesString('1.994'), '1.99');
    assert.equal(kesString('1.999'), '2.00');
    assert.equal(kesString('123456789012345678.25'), '123456789012345678.25');
    assert.equal(kesString('1e3'), undefined);
    assert.equal(kesString(''), undefined);
    assert.equal(kesString('abc'), undefined);
  });

  it('parseBalances reads Daraja’s &-joined string and skips malformed segments', () => {
    assert.deepEqual(
      parseBalances(
        'Working Account|KES|900.00|900.00|0.00|0.00&Broken|KES|x|1|2&Utility Account|KES|1500|1500.5|0.00|0.00&short|KES',
      ),
      [
        {
          name: 'Working Account',
          currency: 'KES',
          available: '900.00',
          uncleared: '900.00',
          reserved: '0.00',
        },
        {
          name: 'Utility Account',
          currency: 'KES',
          available: '1500.00',
          uncleared: '1500.50',
          reserved: '0.00',
        },
      ],
    );
    assert.deepEqual(parseBalances(''), []);
  });
});
