/** C2B pure rules: hook URLs Daraja accepts, the open_links decision, link matching, whole KES, truncation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  admits,
  c2bHookUrls,
  c2bToken,
  channelIdFromSegment,
  channelSegment,
  decideOpenLinks,
  FORBIDDEN_URL_WORDS,
  type LinkCandidate,
  linkForPayment,
  truncate,
  verifyC2bToken,
  wholeKes,
} from '../../src/c2b';
import { buildC2bRegisterPayload } from '../../src/daraja/transformers';
import { newId } from '../../src/domain/ids';

const link = (over: Partial<LinkCandidate>): LinkCandidate => ({
  id: newId('paymentLink'),
  reference: 'INV-1',
  amount: 100,
  status: 'active',
  createdAt: new Date('2025-01-01T00:00:00Z'),
  ...over,
});

describe('C2B hook URLs', () => {
  it('never contain a word Daraja forbids, and Daraja’s own rule accepts them', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 40 }), (secret) => {
        const id = newId('channel');
        const urls = c2bHookUrls('https://pay.example.com/', secret, id);
        assert.doesNotMatch(urls.confirmationUrl, FORBIDDEN_URL_WORDS);
        assert.doesNotMatch(urls.validationUrl, FORBIDDEN_URL_WORDS);
        assert.ok(urls.confirmationUrl.startsWith('https://pay.example.com/hooks/daraja/c2b/'));
        assert.equal(channelIdFromSegment(channelSegment(id)), id);
        buildC2bRegisterPayload({ shortcode: '600984', defaultAction: 'complete', ...urls });
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a channel id that spells a forbidden word, and decodes it back', () => {
    for (const id of ['ch_xxEXEcutexx0000000000', 'ch_MPesa00000000000000000', 'ch_aQueRy00000000000000a']) {
      const seg = channelSegment(id);
      assert.match(seg, /^h[0-9a-f]+$/);
      assert.equal(channelIdFromSegment(seg), id);
    }
    assert.equal(channelSegment('ch_4kX9sQ2mT7vB1nR8pL3wYz'), 'ch_4kX9sQ2mT7vB1nR8pL3wYz');
    assert.equal(channelIdFromSegment('h6e6f'), undefined, 'hex that is not a channel id');
    assert.equal(channelIdFromSegment('pay_4kX9sQ2mT7vB1nR8pL3wYz'), undefined);
  });

  it('checks the token per channel and secret', () => {
    const a = newId('channel');
    const b = newId('channel');
    const token = c2bToken('s3cret', a);
    assert.match(token, /^[0-9a-f]{48}$/);
    assert.equal(verifyC2bToken('s3cret', a, token), true);
    assert.equal(verifyC2bToken('s3cret', b, token), false);
    assert.equal(verifyC2bToken('other', a, token), false);
    assert.equal(verifyC2bToken('s3cret', a, token.slice(1)), false);
    assert.equal(verifyC2bToken('s3cret', a, undefined), false);
  });
});

describe('the open_links rule', () => {
  it('accepts an open link’s reference (trimmed, any case) for an amount it admits', () => {
    const fixed = link({ reference: 'INV-1', amount: 100 });
    const range = link({ reference: 'RANGE', amount: { min: 10, max: 20 } });
    assert.deepEqual(decideOpenLinks(' inv-1', 100, [fixed]), { accept: true, linkId: fixed.id });
    assert.deepEqual(decideOpenLinks('range', 15.5, [range]), { accept: true, linkId: range.id });
    assert.deepEqual(decideOpenLinks('INV-1', 99, [fixed]), { accept: false, reason: 'invalid_amount' });
    assert.deepEqual(decideOpenLinks('INV-2', 100, [fixed]), { accept: false, reason: 'invalid_account' });
    assert.deepEqual(decideOpenLinks('', 100, [link({ reference: '' })]), {
      accept: false,
      reason: 'invalid_account',
    });
    for (const status of ['disabled', 'expired', 'exhausted'] as const) {
      assert.deepEqual(decideOpenLinks('INV-1', 100, [link({ status })]), {
        accept: false,
        reason: 'invalid_account',
      });
    }
  });

  it('accepts when any of several links with the reference admits the amount', () => {
    const a = link({ amount: 100 });
    const b = link({ amount: 200 });
    assert.deepEqual(decideOpenLinks('INV-1', 200, [a, b]), { accept: true, linkId: b.id });
  });

  it('admits exactly the fixed amount or the inclusive range', () => {
    assert.equal(admits(100, 100), true);
    assert.equal(admits(100, 100.01), false);
    assert.equal(admits({ min: 10, max: 20 }, 10), true);
    assert.equal(admits({ min: 10, max: 20 }, 20), true);
    assert.equal(admits({ min: 10, max: 20 }, 20.5), false);
    assert.equal(admits({ min: 10, max: 20 }, 9), false);
  });
});

describe('the link a confirmed payment belongs to', () => {
  it('prefers an open link that admits the amount, then an open one, then the newest', () => {
    const older = link({ status: 'expired', createdAt: new Date('2024-01-01') });
    const newer = link({ status: 'disabled', createdAt: new Date('2025-06-01') });
    const open = link({ amount: 999, createdAt: new Date('2023-01-01') });
    const fits = link({ amount: 100, createdAt: new Date('2022-01-01') });
    assert.equal(linkForPayment('inv-1', 100, [older, newer, open, fits]), fits.id);
    assert.equal(linkForPayment('inv-1', 100, [older, newer, open]), open.id);
    assert.equal(linkForPayment('inv-1', 100, [older, newer]), newer.id);
    assert.equal(linkForPayment('other', 100, [older, newer]), null);
    assert.equal(linkForPayment('  ', 100, [link({ reference: '' })]), null);
  });
});

describe('whole KES and truncation', () => {
  it('rounds cents down and flags them; below KES 1 is not a payment', () => {
    assert.deepEqual(wholeKes(250), { kes: 250, exact: true });
    assert.deepEqual(wholeKes(250.75), { kes: 250, exact: false });
    assert.deepEqual(wholeKes(1), { kes: 1, exact: true });
    assert.equal(wholeKes(0.5).kes, undefined);
    assert.equal(wholeKes(0).kes, undefined);
    assert.equal(wholeKes(-3).kes, undefined);
    assert.equal(wholeKes(Number.NaN).kes, undefined);
    assert.equal(wholeKes(1e12).kes, undefined, 'beyond the integer column');
  });

  it('never splits a surrogate pair', () => {
    assert.equal(truncate('abc', 5), 'abc');
    assert.equal(truncate('abcdef', 3), 'abc');
    assert.equal(truncate('ab😀cd', 3), 'ab');
    assert.equal(truncate('ab😀cd', 4), 'ab😀');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 50 }), fc.nat(60), (s, n) => {
        const out = truncate(s, n);
        assert.ok(out.length <= n);
        assert.ok(s.startsWith(out));
        assert.equal(Buffer.from(out, 'utf8').toString('utf8'), out, 'well-formed UTF-16');
      }),
    );
  });
});
