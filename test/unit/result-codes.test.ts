import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAILURE_REASONS } from '../../src/domain/payment';
import { normalizeResultCode, STK_RESULT_CODES, stkOutcome } from '../../src/domain/result-codes';

describe('STK result-code table', () => {
  it('0 is success, as a number or a string', () => {
    assert.equal(stkOutcome(0).kind, 'success');
    assert.equal(stkOutcome('0').kind, 'success');
    assert.equal(stkOutcome(' 0 ').kind, 'success');
  });

  const expected: Array<[number | string, string]> = [
    [1, 'insufficient_funds'],
    [1032, 'cancelled'],
    ['1031', 'cancelled'],
    [1037, 'timeout'],
    [2001, 'wrong_pin'],
    [1019, 'expired'],
    [1001, 'phone_busy'],
    [17, 'rejected'],
    [2028, 'rejected'],
    [1025, 'rejected'],
    [9999, 'rejected'],
    ['SFC_IC0003', 'rejected'],
    ['sfc_ic0003', 'rejected'],
  ];
  for (const [code, reason] of expected) {
    it(`${code} → failed/${reason}`, () => {
      const o = stkOutcome(code);
      assert.equal(o.kind, 'failed');
      assert.equal(o.kind === 'failed' && o.reason, reason);
      assert.ok(o.message.length > 10);
    });
  }

  it('an unknown code is unknown, never a plain failure', () => {
    for (const code of [12345, '777', 'SFC_IC9999', 'R000002', '']) {
      const o = stkOutcome(code);
      assert.equal(o.kind, 'unknown', String(code));
      assert.match(o.message, /does not know/);
    }
  });

  it('every table entry uses a known FailureReason and a message', () => {
    for (const [code, o] of Object.entries(STK_RESULT_CODES)) {
      assert.ok(o.message.length > 0, code);
      if (o.kind === 'failed') assert.ok(FAILURE_REASONS.includes(o.reason), code);
      assert.notEqual(o.kind, 'unknown');
    }
  });

  it('normalises codes', () => {
    assert.equal(normalizeResultCode(1032), '1032');
    assert.equal(normalizeResultCode('01032'), '1032');
    assert.equal(normalizeResultCode('sfc_ic0003'), 'SFC_IC0003');
    assert.equal(stkOutcome('toString').kind, 'unknown', 'no prototype keys leak through');
  });
});
