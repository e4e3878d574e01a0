/**
 * `malipo admin reconcile --statement file.csv --merchant mer_…`: reads an M-Pesa org portal statement,
 * matches its receipts to the merchant's payments, payouts and reversals, and prints the differences
 * (a table, or JSON). Exit code 0 without differences, 1 with, 2 on bad input.
 */
import { readFile } from 'node:fs/promises';
import type { Db } from '../db';
import {
  type Comparison,
  compareStatement,
  formatTable,
  type LedgerRecord,
  parseStatement,
  StatementError,
} from './statement';

export interface ReconcileStatementOptions {
  statement: string;
  merchant: string;
  /** Key environment of the records compared: `live` (a production statement) by default. */
  env?: string | undefined;
  json?: boolean | undefined;
}

export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The merchant's records that carry an M-Pesa receipt, in one environment. */
export async function ledgerRecords(
  db: Db,
  merchantId: string,
  environment: string,
): Promise<LedgerRecord[]> {
  const when = (d: Date | string | null) => (d === null ? null : new Date(d));
  const [payments, payouts, reversals] = await Promise.all([
    db
      .selectFrom('payments')
      .select(['id', 'status', 'amount', 'mpesa_receipt', 'settled_at'])
      .where('merchant_id', '=', merchantId)
      .where('environment', '=', environment)
      .where('mpesa_receipt', 'is not', null)
      .execute(),
    db
      .selectFrom('payouts')
      .select(['id', 'status', 'amount', 'mpesa_receipt', 'settled_at'])
      .where('merchant_id', '=', merchantId)
      .where('environment', '=', environment)
      .where('mpesa_receipt', 'is not', null)
      .execute(),
    db
      .selectFrom('reversals')
      .select(['id', 'status', 'amount', 'mpesa_receipt', 'settled_at'])
      .where('merchant_id', '=', merchantId)
      .where('environment', '=', environment)
      .where('mpesa_receipt', 'is not', null)
      .execute(),
  ]);
  const of = (kind: LedgerRecord['kind']) => (r: (typeof payments)[number]) => ({
    kind,
    id: r.id,
    status: r.status,
    amount: r.amount,
    receipt: r.mpesa_receipt!.toUpperCase(),
    settledAt: when(r.settled_at),
  });
  return [...payments.map(of('payment')), ...payouts.map(of('payout')), ...reversals.map(of('reversal'))];
}

/** Runs the command; returns the exit code. */
export async function reconcileStatement(
  db: Db,
  o: ReconcileStatementOptions,
  io: CommandIo,
): Promise<number> {
  const env = o.env ?? 'live';
  if (env !== 'live' && env !== 'test') {
    io.err(`malipo admin reconcile: --env must be live or test, not "${env}"\n`);
    return 2;
  }
  if (!/^mer_[0-9A-Za-z]{6,64}$/.test(o.merchant)) {
    io.err(`malipo admin reconcile: --merchant must look like mer_…, not "${o.merchant}"\n`);
    return 2;
  }
  const merchant = await db
    .selectFrom('merchants')
    .select('id')
    .where('id', '=', o.merchant)
    .executeTakeFirst();
  if (!merchant) {
    io.err(`malipo admin reconcile: no merchant ${o.merchant}\n`);
    return 2;
  }
  let text: string;
  try {
    text = await readFile(o.statement, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'unreadable';
    io.err(`malipo admin reconcile: cannot read ${o.statement} (${code})\n`);
    return 2;
  }
  let comparison: Comparison;
  try {
    const statement = parseStatement(text);
    comparison = compareStatement(statement, await ledgerRecords(db, o.merchant, env));
  } catch (err) {
    if (err instanceof StatementError) {
      io.err(
        `malipo admin reconcile: ${o.statement} is not a statement this command can read: ${err.message}\n`,
      );
      return 2;
    }
    throw err;
  }
  io.out(
    o.json
      ? `${JSON.stringify({ merchant: o.merchant, environment: env, ...comparison }, null, 2)}\n`
      : formatTable(comparison),
  );
  return comparison.differences.length === 0 ? 0 : 1;
}
