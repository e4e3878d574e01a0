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

// ----- B2C (recipient PartyB) -------------------------------------------------------------------

/** How the simulator answers a B2C request itself. */
export type B2cResponseMode = 'accept' | 'error500' | 'slow';
/** What happens to an accepted B2C request: processed with the Result sent, processed in silence, or timed out in the queue. */
export type B2cResultMode = 'normal' | 'drop' | 'queue_timeout';

export interface B2cScenario {
  phone: string;
  /** What happens, in words. */
  label: string;
  /** The ResultCode of the Result (0 = paid). Ignored when the request is answered 500. */
  resultCode: number;
  response: B2cResponseMode;
  result: B2cResultMode;
}

const b = (
  phone: string,
  label: string,
  resultCode: number,
  result: B2cResultMode = 'normal',
  response: B2cResponseMode = 'accept',
): B2cScenario => ({ phone, label, resultCode, response, result });

/**
 * B2C scenario phones (the recipient, PartyB). Mnemonic: for the 2547100xxxxx numbers the last digits
 * are the ResultCode or the fault (9001 silence, 9408 queue timeout, 9500 HTTP 500, 9504 slow answer).
 * Every other valid phone is paid. A wrong SecurityCredential still gives 2001 in the Result.
 */
export const B2C_SCENARIOS: readonly B2cScenario[] = [
  b('254708374149', 'paid (Safaricom sandbox test number)', 0),
  b('254710002040', 'fails 2040: the receiver is not a registered M-Pesa customer', 2040),
  b('254710000001', 'fails 1: insufficient balance in the utility account', 1),
  b('254710009001', 'paid, but the Result is never sent (find it with Transaction Status)', 0, 'drop'),
  b(
    '254710009408',
    'times out in the queue: a Result goes to QueueTimeOutURL, nothing is paid',
    1,
    'queue_timeout',
  ),
  b('254710009500', 'request answered HTTP 500 (500.003.1001), not processed', 0, 'normal', 'error500'),
  b(
    '254710009504',
    "paid and Result sent, but the HTTP answer is held back past the client's timeout",
    0,
    'normal',
    'slow',
  ),
];

export function b2cScenarioFor(phone: string): B2cScenario | undefined {
  return B2C_SCENARIOS.find((x) => x.phone === phone);
}

/**
 * The Result sent to QueueTimeOutURL when a B2C request times out in M-Pesa's queue. Safaricom does not
 * document this payload (daraja.md §8); the simulator sends the usual `Result` envelope with these values.
 */
export const QUEUE_TIMEOUT_RESULT = {
  resultCode: 1,
  resultDesc: 'The service request timed out in the queue.',
} as const;

/** B2C ResultDesc texts (daraja.md §8.2), falling back to the STK table. */
const B2C_RESULT_DESCRIPTIONS: Readonly<Record<string, string>> = {
  '0': 'The service request is processed successfully.',
  '1': 'The balance is insufficient for the transaction.',
  '2001': 'The initiator information is invalid.',
  '2040': 'The receiver is not a registered M-Pesa customer',
};

export function b2cResultDescription(code: number | string): string {
  return B2C_RESULT_DESCRIPTIONS[String(code)] ?? resultDescription(code);
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
