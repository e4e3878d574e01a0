import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nairobiTimestamp, parseNairobiTimestamp, stkPassword } from '../../src/daraja/password';

const PK = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919';

describe('STK password (daraja.md §10.1)', () => {
  const vectors: Array<[string, string]> = [
    [
      '20160216165627',
      'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3',
    ],
    [
      '20210628092408',
      'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4',
    ],
    [
      '20180716140352',
      'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTgwNzE2MTQwMzUy',
    ],
    [
      '20240101120000',
      'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjQwMTAxMTIwMDAw',
    ],
  ];
  for (const [ts, expected] of vectors) {
    it(`matches the vector for ${ts}`, () => {
      const pw = stkPassword('174379', PK, ts);
      assert.equal(pw, expected);
      assert.equal(pw.length, 112);
      assert.equal(stkPassword(174379, PK, ts), expected, 'a numeric shortcode gives the same password');
    });
  }

  it('differs from the corrupted MpesaExpressQuery doc sample (§10.2)', () => {
    assert.notEqual(stkPassword('174379', PK, '20160216165627').length, 107);
  });
});

describe('Nairobi timestamp (§10.3)', () => {
  it('2024-01-01T09:00:00Z is 20240101120000 in EAT', () => {
    assert.equal(nairobiTimestamp(new Date(Date.UTC(2024, 0, 1, 9, 0, 0))), '20240101120000');
  });
  it('crosses midnight and year ends in Nairobi time, zero-padded', () => {
    assert.equal(nairobiTimestamp(new Date('2023-12-31T21:05:09Z')), '20240101000509');
    assert.equal(nairobiTimestamp(new Date('2024-02-28T22:00:00Z')), '20240229010000');
  });
  it('the Timestamp of an instant gives the documented Password', () => {
    const ts = nairobiTimestamp(new Date(Date.UTC(2024, 0, 1, 9, 0, 0)));
    assert.equal(
      stkPassword('174379', PK, ts),
      'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjQwMTAxMTIwMDAw',
    );
  });
  it('parses back (string or number) and rejects malformed or impossible dates', () => {
    assert.equal(parseNairobiTimestamp('20240101120000')?.toISOString(), '2024-01-01T09:00:00.000Z');
    assert.equal(parseNairobiTimestamp(20240101120021)?.toISOString(), '2024-01-01T09:00:21.000Z');
    assert.equal(parseNairobiTimestamp('2024010112000'), undefined);
    assert.equal(parseNairobiTimestamp('20240231120000'), undefined);
    assert.equal(parseNairobiTimestamp('20240101250000'), undefined);
    assert.equal(parseNairobiTimestamp('2024-01-01T12:00'), undefined);
  });
});
