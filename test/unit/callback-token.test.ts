import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callbackToken, stkCallbackPath, verifyCallbackToken } from '../../src/payments/callback-token';

describe('callback tokens', () => {
  const secret = 'server-secret';
  it('verifies its own token and nothing else', () => {
    const t = callbackToken(secret, 'stk', 'pay_abc');
    assert.equal(t.length, 32);
    assert.equal(verifyCallbackToken(secret, 'stk', 'pay_abc', t), true);
    assert.equal(verifyCallbackToken(secret, 'stk', 'pay_abd', t), false);
    assert.equal(verifyCallbackToken(secret, 'b2c', 'pay_abc', t), false);
    assert.equal(verifyCallbackToken('other', 'stk', 'pay_abc', t), false);
    assert.equal(verifyCallbackToken(secret, 'stk', 'pay_abc', t.slice(1)), false);
    assert.equal(verifyCallbackToken(secret, 'stk', 'pay_abc', undefined), false);
  });
  it('builds a path without words Daraja refuses', () => {
    const p = stkCallbackPath(secret, 'pay_abc');
    assert.match(p, /^\/hooks\/daraja\/stk\/pay_abc\/[A-Za-z0-9_-]{32}$/);
    assert.doesNotMatch(p.toLowerCase(), /mpesa|safaricom|query|m-pesa|exec|cmd|sql/);
  });
});
