import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { maskPhonesInText, REDACT_PATHS } from '../../src/logger';

describe('log masking', () => {
  it('masks Kenyan mobile numbers in any form', () => {
    assert.equal(maskPhonesInText('pay 254712345678 now'), 'pay 2547****5678 now');
    assert.equal(maskPhonesInText('0712345678'), '07****5678');
    assert.equal(maskPhonesInText('+254112345678'), '+2541****5678');
    assert.equal(maskPhonesInText('amount 1000 ref 12345'), 'amount 1000 ref 12345');
  });

  it('redacts secrets by path', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    log.info({
      channel: { passkey: 'bfb279f9', consumerSecret: 'abc' },
      req: { headers: { authorization: 'Bearer x' } },
    });
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0]!, /bfb279f9|abc"|Bearer x/);
    assert.match(lines[0]!, /\[redacted\]/);
  });
});
