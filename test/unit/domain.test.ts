import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasPrefix, newId } from '../../src/domain/ids';
import { parseAmount } from '../../src/domain/money';
import { canTransition, isFinal, PAYMENT_STATUSES, statusRank } from '../../src/domain/payment';
import { maskPhone, normalizePhone } from '../../src/domain/phone';

describe('phone', () => {
  const ok = (input: unknown, want: string) => {
    const r = normalizePhone(input);
    assert.ok(r.ok, `${String(input)} should be valid`);
    assert.equal(r.msisdn, want);
  };
  it('normalises every Kenyan form', () => {
    ok('0712345678', '254712345678');
    ok('0112345678', '254112345678');
    ok('712345678', '254712345678');
    ok('254712345678', '254712345678');
    ok('+254712345678', '254712345678');
    ok('+254 712 345 678', '254712345678');
    ok('254-712-345678', '254712345678');
    ok(254712345678, '254712345678');
  });
  it('rejects what is not a Kenyan mobile number', () => {
    for (const bad of [
      '',
      '12345',
      '0812345678',
      '255712345678',
      '07123456789',
      'abc0712345678',
      null,
      {},
      '+',
      '2547123456',
    ]) {
      const r = normalizePhone(bad);
      assert.equal(r.ok, false, `${JSON.stringify(bad)} should be rejected`);
    }
  });
  it('masks', () => {
    assert.equal(maskPhone('254712345678'), '2547****5678');
  });
});

describe('money', () => {
  it('accepts whole KES within limits and says why otherwise', () => {
    assert.deepEqual(parseAmount(1), { ok: true, amount: 1 });
    assert.deepEqual(parseAmount(250000), { ok: true, amount: 250000 });
    assert.match((parseAmount(0) as { reason: string }).reason, /at least 1/);
    assert.match((parseAmount(10.5) as { reason: string }).reason, /whole/);
    assert.match((parseAmount(250001) as { reason: string }).reason, /at most 250000/);
    assert.match((parseAmount('100') as { reason: string }).reason, /number/);
    assert.equal(parseAmount(Number.NaN).ok, false);
    assert.equal(parseAmount(500, 300).ok, false);
  });
});

describe('ids', () => {
  it('are prefixed, base62 and unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('payment')));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.ok(hasPrefix('payment', id), id);
    assert.equal(hasPrefix('payment', 'evt_abcdefgh'), false);
  });
});

describe('payment status machine', () => {
  it('final statuses are final, and nothing leaves success', () => {
    assert.equal(isFinal('pending'), false);
    for (const s of ['success', 'failed', 'needs_review'] as const) assert.equal(isFinal(s), true);
    for (const s of PAYMENT_STATUSES) assert.equal(canTransition('success', s), false);
    assert.equal(canTransition('failed', 'success'), true);
    assert.equal(canTransition('needs_review', 'success'), true);
    assert.equal(canTransition('failed', 'pending'), false);
    assert.ok(statusRank('success') > statusRank('failed'));
  });
});
