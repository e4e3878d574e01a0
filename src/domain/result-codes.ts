/** The one table from an STK ResultCode to Malipo's outcome; an unlisted code is `unknown`, never a plain failure. */
import type { FailureReason } from './payment';

/** What a Daraja STK ResultCode means for the payment. */
export type StkOutcome =
  | { kind: 'success'; message: string }
  | { kind: 'failed'; reason: FailureReason; message: string }
  | { kind: 'unknown'; message: string };

const failed = (reason: FailureReason, message: string): StkOutcome => ({ kind: 'failed', reason, message });

/**
 * Every STK ResultCode we know (daraja.md §6), keyed by its normalised string form.
 * Every listed non-zero code is final for its CheckoutRequestID: a retry is always a new push.
 */
export const STK_RESULT_CODES: Readonly<Record<string, StkOutcome>> = {
  '0': { kind: 'success', message: 'The customer paid.' },
  '1': failed('insufficient_funds', 'The customer does not have enough money in M-Pesa.'),
  '2': failed('rejected', 'The amount is below the M-Pesa minimum.'),
  '3': failed('rejected', 'The amount is above the M-Pesa per-transaction maximum.'),
  '4': failed('rejected', "The payment would exceed the customer's daily M-Pesa limit."),
  '8': failed('rejected', "The payment would exceed the receiving account's maximum balance."),
  '17': failed(
    'rejected',
    'M-Pesa refused a repeat of the same amount from the same customer within 2 minutes.',
  ),
  '26': failed('rejected', 'M-Pesa was too busy to process the payment; try again shortly.'),
  '1001': failed('phone_busy', 'Another M-Pesa session was open on the phone; try again in a minute.'),
  '1019': failed('expired', 'The prompt expired before the customer answered.'),
  '1025': failed(
    'rejected',
    'M-Pesa could not send the prompt to the phone (message too long or a transient error).',
  ),
  '1031': failed('cancelled', 'The customer cancelled the prompt.'),
  '1032': failed('cancelled', 'The customer cancelled the prompt.'),
  '1037': failed('timeout', 'The phone could not be reached or the customer did not answer in time.'),
  '1101': failed('rejected', 'The prompt text was too long for M-Pesa.'),
  '2001': failed('wrong_pin', 'The customer entered a wrong M-Pesa PIN.'),
  '2028': failed('rejected', 'The shortcode is not allowed this transaction type (till vs paybill mix-up).'),
  '8006': failed('rejected', "The customer's M-Pesa PIN is locked."),
  '9999': failed('rejected', 'M-Pesa could not send the prompt; try again later.'),
  SFC_IC0003: failed(
    'rejected',
    'M-Pesa says the receiving business does not exist (till vs paybill mix-up).',
  ),
};

/**
 * Normalises a ResultCode as Daraja sends it: a number (`1032`), a numeric string (`"1032"`,
 * `" 0 "`) or a non-numeric string (`"SFC_IC0003"`).
 */
export function normalizeResultCode(code: string | number): string {
  const s = String(code).trim();
  if (/^\d+$/.test(s)) return String(Number(s));
  return s.toUpperCase();
}

/** Maps an STK ResultCode to an outcome. Unlisted codes are `unknown` so a human can decide. */
export function stkOutcome(code: string | number): StkOutcome {
  const key = normalizeResultCode(code);
  const known = Object.hasOwn(STK_RESULT_CODES, key) ? STK_RESULT_CODES[key] : undefined;
  if (known) return known;
  return { kind: 'unknown', message: `M-Pesa answered with result code ${key}, which Malipo does not know.` };
}

/** The same mapping under the name the workflows use. */
export const outcomeForResultCode = stkOutcome;
