import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accountBalanceDetails,
  b2cResultDetails,
  parseAsyncResult,
  parseStkCallback,
  transactionStatusDetails,
} from '../../src/daraja/callbacks';

const success = {
  Body: {
    stkCallback: {
      MerchantRequestID: '5e1a-4c2d-8f33-0b7d9a2c41e81234567',
      CheckoutRequestID: 'ws_CO_01012024120001123708374149',
      ResultCode: 0,
      ResultDesc: 'The service request is processed successfully.',
      CallbackMetadata: {
        Item: [
          { Name: 'Amount', Value: 10.0 },
          { Name: 'MpesaReceiptNumber', Value: 'SA12BCD3EF' },
          { Name: 'Balance' },
          { Name: 'TransactionDate', Value: 20240101120021 },
          { Name: 'PhoneNumber', Value: 254708374149 },
        ],
      },
    },
  },
};

describe('parseStkCallback', () => {
  it('reads a success callback with number-typed phone and date and a value-less Balance', () => {
    const r = parseStkCallback(success);
    assert.ok(r.ok);
    const v = r.value;
    assert.equal(v.resultCode, '0');
    assert.equal(v.outcome.kind, 'success');
    assert.equal(v.amount, 10);
    assert.equal(v.receipt, 'SA12BCD3EF');
    assert.equal(v.phone, '254708374149');
    assert.equal(v.transactionDate, '20240101120021');
    assert.equal(v.transactionAt?.toISOString(), '2024-01-01T09:00:21.000Z');
    assert.ok('Balance' in v.metadata);
    assert.equal(v.metadata.Balance, undefined);
  });

  it('looks items up by name, not position; accepts string amounts and a missing Balance', () => {
    const items = [
      { Name: 'PhoneNumber', Value: '254712345678' },
      { Name: 'MpesaReceiptNumber', Value: 'SG632NMUAB' },
      { Name: 'Amount', Value: '1.00' },
      { Name: 'TransactionDate', Value: '20240706224852' },
    ];
    const r = parseStkCallback({
      Body: { stkCallback: { ...success.Body.stkCallback, CallbackMetadata: { Item: items } } },
    });
    assert.ok(r.ok);
    assert.equal(r.value.amount, 1);
    assert.equal(r.value.receipt, 'SG632NMUAB');
    assert.equal(r.value.phone, '254712345678');
    assert.equal('Balance' in r.value.metadata, false);
  });

  it('reads a failure without metadata and a string ResultCode', () => {
    const r = parseStkCallback({
      Body: {
        stkCallback: {
          MerchantRequestID: 'm',
          CheckoutRequestID: 'ws_CO_1',
          ResultCode: '1032',
          ResultDesc: 'Request cancelled by user',
        },
      },
    });
    assert.ok(r.ok);
    assert.equal(r.value.resultCode, '1032');
    assert.equal(r.value.outcome.kind === 'failed' && r.value.outcome.reason, 'cancelled');
    assert.equal(r.value.amount, undefined);
    assert.equal(r.value.receipt, undefined);
  });

  it('accepts non-numeric string codes (SFC_IC0003) and strips [STK_CB - ] prefixes', () => {
    const r = parseStkCallback({
      Body: {
        stkCallback: {
          CheckoutRequestID: 'ws_CO_2',
          ResultCode: 'SFC_IC0003',
          ResultDesc: '[STK_CB - ]The operator does not exist.',
        },
      },
    });
    assert.ok(r.ok);
    assert.equal(r.value.resultCode, 'SFC_IC0003');
    assert.equal(r.value.resultDesc, 'The operator does not exist.');
    assert.equal(r.value.merchantRequestId, '');
    assert.equal(r.value.outcome.kind, 'failed');
  });

  it('maps an unknown code to unknown, and tolerates junk metadata', () => {
    const r = parseStkCallback({
      Body: {
        stkCallback: {
          CheckoutRequestID: 'ws_CO_3',
          ResultCode: 4242,
          CallbackMetadata: { Item: [null, 5, { Value: 1 }, { Name: 'Amount', Value: { nested: true } }] },
        },
      },
    });
    assert.ok(r.ok);
    assert.equal(r.value.outcome.kind, 'unknown');
    assert.equal(r.value.amount, undefined);
    assert.equal(r.value.resultDesc, '');
  });

  it('refuses bodies without a CheckoutRequestID or ResultCode, never throws', () => {
    for (const bad of [
      undefined,
      null,
      'x',
      [],
      {},
      { Body: {} },
      { Body: { stkCallback: { ResultCode: 0 } } },
      { Body: { stkCallback: { CheckoutRequestID: 'ws' } } },
    ]) {
      const r = parseStkCallback(bad);
      assert.equal(r.ok, false);
    }
  });
});

