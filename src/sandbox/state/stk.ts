/** The STK Push ledger: one push, a refused push, a scripted outcome; how a push is planned and its callback body. */
import { type CallbackMode, type PushMode, scenarioFor } from '../scenarios';
import type { CallbackAttempt, FaultRates, SandboxApp } from './common';

/** A scripted outcome set through the control API. */
export interface OutcomeOverride {
  resultCode: number | string;
  callback?: CallbackMode | undefined;
}

/** One push in the ground-truth ledger. */
export interface LedgerEntry {
  checkoutRequestId: string;
  merchantRequestId: string;
  shortcode: string;
  transactionType: string;
  partyB: string;
  phone: string;
  amount: number;
  accountReference: string;
  transactionDesc: string;
  callbackUrl: string;
  pushedAt: string;
  /** Where the outcome came from: `scenario`, `override`, `handset`, `control`, `timeout`. */
  source: string;
  callbackMode: CallbackMode;
  /** The push response was held back past the client's timeout. */
  responseDelayed: boolean;
  status: 'open' | 'completed';
  /** What the customer did: paid, cancelled, unreachable, insufficient_funds, wrong_pin, expired, ignored, no_answer… */
  customerAction: string | null;
  resultCode: number | string | null;
  resultDesc: string | null;
  actedAt: string | null;
  receipt: string | null;
  callbacks: CallbackAttempt[];
  queries: number;
}

export interface RejectedPush {
  at: string;
  phone: string | null;
  accountReference: string | null;
  httpStatus: number;
  errorCode: string;
  errorMessage: string;
}

/** A push as the state holds it: the ledger entry, its app and its expiry timer. */
export interface Txn extends LedgerEntry {
  app: SandboxApp;
  expiryTimer?: NodeJS.Timeout | undefined;
}

/** How a push will be answered. */
export interface PushPlan {
  push: PushMode;
  callback: CallbackMode;
  outcome?: OutcomeOverride;
  source: string;
}

/** Decides how a push to `phone` will be answered (scenario, override, fault rates); `roll` draws each fault die. */
export function planPush(
  phone: string,
  override: OutcomeOverride | undefined,
  f: FaultRates,
  roll: (rate: number) => boolean,
): PushPlan {
  const scenario = scenarioFor(phone);
  // Draw every fault die in a fixed order so a seed always gives the same run.
  const rolls = {
    pushError: roll(f.pushError),
    ambiguous: roll(f.ambiguousPush),
    drop: roll(f.dropCallback),
    duplicate: roll(f.duplicateCallback),
    late: roll(f.lateCallback),
  };
  let push: PushMode = scenario?.push ?? 'accept';
  if (push === 'accept' && rolls.pushError) push = 'error500';
  else if (push === 'accept' && rolls.ambiguous) push = 'slow';
  let callback: CallbackMode = override?.callback ?? scenario?.callback ?? 'normal';
  if (callback === 'normal') {
    if (rolls.drop) callback = 'drop';
    else if (rolls.duplicate) callback = 'duplicate';
    else if (rolls.late) callback = 'late';
  }
  if (override) return { push, callback, outcome: override, source: 'override' };
  if (scenario) return { push, callback, outcome: { resultCode: scenario.resultCode }, source: 'scenario' };
  return { push, callback, source: 'handset' };
}

/** The STK callback body for a completed push, shaped as Daraja sends it. */
export function stkCallbackBody(txn: LedgerEntry, now: () => Date): object {
  const code =
    typeof txn.resultCode === 'string' && /^\d+$/.test(txn.resultCode)
      ? Number(txn.resultCode)
      : txn.resultCode;
  const base = {
    MerchantRequestID: txn.merchantRequestId,
    CheckoutRequestID: txn.checkoutRequestId,
    ResultCode: code,
    ResultDesc: txn.resultDesc,
  };
  if (String(txn.resultCode) !== '0') return { Body: { stkCallback: base } };
  const acted = txn.actedAt ? new Date(txn.actedAt) : now();
  const e = new Date(acted.getTime() + 3 * 3600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  const date = Number(
    `${e.getUTCFullYear()}${p(e.getUTCMonth() + 1)}${p(e.getUTCDate())}${p(e.getUTCHours())}${p(e.getUTCMinutes())}${p(e.getUTCSeconds())}`,
  );
  return {
    Body: {
      stkCallback: {
        ...base,
        CallbackMetadata: {
          // Numbers as numbers, Balance without Value: as real captures (daraja.md §5.1).
          Item: [
            { Name: 'Amount', Value: txn.amount },
            { Name: 'MpesaReceiptNumber', Value: txn.receipt },
            { Name: 'Balance' },
            { Name: 'TransactionDate', Value: date },
            { Name: 'PhoneNumber', Value: Number(txn.phone) },
          ],
        },
      },
    },
  };
}

/** A ledger entry without its app and timer, its callbacks copied. */
export function strip(t: Txn | LedgerEntry): LedgerEntry {
  const { app: _app, expiryTimer: _timer, ...rest } = t as Txn;
  return { ...rest, callbacks: rest.callbacks.map((c) => ({ ...c })) };
}
