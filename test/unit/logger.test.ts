import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, maskPhonesInText } from '../../src/logger';

describe('log masking', () => {
  it('masks Kenyan mobile numbers in any form', () => {
    assert.equal(maskPhonesInText('pay 254712345678 now'), 'pay 2547****5678 now');
    assert.equal(maskPhonesInText('0712345678'), '07****5678');
    assert.equal(maskPhonesInText('+254112345678'), '+2541****5678');
    assert.equal(maskPhonesInText('amount 1000 ref 12345'), 'amount 1000 ref 12345');
  });

  it('masks phones in fields and messages and redacts secrets by path', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l) => lines.push(l) });
    log.info(
      {
        phone: '254712345678',
        channel: { passkey: 'bfb279f9', consumerSecret: 'abc' },
        req: { headers: { authorization: 'Bearer x' } },
      },
      'push to 0712345678',
    );
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0]!, /bfb279f9|"abc"|Bearer x|712345678/);
    assert.match(lines[0]!, /2547\*\*\*\*5678/);
    assert.match(lines[0]!, /\[redacted\]/);
  });

  it('logs circular objects without throwing', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l) => lines.push(l) });
    const a: Record<string, unknown> = { phone: '254712345678' };
    a.self = a;
    log.info(a, 'circular');
    assert.equal(lines.length, 1);
  });
});