describe('parseAsyncResult', () => {
  it('reads a B2C success with string and number values', () => {
    const r = parseAsyncResult({
      Result: {
        ResultType: 0,
        ResultCode: 0,
        ResultDesc: 'The service request is processed successfully.',
        OriginatorConversationID: 'o-1',
        ConversationID: 'AG_20240101_20104c2f8e9a1b3d5f7a',
        TransactionID: 'SG632NMUAB',
        ResultParameters: {
          ResultParameter: [
            { Key: 'TransactionAmount', Value: 10 },
            { Key: 'TransactionReceipt', Value: 'SG632NMUAB' },
            { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
            { Key: 'ReceiverPartyPublicName', Value: '254708374149 - JOHN DOE' },
            { Key: 'TransactionCompletedDateTime', Value: '06.07.2024 22:48:52' },
            { Key: 'B2CUtilityAccountAvailableFunds', Value: '10116.00' },
          ],
        },
        ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://internal' } },
      },
    });
    assert.ok(r.ok);
    assert.equal(r.value.success, true);
    const d = b2cResultDetails(r.value);
    assert.equal(d.amount, 10);
    assert.equal(d.receipt, 'SG632NMUAB');
    assert.equal(d.recipientIsRegistered, true);
    assert.equal(d.utilityAccountAvailableFunds, 10116);
    assert.equal(d.completedAt, '06.07.2024 22:48:52');
    assert.equal(r.value.referenceData.QueueTimeoutURL, 'https://internal');
  });

  it('reads string ResultType/ResultCode and failures without parameters', () => {
    const r = parseAsyncResult({
      Result: { ResultType: '0', ResultCode: '2001', ResultDesc: 'The initiator information is invalid.' },
    });
    assert.ok(r.ok);
    assert.equal(r.value.resultCode, '2001');
    assert.equal(r.value.resultType, 0);
    assert.equal(r.value.success, false);
    assert.deepEqual(r.value.parameters, {});
    assert.equal(parseAsyncResult({ Result: { ResultCode: 'R000002' } }).ok, true);
    assert.equal(parseAsyncResult({}).ok, false);
    assert.equal(parseAsyncResult({ Result: {} }).ok, false);
  });

  it('parses Account Balance and Transaction Status parameters', () => {
    const bal = parseAsyncResult({
      Result: {
        ResultCode: 0,
        ResultParameters: {
          ResultParameter: [
            {
              Key: 'AccountBalance',
              Value:
                'Working Account|KES|900.00|900.00|0.00|0.00&Utility Account|KES|1500.00|1500.00|0.00|0.00&garbage',
            },
            { Key: 'BOCompletedTime', Value: 20240101120000 },
          ],
        },
      },
    });
    assert.ok(bal.ok);
    const b = accountBalanceDetails(bal.value);
    assert.deepEqual(b.accounts, [
      { account: 'Working Account', currency: 'KES', available: 900, uncleared: 900, reserved: 0 },
      { account: 'Utility Account', currency: 'KES', available: 1500, uncleared: 1500, reserved: 0 },
    ]);
    assert.equal(b.completedAt, '20240101120000');
    const st = parseAsyncResult({
      Result: {
        ResultCode: 0,
        ResultParameters: {
          ResultParameter: [
            { Key: 'ReceiptNo', Value: 'SA12BCD3EF' },
            { Key: 'TransactionStatus', Value: 'Completed' },
            { Key: 'Amount', Value: 10 },
            { Key: 'DebitPartyName', Value: '254708374149 - JOHN' },
          ],
        },
      },
    });
    assert.ok(st.ok);
    const s = transactionStatusDetails(st.value);
    assert.equal(s.receipt, 'SA12BCD3EF');
    assert.equal(s.status, 'Completed');
    assert.equal(s.amount, 10);
  });
});
