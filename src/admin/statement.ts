/**
 * M-Pesa org portal statements (CSV): parsing, tolerant of what portal exports and spreadsheets do to
 * them (a BOM, preamble lines before the header, header variants, quoting, CRLF, thousands separators,
 * `1,000.00` amounts, negative withdrawals), and the comparison with Malipo's records. Pure: no I/O.
 */

/** Bad input: the file cannot be read as a statement (exit code 2). */
export class StatementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatementError';
  }
}

/** One data row of the statement, amounts in whole KES (null when the cell is empty or not whole). */
export interface StatementRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  receipt: string;
  completedAt: Date;
  details: string;
  status: string;
  /** `Completed` (case-insensitive): only those moved money. */
  completed: boolean;
  /** A charge row (the fee of another transaction, usually with the same receipt). */
  charge: boolean;
  paidIn: number | null;
  withdrawn: number | null;
  /** The cell text of an amount that is not a whole number of KES (reported, never rounded). */
  nonWhole: { column: 'paidIn' | 'withdrawn'; text: string } | null;
  otherParty: string;
  linkedTransactionId: string;
  accountNo: string;
}

export interface Statement {
  rows: StatementRow[];
  /** Earliest and latest completion time of the rows (the statement's time range). */
  from: Date | null;
  to: Date | null;
}

// ---------------------------------------------------------------------------------------------
// CSV

/** RFC 4180 records: quoted fields may hold commas, quotes (`""`) and line breaks; CRLF or LF. */
export function parseCsv(text: string): Array<{ line: number; cells: string[] }> {
  const out: Array<{ line: number; cells: string[] }> = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const endCell = () => {
    cells.push(cell);
    cell = '';
  };
  const endRecord = () => {
    endCell();
    if (!(cells.length === 1 && cells[0]!.trim() === '')) out.push({ line: recordLine, cells });
    cells = [];
    recordLine = line;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell.trim() === '') {
      cell = '';
      quoted = true;
      i++;
    } else if (c === ',') {
      endCell();
      i++;
    } else if (c === '\r' || c === '\n') {
      line++;
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      endRecord();
    } else {
      cell += c;
      i++;
    }
  }
  if (quoted) throw new StatementError(`line ${recordLine}: a quoted field is never closed`);
  if (cell !== '' || cells.length > 0) endRecord();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Columns

type Column =
  | 'receipt'
  | 'completedAt'
  | 'initiatedAt'
  | 'details'
  | 'status'
  | 'paidIn'
  | 'withdrawn'
  | 'balance'
  | 'reasonType'
  | 'otherParty'
  | 'linkedTransactionId'
  | 'accountNo';

/** Header names as seen in portal exports and their variants, normalised (lower case, letters and digits only). */
const ALIASES: Record<Column, string[]> = {
  receipt: ['receiptno', 'receiptnumber', 'receipt', 'transactionid', 'transid', 'transactionreceipt'],
  completedAt: ['completiontime', 'completiondate', 'completedtime', 'completedat', 'completiondatetime'],
  initiatedAt: ['initiationtime', 'initiationdate', 'initiatedtime'],
  details: ['details', 'description', 'transactiondetails'],
  status: ['transactionstatus', 'status'],
  paidIn: ['paidin', 'moneyin', 'credit', 'paidinkes', 'paidinksh'],
  withdrawn: [
    'withdrawn',
    'withdrawal',
    'withdrawals',
    'moneyout',
    'debit',
    'paidout',
    'withdrawnkes',
    'withdrawnksh',
  ],
  balance: ['balance', 'balancekes'],
  reasonType: ['reasontype', 'reason'],
  otherParty: ['otherpartyinfo', 'otherparty', 'otherpartyinformation'],
  linkedTransactionId: ['linkedtransactionid', 'linkedtransaction', 'linkedtransid'],
  accountNo: ['acno', 'accountno', 'accountnumber', 'acnumber', 'account'],
};

const normalise = (h: string) => h.toLowerCase().replace(/[^a-z0-9]/g, '');

