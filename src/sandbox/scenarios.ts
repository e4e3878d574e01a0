/** The scenario phones: numbers whose simulated customer always does the same thing (documented in docs/sandbox.md). */

/** How the simulator delivers the callback for a push. */
export type CallbackMode = 'normal' | 'drop' | 'duplicate' | 'late';
/** How the simulator answers the push request itself. */
export type PushMode = 'accept' | 'error500' | 'slow';

export interface Scenario {
  phone: string;
  /** What the customer does, in words. */
  label: string;
  /** The ResultCode the customer's action produces (number as in callbacks, or a string code). */
  resultCode: number | string;
  callback: CallbackMode;
  push: PushMode;
}

const s = (
  phone: string,
  label: string,
  resultCode: number | string,
  callback: CallbackMode = 'normal',
  push: PushMode = 'accept',
): Scenario => ({ phone, label, resultCode, callback, push });

/** Mnemonic: for the 2547000xxxxx numbers the last digits are the ResultCode or the fault. */
export const SCENARIOS: readonly Scenario[] = [
  s('254708374149', 'pays (Safaricom sandbox test number)', 0),
  s('254700000000', 'pays', 0),
  s('254700001032', 'cancels the prompt', 1032),
  s('254700001037', 'cannot be reached', 1037),
  s('254700000001', 'has insufficient funds', 1),
  s('254700002001', 'enters a wrong PIN', 2001),
  s('254700001019', 'lets the prompt expire', 1019),
  s('254700000017', 'hits the 2-minute same-amount rule', 17),
  s('254700000003', 'till/paybill mix-up, string ResultCode', 'SFC_IC0003'),
  s('254700009001', 'pays, but the callback is never sent', 0, 'drop'),
  s('254700009002', 'pays, and the callback is sent twice', 0, 'duplicate'),
  s('254700009003', 'pays, and the callback is sent late', 0, 'late'),
  s('254700009500', 'push answered HTTP 500 (no prompt)', 0, 'normal', 'error500'),
  s('254700009504', "push accepted, response delayed past the client's timeout; pays", 0, 'normal', 'slow'),
];

export function scenarioFor(phone: string): Scenario | undefined {
  return SCENARIOS.find((x) => x.phone === phone);
}

/** ResultDesc texts as Daraja sends them (daraja.md §6). */
export const RESULT_DESCRIPTIONS: Readonly<Record<string, string>> = {
  '0': 'The service request is processed successfully.',
  '1': 'The balance is insufficient for the transaction.',
  '2': 'Declined due to limit rule: less than minimum',
  '3': 'Declined due to limit rule: greater than the maximum transaction amount',
  '4': 'Declined due to limit rule: would exceed daily transfer limit',
  '8': 'Declined due to limit rule: would exceed the maximum balance',
  '17': 'Rule limited.',
  '26': 'System busy',
  '1001': 'Unable to lock subscriber, a transaction is already in process for the current subscriber',
  '1019': 'Transaction has expired.',
  '1025': 'An error occurred while sending a push request.',
  '1031': 'Request cancelled by user',
  '1032': 'Request cancelled by user',
  '1037': 'DS timeout user cannot be reached',
  '2001': 'The initiator information is invalid.',
  '2028': 'The request is not permitted according to product assignment.',
  '8006': 'The security credential is locked.',
  '9999': 'An error occurred while sending a push request.',
  SFC_IC0003: 'The operator does not exist.',
};

export function resultDescription(code: number | string): string {
  return RESULT_DESCRIPTIONS[String(code)] ?? `Simulated result ${code}`;
}

/** What the customer did, for the ledger. */
export function customerActionFor(code: number | string): string {
  switch (String(code)) {
    case '0':
      return 'paid';
    case '1':
      return 'insufficient_funds';
    case '1031':
    case '1032':
      return 'cancelled';
    case '1037':
      return 'unreachable';
    case '1019':
      return 'expired';
    case '2001':
      return 'wrong_pin';
    default:
      return `result_${code}`;
  }
}
