/** The Reversal payload (daraja.md §8.7) and the parsing of its Result: pure mapping, no I/O. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAsyncResult, reversalResultDetails } from '../../src/daraja/callbacks';
import { DarajaInputError } from '../../src/daraja/errors';
import { buildReversalPayload, type ReversalRequestInput } from '../../src/daraja/transformers';

const INPUT: ReversalRequestInput = {
  initiatorName: 'testapi',
  securityCredential: 'c3VwZXJzZWNyZXQ=',
  transactionId: 'UAB1C2D3E4',
  amount: 250,
  receiverParty: '600984',
  resultUrl: 'https://malipo.example/hooks/daraja/reversal/rev_1/tok/result',
  queueTimeoutUrl: 'https://malipo.example/hooks/daraja/reversal/rev_1/tok/timeout',
  remarks: 'Customer refund',
};

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DarajaInputError);
    return (err.details as Array<{ path: string }>).map((i) => i.path);
  }
  assert.fail('expected a DarajaInputError');
}

describe('Reversal payload', () => {
  it('builds Daraja’s fields, with TransactionReversal, the RecieverIdentifierType spelling and "11"', () => {
    assert.deepEqual(buildReversalPayload(INPUT), {
      Initiator: 'testapi',
      SecurityCredential: 'c3VwZXJzZWNyZXQ=',
      CommandID: 'TransactionReversal',
      TransactionID: 'UAB1C2D3E4',
      Amount: 250,
      ReceiverParty: '600984',
      RecieverIdentifierType: '11',
      ResultURL: INPUT.resultUrl,
      QueueTimeOutURL: INPUT.queueTimeoutUrl,
      Remarks: 'Customer refund',
    });
    assert.equal(buildReversalPayload({ ...INPUT, occasion: 'Order 42' }).Occasion, 'Order 42');
  });

  it('checks every field before anything is sent', () => {
    assert.deepEqual(
      issuesOf(() =>
        buildReversalPayload({
          ...INPUT,
          initiatorName: '',
          securityCredential: '',
          transactionId: 'uab1c2d3e4',
          amount: 10.5,
          receiverParty: '12',
          resultUrl: 'ftp://x',
          queueTimeoutUrl: 'https://a b',
          remarks: 'x',
        }),
      ),
      [
        'initiatorName',
        'securityCredential',
        'transactionId',
        'amount',
        'receiverParty',
        'resultUrl',
        'queueTimeoutUrl',
        'remarks',
      ],
    );
    assert.deepEqual(
      issuesOf(() => buildReversalPayload({ ...INPUT, amount: 0 })),
      ['amount'],
    );
    assert.deepEqual(
      issuesOf(() => buildReversalPayload({ ...INPUT, amount: 250_001 })),
      ['amount'],
    );
    assert.deepEqual(
      issuesOf(() => buildReversalPayload({ ...INPUT, remarks: 'Refund <script>' })),
      ['remarks'],
    );
  });
});

describe('Reversal Result', () => {
  it('reads the success parameters (Amount, OriginalTransactionID, TransCompletedTime) and the own TransactionID', () => {
    const parsed = parseAsyncResult({
      Result: {
        ResultType: 0,
        ResultCode: 0,
        ResultDesc: 'The service request is processed successfully.',
        OriginatorConversationID: '8521-4298025-1',
        ConversationID: 'AG_20240101_20104c2f8e9a1b3d5f7a',
        TransactionID: 'UAB9Z8Y7X6',
        ResultParameters: {
          ResultParameter: [
            { Key: 'DebitAccountBalance', Value: 'Utility Account|KES|10116.00|10116.00|0.00|0.00' },
            { Key: 'Amount', Value: '250.00' },
            { Key: 'TransCompletedTime', Value: 20240101120000 },
            { Key: 'OriginalTransactionID', Value: 'UAB1C2D3E4' },
            { Key: 'Charge', Value: 0 },
          ],
        },
      },
    });
    assert.ok(parsed.ok);
    assert.equal(parsed.value.success, true);
    assert.deepEqual(reversalResultDetails(parsed.value), {
      transactionId: 'UAB9Z8Y7X6',
      amount: 250,
      originalTransactionId: 'UAB1C2D3E4',
      completedAt: '20240101120000',
    });
  });

  it('a failure with a string R-code has no parameters', () => {
    const parsed = parseAsyncResult({
      Result: {
        ResultType: '0',
        ResultCode: 'R000002',
        ResultDesc: 'The OriginalTransactionID is invalid.',
        OriginatorConversationID: '8521-4298025-1',
        ConversationID: 'AG_20240101_20104c2f8e9a1b3d5f7a',
        TransactionID: '',
      },
    });
    assert.ok(parsed.ok);
    assert.equal(parsed.value.resultCode, 'R000002');
    assert.equal(parsed.value.success, false);
    assert.deepEqual(reversalResultDetails(parsed.value), {
      transactionId: undefined,
      amount: undefined,
      originalTransactionId: undefined,
      completedAt: undefined,
    });
  });
});
