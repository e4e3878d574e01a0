/**
 * Statement import: CSV parsing (BOM, preamble, quoting, CRLF, header variants, thousands separators,
 * EAT times), whole-KES amounts (a non-whole one is reported, never rounded), malformed files, and the
 * comparison with Malipo's records.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  compareStatement,
  formatTable,
  type LedgerRecord,
  parseAmountCell,
  parseCsv,
  parseStatement,
  parseTimeCell,
  StatementError,
} from '../../src/admin/statement';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'statements');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('statement CSV', () => {
  it('parses quoted fields with commas, doubled quotes and line breaks, CRLF or LF', () => {
    assert.deepEqual(parseCsv('a,"b, c","say ""hi"""\r\n"multi\nline",x\n\n'), [
      { line: 1, cells: ['a', 'b, c', 'say "hi"'] },
      { line: 2, cells: ['multi\nline', 'x'] },
    ]);
    assert.throws(() => parseCsv('a,"open\n'), StatementError);
  });

  it('amounts: thousands separators, decimals, negatives, KES prefix; non-whole is NaN or an odd number of cents', () => {
    assert.equal(parseAmountCell('1,000.00', 'x'), 100_000);
    assert.equal(parseAmountCell('1 000', 'x'), 100_000);
    assert.equal(parseAmountCell('-250.00', 'x'), -25_000);
    assert.equal(parseAmountCell('(250.00)', 'x'), -25_000);
    assert.equal(parseAmountCell('KES 12,345,678.5', 'x'), 1_234_567_850);
    assert.equal(parseAmountCell('', 'x'), null);
    assert.equal(parseAmountCell('100.50', 'x'), 10_050);
    assert.ok(Number.isNaN(parseAmountCell('1.001', 'x')));
    assert.equal(parseAmountCell('1.000', 'x'), 100);
    for (const bad of ['abc', '1,00', '1.2.3', '12,3456', '--5']) {
      assert.throws(() => parseAmountCell(bad, 'line 9'), /line 9: ".*" is not an amount/);
    }
  });

  it('times are Nairobi time unless they say otherwise; impossible dates are refused', () => {
    assert.equal(parseTimeCell('2026-01-10 10:00:00', 'x').toISOString(), '2026-01-10T07:00:00.000Z');
    assert.equal(parseTimeCell('10/01/2026 10:00', 'x').toISOString(), '2026-01-10T07:00:00.000Z');
    assert.equal(parseTimeCell('2026-01-10T10:00:00Z', 'x').toISOString(), '2026-01-10T10:00:00.000Z');
    for (const bad of ['yesterday', '2026-13-01 10:00:00', '2026-01-10', '32/01/2026 10:00']) {
      assert.throws(() => parseTimeCell(bad, 'line 3'), StatementError, bad);
    }
  });

  it('a portal export: BOM, preamble lines, quoted details, charge rows, a failed row', () => {
    const s = parseStatement(fixture('matching.csv'));
    assert.equal(s.rows.length, 5);
    const [a, b, charge, c, failed] = s.rows;
    assert.equal(a!.receipt, 'UAA1000001');
    assert.equal(a!.line, 6, 'lines count from the top of the file');
    assert.equal(a!.paidIn, 1000);
    assert.equal(a!.details, 'Pay Bill Online from 2547****149 - JANE DOE Acc. ORDER-1');
    assert.equal(b!.withdrawn, 250, 'a negative withdrawal is an amount out');
    assert.equal(charge!.charge, true);
    assert.equal(c!.details, 'Pay Bill Online, order "two"');
    assert.equal(c!.paidIn, 2500);
    assert.equal(c!.otherParty, '254711000000 - JOHN, DOE');
    assert.equal(failed!.completed, false);
    assert.equal(s.from!.toISOString(), '2026-01-10T07:00:00.000Z');
    assert.equal(s.to!.toISOString(), '2026-01-21T05:00:00.000Z');
  });

  it('header variants, day-first times, no status column, trailing totals', () => {
    const s = parseStatement(fixture('variants.csv'));
    assert.deepEqual(
      s.rows.map((r) => [r.receipt, r.paidIn, r.withdrawn, r.completed]),
      [
        ['UAA1000001', 1000, null, true],
        ['UAA1000002', null, 250, true],
        ['UAA1000003', 2500, null, true],
      ],
    );
  });

  it('malformed files are bad input with a message that says where', () => {
    const cases: Array<[string, RegExp]> = [
      ['no-header.csv', /no header row/],
      ['no-amount-columns.csv', /neither a "Paid In" nor a "Withdrawn" column/],
      ['bad-amount.csv', /line 2, Paid In: "one thousand" is not an amount/],
      ['bad-time.csv', /line 2, Completion Time: "yesterday" is not a date and time/],
      ['bad-receipt.csv', /line 2: "UAA-1" is not a receipt number/],
      ['unclosed-quote.csv', /never closed/],
      ['header-only.csv', /no transactions/],
    ];
    for (const [file, message] of cases) {
      assert.throws(
        () => parseStatement(fixture(file)),
        (e: unknown) => e instanceof StatementError && message.test(e.message),
        file,
      );
    }
    assert.throws(() => parseStatement(''), StatementError);
  });
});

const at = (iso: string) => new Date(iso);
const LEDGER: LedgerRecord[] = [
  {
    kind: 'payment',
    id: 'pay_a',
    status: 'success',
    amount: 1000,
    receipt: 'UAA1000001',
    settledAt: at('2026-01-10T07:00:05Z'),
  },
  {
    kind: 'payout',
    id: 'po_b',
    status: 'success',
    amount: 250,
    receipt: 'UAA1000002',
    settledAt: at('2026-01-12T06:30:02Z'),
  },
  {
    kind: 'payment',
    id: 'pay_c',
    status: 'success',
    amount: 2500,
    receipt: 'UAA1000003',
    settledAt: at('2026-01-20T15:45:11Z'),
  },
  {
    kind: 'payment',
    id: 'pay_d',
    status: 'failed',
    amount: 300,
    receipt: 'UAA1000004',
    settledAt: at('2026-01-15T09:00:00Z'),
  },
  {
    kind: 'reversal',
    id: 'rev_e',
    status: 'success',
    amount: 100,
    receipt: 'UAA1000005',
    settledAt: at('2026-01-26T09:00:00Z'),
  },
  {
    kind: 'payment',
    id: 'pay_f',
    status: 'success',
    amount: 70,
    receipt: 'UAA1000006',
    settledAt: at('2026-02-05T09:00:00Z'),
  },
];

describe('statement comparison', () => {
  it('a statement that agrees: no differences (charges, failed rows and records outside its range are not differences)', () => {
    const c = compareStatement(parseStatement(fixture('matching.csv')), LEDGER);
    assert.deepEqual(c.differences, []);
    assert.equal(c.matched, 3);
    assert.match(formatTable(c), /3 matched, 0 differences/);
  });

  it('lists each kind of difference once', () => {
    const c = compareStatement(parseStatement(fixture('differences.csv')), LEDGER);
    assert.deepEqual(
      c.differences.map((d) => [d.kind, d.receipt, d.statementAmount, d.malipoId, d.malipoAmount]).sort(),
      [
        ['absent_from_statement', 'UAA1000003', null, 'pay_c', 2500],
        ['amount_mismatch', 'UAA1000001', 1100, 'pay_a', 1000],
        ['non_whole_amount', 'UAZ9999998', null, null, null],
        ['not_success_in_malipo', 'UAA1000004', 300, 'pay_d', 300],
        ['unknown_receipt', 'UAZ9999999', 40, null, null],
      ],
    );
    assert.equal(c.matched, 2, 'the payout and the reversal match');
    const nonWhole = c.differences.find((d) => d.kind === 'non_whole_amount')!;
    assert.match(nonWhole.note, /"100\.50" is not a whole number of KES/);
    const table = formatTable(c);
    assert.match(table, /^DIFFERENCE +RECEIPT +STATEMENT KES +MALIPO +STATUS +MALIPO KES +NOTE$/m);
    assert.match(table, /^amount_mismatch +UAA1000001 +1100 +pay_a +success +1000 /m);
    assert.match(table, /5 differences/);
  });
});