function columnsOf(cells: string[]): Partial<Record<Column, number>> {
  const map: Partial<Record<Column, number>> = {};
  cells.forEach((raw, i) => {
    const h = normalise(raw);
    for (const [col, names] of Object.entries(ALIASES) as Array<[Column, string[]]>) {
      if (map[col] === undefined && names.includes(h)) map[col] = i;
    }
  });
  return map;
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * Amount cell → cents, or null when empty. Accepts `1,000.00`, `1 000`, `-250.00`, `(250.00)`,
 * `KES 1,000`. Anything else is bad input.
 */
export function parseAmountCell(raw: string, where: string): number | null {
  let s = raw.trim().replace(/^(kes|ksh|kshs)\.?\s*/i, '');
  if (s === '' || s === '-') return null;
  let negative = false;
  if (/^\(.*\)$/.test(s)) {
    negative = true;
    s = s.slice(1, -1).trim();
  }
  if (s.startsWith('-')) {
    negative = true;
    s = s.slice(1).trim();
  }
  s = s.replace(/^(kes|ksh|kshs)\.?\s*/i, '');
  // thousands separators: commas, spaces, non-breaking spaces, but only between groups of three digits
  if (!/^\d{1,3}([, \u00a0]\d{3})*(\.\d+)?$|^\d+(\.\d+)?$/.test(s)) {
    throw new StatementError(`${where}: "${raw}" is not an amount`);
  }
  const [whole, frac = ''] = s.replace(/[, \u00a0]/g, '').split('.');
  // cents exactly (no float arithmetic); fractions beyond cents must be zeros
  if (!/^0*$/.test(frac.slice(2))) return Number.NaN;
  const cents = Number(whole) * 100 + Number(frac.slice(0, 2).padEnd(2, '0'));
  return negative ? -cents : cents;
}

/** Statement times are Nairobi local time (UTC+3); an explicit offset or `Z` is honoured. */
export function parseTimeCell(raw: string, where: string): Date {
  const s = raw.trim();
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  let parts:
    | { y: string; mo: string; d: string; h: string; mi: string; se?: string; tz?: string }
    | undefined;
  if (m) parts = { y: m[1]!, mo: m[2]!, d: m[3]!, h: m[4]!, mi: m[5]!, se: m[6], tz: m[7] };
  if (!parts) {
    const d = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(s);
    if (d) parts = { y: d[3]!, mo: d[2]!, d: d[1]!, h: d[4]!, mi: d[5]!, se: d[6] };
  }
  if (!parts) throw new StatementError(`${where}: "${raw}" is not a date and time`);
  const tz =
    parts.tz === undefined
      ? '+03:00'
      : parts.tz === 'Z'
        ? 'Z'
        : parts.tz.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const pad = (v: string) => v.padStart(2, '0');
  const isoText = `${parts.y}-${pad(parts.mo)}-${pad(parts.d)}T${pad(parts.h)}:${parts.mi}:${pad(parts.se ?? '00')}${tz}`;
  const at = new Date(isoText);
  const month = Number(parts.mo);
  const day = Number(parts.d);
  if (Number.isNaN(at.getTime()) || month < 1 || month > 12 || day < 1 || day > 31 || Number(parts.h) > 23) {
    throw new StatementError(`${where}: "${raw}" is not a date and time`);
  }
  return at;
}

// ---------------------------------------------------------------------------------------------
// Statement

/** Parses a statement; throws StatementError on anything that is not one. */
export function parseStatement(text: string): Statement {
  const records = parseCsv(text.replace(/^\uFEFF/, ''));
  // the header is the first record naming a receipt column and a completion time column
  const headerIndex = records.findIndex((r) => {
    const cols = columnsOf(r.cells);
    return cols.receipt !== undefined && cols.completedAt !== undefined;
  });
  if (headerIndex < 0) {
    throw new StatementError('no header row with "Receipt No." and "Completion Time" columns');
  }
  const header = records[headerIndex]!;
  const cols = columnsOf(header.cells);
  if (cols.paidIn === undefined && cols.withdrawn === undefined) {
    throw new StatementError(
      `line ${header.line}: the header has neither a "Paid In" nor a "Withdrawn" column`,
    );
  }
  const rows: StatementRow[] = [];
  for (const r of records.slice(headerIndex + 1)) {
    const cell = (c: Column) => (cols[c] === undefined ? '' : (r.cells[cols[c]!] ?? '').trim());
    const receipt = cell('receipt').toUpperCase();
    // trailing totals or notes: a row without a receipt and without a time is not a transaction
    if (receipt === '' && cell('completedAt') === '') continue;
    const where = `line ${r.line}`;
    if (!/^[A-Z0-9]{6,20}$/.test(receipt))
      throw new StatementError(`${where}: "${cell('receipt')}" is not a receipt number`);
    const completedAt = parseTimeCell(cell('completedAt'), `${where}, Completion Time`);
    let nonWhole: StatementRow['nonWhole'] = null;
    const amount = (c: 'paidIn' | 'withdrawn'): number | null => {
      const cents = parseAmountCell(cell(c), `${where}, ${c === 'paidIn' ? 'Paid In' : 'Withdrawn'}`);
      if (cents === null) return null;
      if (!Number.isFinite(cents) || cents % 100 !== 0) {
        nonWhole ??= { column: c, text: cell(c) };
        return null;
      }
      return Math.abs(cents / 100);
    };
    const paidIn = amount('paidIn');
    const withdrawn = amount('withdrawn');
    const status = cell('status');
    const details = cell('details');
    rows.push({
      line: r.line,
      receipt,
      completedAt,
      details,
      status,
      // a statement without a status column lists completed transactions only
      completed: cols.status === undefined || status.toLowerCase() === 'completed',
      charge: /charge/i.test(details) || /charge/i.test(cell('reasonType')),
      paidIn: paidIn === 0 ? null : paidIn,
      withdrawn: withdrawn === 0 ? null : withdrawn,
      nonWhole,
      otherParty: cell('otherParty'),
      linkedTransactionId: cell('linkedTransactionId').toUpperCase(),
      accountNo: cell('accountNo'),
    });
  }
  if (rows.length === 0) throw new StatementError('the statement has a header but no transactions');
  const times = rows.map((r) => r.completedAt.getTime());
  return { rows, from: new Date(Math.min(...times)), to: new Date(Math.max(...times)) };
}

// ---------------------------------------------------------------------------------------------
// Comparison

/** A Malipo record with an M-Pesa receipt: a payment (money in), a payout or a reversal (money out). */
export interface LedgerRecord {
  kind: 'payment' | 'payout' | 'reversal';
  id: string;
  status: string;
  amount: number;
  receipt: string;
  /** When Malipo settled it (decides whether it falls in the statement's time range). */
  settledAt: Date | null;
}

export type DifferenceKind =
  | 'not_success_in_malipo' // completed on the statement, not `success` in Malipo
  | 'absent_from_statement' // `success` in Malipo within the statement's time range, no completed row
  | 'amount_mismatch'
  | 'unknown_receipt' // completed on the statement, unknown to Malipo
  | 'non_whole_amount'; // a statement amount that is not whole KES (never rounded)

export interface Difference {
  kind: DifferenceKind;
  receipt: string;
  /** Whole KES on the statement (paid in for payments, withdrawn for payouts and reversals). */
  statementAmount: number | null;
  malipoId: string | null;
  malipoKind: LedgerRecord['kind'] | null;
  malipoStatus: string | null;
  malipoAmount: number | null;
  /** Statement lines of the receipt. */
  lines: number[];
  note: string;
}

export interface Comparison {
  from: string | null;
  to: string | null;
  rows: number;
  completedReceipts: number;
  matched: number;
  differences: Difference[];
}

/** Matches a statement's receipts against Malipo's records and lists every difference. */
export function compareStatement(statement: Statement, records: LedgerRecord[]): Comparison {
  const differences: Difference[] = [];
  const byReceipt = new Map<string, LedgerRecord>();
  for (const r of records) if (!byReceipt.has(r.receipt)) byReceipt.set(r.receipt, r);

  for (const row of statement.rows) {
    if (row.nonWhole) {
      differences.push({
        kind: 'non_whole_amount',
        receipt: row.receipt,
        statementAmount: null,
        malipoId: byReceipt.get(row.receipt)?.id ?? null,
        malipoKind: byReceipt.get(row.receipt)?.kind ?? null,
        malipoStatus: byReceipt.get(row.receipt)?.status ?? null,
        malipoAmount: byReceipt.get(row.receipt)?.amount ?? null,
        lines: [row.line],
        note: `${row.nonWhole.column === 'paidIn' ? 'Paid In' : 'Withdrawn'} "${row.nonWhole.text}" is not a whole number of KES`,
      });
    }
  }

  // a receipt may span several rows (the transaction and its charge): sum its completed, non-charge rows
  const groups = new Map<string, { paidIn: number; withdrawn: number; lines: number[] }>();
  const nonWhole = new Set(statement.rows.filter((r) => r.nonWhole).map((r) => r.receipt));
  for (const row of statement.rows) {
    // a row with a non-whole amount is reported above, and not matched with a guessed amount
    if (!row.completed || row.charge || nonWhole.has(row.receipt)) continue;
    const g = groups.get(row.receipt) ?? { paidIn: 0, withdrawn: 0, lines: [] };
    g.paidIn += row.paidIn ?? 0;
    g.withdrawn += row.withdrawn ?? 0;
    g.lines.push(row.line);
    groups.set(row.receipt, g);
  }

  let matched = 0;
  for (const [receipt, g] of groups) {
    const rec = byReceipt.get(receipt);
    const statementAmount =
      rec === undefined ? g.paidIn || g.withdrawn : rec.kind === 'payment' ? g.paidIn : g.withdrawn;
    const base = {
      receipt,
      statementAmount,
      malipoId: rec?.id ?? null,
      malipoKind: rec?.kind ?? null,
      malipoStatus: rec?.status ?? null,
      malipoAmount: rec?.amount ?? null,
      lines: g.lines,
    };
    if (rec === undefined) {
      differences.push({
        kind: 'unknown_receipt',
        ...base,
        note: 'no payment, payout or reversal of this merchant has this receipt',
      });
      continue;
    }
    if (rec.status !== 'success') {
      differences.push({
        kind: 'not_success_in_malipo',
        ...base,
        note: `completed on the statement, ${rec.status} in Malipo`,
      });
      continue;
    }
    if (statementAmount !== rec.amount) {
      differences.push({
        kind: 'amount_mismatch',
        ...base,
        note: `${statementAmount} KES on the statement, ${rec.amount} KES in Malipo`,
      });
      continue;
    }
    matched++;
  }

  for (const rec of records) {
    if (rec.status !== 'success' || groups.has(rec.receipt) || nonWhole.has(rec.receipt)) continue;
    if (rec.settledAt === null) continue;
    if (statement.from === null || statement.to === null) continue;
    const t = rec.settledAt.getTime();
    if (t < statement.from.getTime() || t > statement.to.getTime()) continue;
    differences.push({
      kind: 'absent_from_statement',
      receipt: rec.receipt,
      statementAmount: null,
      malipoId: rec.id,
      malipoKind: rec.kind,
      malipoStatus: rec.status,
      malipoAmount: rec.amount,
      lines: [],
      note: 'success in Malipo within the statement’s time range, no completed row on the statement',
    });
  }

  return {
    from: statement.from?.toISOString() ?? null,
    to: statement.to?.toISOString() ?? null,
    rows: statement.rows.length,
    completedReceipts: groups.size,
    matched,
    differences,
  };
}

/** The differences as a fixed-width text table (one line per difference). */
export function formatTable(c: Comparison): string {
  const head = ['DIFFERENCE', 'RECEIPT', 'STATEMENT KES', 'MALIPO', 'STATUS', 'MALIPO KES', 'NOTE'];
  const body = c.differences.map((d) => [
    d.kind,
    d.receipt,
    d.statementAmount === null ? '-' : String(d.statementAmount),
    d.malipoId ?? '-',
    d.malipoStatus ?? '-',
    d.malipoAmount === null ? '-' : String(d.malipoAmount),
    d.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((v, i) => (i === cells.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const summary = `Statement ${c.from ?? '?'} .. ${c.to ?? '?'}: ${c.rows} rows, ${c.completedReceipts} completed receipts, ${c.matched} matched, ${c.differences.length} differences`;
  if (c.differences.length === 0) return `${summary}\n`;
  return `${[line(head), ...body.map(line)].join('\n')}\n${summary}\n`;
}
