/**
 * Daraja lookups (Account Balance, Transaction Status): the workflow's input and answer, and the Result
 * the hook route signals to it. Types and constants only (workflow code imports this file). Every value
 * is plain JSON and holds no secret: it is written into workflow history.
 */

export type LookupKind = 'account_balance' | 'transaction_status';

/** The workflow's input. Credentials are loaded by the activity from `channelId`, never passed here. */
export interface DarajaLookupInput {
  lookupId: string;
  merchantId: string;
  kind: LookupKind;
  channelId: string;
  /** The API key's environment. */
  environment: 'test' | 'live';
  /** Transaction Status: the M-Pesa receipt (TransactionID). */
  receipt?: string | undefined;
  /** Transaction Status: the OriginatorConversationID of an earlier async request. */
  originatorConversationId?: string | undefined;
  /** How long, from the workflow's start, to wait for Daraja's Result before answering `timeout`. */
  waitMs: number;
}

/**
 * One account of an Account Balance Result. Amounts are KES as decimal strings with exactly two
 * decimals (`"900000.00"`, `"-4510.00"`), as Daraja sends them: balances have cents, and a string
 * never picks up floating-point noise.
 */
export interface BalanceAccount {
  name: string;
  currency: string;
  available: string;
  uncleared: string;
  reserved: string;
}

/** The Transaction Status fields of a Result, as sent (times are Nairobi `YYYYMMDDHHmmss`). */
export interface TransactionStatusFields {
  receipt?: string | undefined;
  /** Daraja's TransactionStatus, e.g. `Completed`. */
  status?: string | undefined;
  amount?: number | undefined;
  debitPartyName?: string | undefined;
  creditPartyName?: string | undefined;
  initiatedTime?: string | undefined;
  finalisedTime?: string | undefined;
  reasonType?: string | undefined;
}

/** Daraja's Result, parsed by the hook route. Payload of signal `lookupResult`. */
export interface LookupResultSignal {
  /** Normalised: `"0"`, `"2001"`, `"R000001"`. */
  resultCode: string;
  resultDesc: string;
  /** 0 = completed; 1 = "waiting for further messages" (not final). */
  resultType?: number | undefined;
  conversationId: string;
  originatorConversationId: string;
  /** Account Balance: the accounts (empty when the Result has none). */
  accounts?: BalanceAccount[] | undefined;
  /** Account Balance: BOCompletedTime, Nairobi `YYYYMMDDHHmmss`. */
  completedTime?: string | undefined;
  /** Transaction Status fields, when the Result carries any. */
  transaction?: TransactionStatusFields | undefined;
}

/** What the workflow returns. */
export interface DarajaLookupResult {
  lookupId: string;
  kind: LookupKind;
  /**
   * `completed`: Daraja's Result said 0. `failed`: the request was refused (`failedAt: 'request'`) or
   * the Result carried another code (`failedAt: 'result'`). `timeout`: no Result within `waitMs`.
   */
  status: 'completed' | 'failed' | 'timeout';
  failedAt?: 'request' | 'result' | undefined;
  /** For a `request` failure, who refused it (see StartLookupResult). */
  rejectedBy?: 'daraja' | 'malipo' | undefined;
  resultCode?: string | undefined;
  resultDesc?: string | undefined;
  conversationId?: string | undefined;
  originatorConversationId?: string | undefined;
  accounts?: BalanceAccount[] | undefined;
  completedTime?: string | undefined;
  transaction?: TransactionStatusFields | undefined;
  /** One sentence for logs and error messages. */
  message: string;
  /** ISO instant the workflow decided (workflow time). */
  decidedAt: string;
}

/** Error type of the only failure `startLookup` throws. */
export const LOOKUP_NOT_SENT = 'LookupNotSent';
