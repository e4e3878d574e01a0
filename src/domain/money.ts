/** Money in Malipo is whole Kenya shillings: M-Pesa has no cents, so neither do we. */

declare const kesBrand: unique symbol;
/** A positive whole number of KES. */
export type Kes = number & { readonly [kesBrand]: true };

/** Daraja's per-transaction ceiling for customer payments. */
export const MAX_TRANSACTION_KES = 250_000;

export type AmountResult = { ok: true; amount: Kes } | { ok: false; reason: string };

export function parseAmount(input: unknown, max: number = MAX_TRANSACTION_KES): AmountResult {
  if (typeof input !== 'number' || !Number.isFinite(input)) {
    return { ok: false, reason: 'amount must be a number of whole KES' };
  }
  if (!Number.isInteger(input)) return { ok: false, reason: 'amount must be whole KES (no cents)' };
  if (input < 1) return { ok: false, reason: 'amount must be at least 1 KES' };
  if (input > max) return { ok: false, reason: `amount must be at most ${max} KES` };
  return { ok: true, amount: input as Kes };
}
