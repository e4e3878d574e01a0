/**
 * Pure mapping for lookups: Daraja's Result (parsed by parseAsyncResult) → the workflow's signal, and
 * the workflow's answer → the API's bodies. Balances stay decimal strings; times become ISO instants.
 */
import { type AsyncResult, transactionStatusDetails } from '../daraja/callbacks';
import { parseNairobiTimestamp } from '../daraja/password';
import type { BalanceAccount, LookupResultSignal, TransactionStatusFields } from '../domain/lookup';

const MONEY = /^(-?)(\d+)(?:\.(\d+))?$/;

/** `"900000"` → `"900000.00"`, `"12.5"` → `"12.50"`, `"-4510.00"` stays; anything else is undefined. */
export function kesString(value: string): string | undefined {
  const m = MONEY.exec(value.trim());
  if (!m) return undefined;
  const [, sign, whole, frac = ''] = m;
  const cents =
    frac.length <= 2
      ? frac.padEnd(2, '0')
      : // more than two decimals never appear in Daraja's balances; round like toFixed would
        Number(`0.${frac}`).toFixed(2).slice(2);
  const carry = frac.length > 2 && Number(`0.${frac}`) >= 0.995;
  const units = carry ? String(BigInt(whole!) + 1n) : whole!.replace(/^0+(?=\d)/, '');
  const zero = /^0+$/.test(units) && /^0+$/.test(cents);
  return `${zero ? '' : sign}${units}.${carry ? '00' : cents}`;
}

/**
 * Parses Daraja's `AccountBalance` (`Name|KES|available|uncleared|reserved|…` joined by `&`, daraja.md
 * §8.4) keeping the amounts as strings. Malformed segments are skipped.
 */
export function parseBalances(raw: string): BalanceAccount[] {
  const out: BalanceAccount[] = [];
  for (const seg of String(raw).split('&')) {
    const parts = seg.split('|');
    if (parts.length < 5) continue;
    const [name, currency, available, uncleared, reserved] = parts.map((p) => p.trim()) as [
      string,
      string,
      string,
      string,
      string,
    ];
    const amounts = [available, uncleared, reserved].map(kesString);
    if (!name || amounts.some((a) => a === undefined)) continue;
    out.push({
      name,
      currency: currency || 'KES',
      available: amounts[0]!,
      uncleared: amounts[1]!,
      reserved: amounts[2]!,
    });
  }
  return out;
}

const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** The signal for a parsed Result; both kinds' fields are read, the workflow keeps its own. */
export function lookupSignalOf(result: AsyncResult): LookupResultSignal {
  const p = result.parameters;
  const balance = text(p.AccountBalance);
  const t = transactionStatusDetails(result);
  const transaction: TransactionStatusFields = Object.fromEntries(
    Object.entries(t).filter(([, v]) => v !== undefined && v !== ''),
  );
  return {
    resultCode: result.resultCode,
    resultDesc: result.resultDesc,
    ...(result.resultType !== undefined ? { resultType: result.resultType } : {}),
    conversationId: result.conversationId,
    originatorConversationId: result.originatorConversationId,
    ...(balance !== undefined ? { accounts: parseBalances(balance) } : {}),
    ...(text(p.BOCompletedTime) ? { completedTime: text(p.BOCompletedTime) } : {}),
    ...(Object.keys(transaction).length > 0 ? { transaction } : {}),
  };
}

/** A Nairobi `YYYYMMDDHHmmss` as an ISO instant, or null. */
export function nairobiIso(value: string | undefined): string | null {
  if (!value) return null;
  const at = parseNairobiTimestamp(value);
  return at ? at.toISOString() : null;
}

/**
 * Result codes that say the initiator (name, password, certificate, role) is wrong, not anything about
 * the transaction asked about: a Transaction Status answering one of these is an upstream failure.
 * 2001 initiator information invalid, 8006 security credential locked, 21 initiator lacks the role.
 */
export const INITIATOR_RESULT_CODES: ReadonlySet<string> = new Set(['2001', '8006', '21']);
