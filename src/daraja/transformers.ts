/**
 * Pure mapping between Malipo's camelCase types and Daraja's PascalCase payloads, with zod schemas
 * for what Daraja sends back. Field rules are checked here, before anything is sent (daraja.md §3.1, §9).
 */
import { z } from 'zod';
import type { FieldIssue } from '../domain/errors';
import { MAX_TRANSACTION_KES } from '../domain/money';
import { normalizePhone } from '../domain/phone';
import { normalizeResultCode, type StkOutcome, stkOutcome } from '../domain/result-codes';
import { DarajaInputError } from './errors';
import { nairobiTimestamp, stkPassword } from './password';

// ---------------------------------------------------------------------------------------------
// Field rules

/** Characters allowed in AccountReference / TransactionDesc / Remarks: others caused silent failures (§9.7). */
export const SAFE_TEXT = /^[A-Za-z0-9 ._-]*$/;
export const ACCOUNT_REFERENCE_MAX = 12;
export const TRANSACTION_DESC_MAX = 13;

class Issues {
  readonly list: FieldIssue[] = [];
  add(path: string, message: string, code = 'invalid'): void {
    this.list.push({ path, message, code });
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new DarajaInputError(this.list);
  }
}

function checkText(issues: Issues, path: string, value: string, min: number, max: number): void {
  if (typeof value !== 'string') {
    issues.add(path, 'must be a string', 'invalid_type');
    return;
  }
  if (value.length < min || value.length > max)
    issues.add(path, `must be ${min}-${max} characters`, 'invalid_length');
  else if (!SAFE_TEXT.test(value))
    issues.add(path, 'may use only letters, digits, space, dot, dash and underscore');
  else if (min > 0 && value.trim() === '') issues.add(path, 'must not be blank');
}

function checkAmount(issues: Issues, path: string, value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TRANSACTION_KES) {
    issues.add(path, `must be a whole number of KES from 1 to ${MAX_TRANSACTION_KES}`, 'invalid_amount');
  }
}

function checkShortcode(issues: Issues, path: string, value: string): void {
  if (!/^\d{5,7}$/.test(String(value))) issues.add(path, 'must be a 5-7 digit shortcode');
}

function checkUrl(issues: Issues, path: string, value: string): void {
  let ok = false;
  if (typeof value === 'string' && !/\s/.test(value)) {
    try {
      const u = new URL(value);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      ok = false;
    }
  }
  if (!ok) issues.add(path, 'must be an http(s) URL without spaces');
}

function msisdnNumber(issues: Issues, path: string, value: string): number {
  const r = normalizePhone(value);
  if (!r.ok) {
    issues.add(path, r.reason, 'invalid_phone');
    return 0;
  }
  return Number(r.msisdn);
}

// ---------------------------------------------------------------------------------------------
// OAuth

/** `expires_in` has been seen as `"3599"` and `3599` (daraja.md §2); a missing one is taken as 3599. */
export const OAuthResponseSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z
    .union([z.number(), z.string()])
    .optional()
    .transform((v) => {
      const n = Number(v);
      return v === undefined || !Number.isFinite(n) || n <= 0 ? 3599 : n;
    }),
});
export type OAuthToken = { accessToken: string; expiresInSeconds: number };
export function parseOAuthResponse(body: unknown): OAuthToken | undefined {
  const r = OAuthResponseSchema.safeParse(body);
  return r.success ? { accessToken: r.data.access_token, expiresInSeconds: r.data.expires_in } : undefined;
}

// ---------------------------------------------------------------------------------------------
// STK push

export type StkTransactionType = 'paybill' | 'till';

export interface StkPushInput {
  /** BusinessShortCode: the paybill number, or for a till the store (HO) number used at go-live. */
  shortcode: string;
  passkey: string;
  type: StkTransactionType;
  /** The till number (PartyB) when `type` is `till`. */
  tillNumber?: string | undefined;
  /** Whole KES, 1..250,000. */
  amount: number;
  /** The paying MSISDN; any form `normalizePhone` accepts. */
  phone: string;
  callbackUrl: string;
  /** Shown on the prompt; 1-12 safe characters. */
  accountReference: string;
  /** 1-13 safe characters (Daraja calls it "Remarks" in errors). */
  description: string;
}

/** Daraja's STK push body. PartyA/PhoneNumber are JSON numbers (daraja.md §9.8: strings reportedly ended in 1037). */
export interface StkPushPayload {
  BusinessShortCode: number;
  Password: string;
  Timestamp: string;
  TransactionType: 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline';
  Amount: number;
  PartyA: number;
  PartyB: number;
  PhoneNumber: number;
  CallBackURL: string;
  AccountReference: string;
  TransactionDesc: string;
}

/** Builds the STK push body; `at` fixes the Timestamp, used for the Password too. Throws DarajaInputError. */
export function buildStkPushPayload(input: StkPushInput, at: Date): StkPushPayload {
  const issues = new Issues();
  checkShortcode(issues, 'shortcode', input.shortcode);
  if (typeof input.passkey !== 'string' || input.passkey.length === 0) issues.add('passkey', 'is required');
  if (input.type === 'till') {
    if (input.tillNumber === undefined || !/^\d{5,8}$/.test(String(input.tillNumber))) {
      issues.add('tillNumber', 'a till push needs the till number (5-8 digits)');
    }
  } else if (input.type !== 'paybill') {
    issues.add('type', "must be 'paybill' or 'till'");
  }
  checkAmount(issues, 'amount', input.amount);
  const phone = msisdnNumber(issues, 'phone', input.phone);
  checkUrl(issues, 'callbackUrl', input.callbackUrl);
  checkText(issues, 'accountReference', input.accountReference, 1, ACCOUNT_REFERENCE_MAX);
  checkText(issues, 'description', input.description, 1, TRANSACTION_DESC_MAX);
  issues.throwIfAny();
  const timestamp = nairobiTimestamp(at);
  const till = input.type === 'till';
  return {
    BusinessShortCode: Number(input.shortcode),
    Password: stkPassword(input.shortcode, input.passkey, timestamp),
    Timestamp: timestamp,
    TransactionType: till ? 'CustomerBuyGoodsOnline' : 'CustomerPayBillOnline',
    Amount: input.amount,
    PartyA: phone,
    PartyB: Number(till ? input.tillNumber : input.shortcode),
    PhoneNumber: phone,
    CallBackURL: input.callbackUrl,
    AccountReference: input.accountReference,
    TransactionDesc: input.description,
  };
}

const codeString = z.union([z.string(), z.number()]).transform((v) => String(v));

export const StkPushResponseSchema = z.object({
  MerchantRequestID: z.string().min(1),
  CheckoutRequestID: z.string().min(1),
  ResponseCode: codeString,
  ResponseDescription: z.string().optional().default(''),
  CustomerMessage: z.string().optional().default(''),
});

/** Daraja accepted the push: only an acknowledgement, the outcome comes later. */
export interface StkPushAck {
  merchantRequestId: string;
  checkoutRequestId: string;
  responseCode: string;
  responseDescription: string;
  customerMessage: string;
}

export function toStkPushAck(r: z.output<typeof StkPushResponseSchema>): StkPushAck {
  return {
    merchantRequestId: r.MerchantRequestID,
    checkoutRequestId: r.CheckoutRequestID,
    responseCode: r.ResponseCode,
    responseDescription: r.ResponseDescription,
    customerMessage: r.CustomerMessage,
  };
}

// ---------------------------------------------------------------------------------------------
// STK query

export interface StkQueryInput {
  shortcode: string;
  passkey: string;
  checkoutRequestId: string;
}
export interface StkQueryPayload {
  BusinessShortCode: number;
  Password: string;
  Timestamp: string;
  CheckoutRequestID: string;
}

export function buildStkQueryPayload(input: StkQueryInput, at: Date): StkQueryPayload {
  const issues = new Issues();
  checkShortcode(issues, 'shortcode', input.shortcode);
  if (typeof input.passkey !== 'string' || input.passkey.length === 0) issues.add('passkey', 'is required');
  if (typeof input.checkoutRequestId !== 'string' || !/^[\w.-]{1,64}$/.test(input.checkoutRequestId)) {
    issues.add('checkoutRequestId', 'must be a CheckoutRequestID such as ws_CO_…');
  }
  issues.throwIfAny();
  const timestamp = nairobiTimestamp(at);
  return {
    BusinessShortCode: Number(input.shortcode),
    Password: stkPassword(input.shortcode, input.passkey, timestamp),
    Timestamp: timestamp,
    CheckoutRequestID: input.checkoutRequestId,
  };
}

export const StkQueryResponseSchema = z.object({
  ResponseCode: codeString.optional(),
  ResponseDescription: z.string().optional(),
  MerchantRequestID: z.string().optional(),
  CheckoutRequestID: z.string().optional(),
  ResultCode: codeString,
  ResultDesc: z.string().optional().default(''),
});

/** Old answers prefix ResultDesc with `[STK_CB - ]` (daraja.md §4.2); strip it. */
export function cleanResultDesc(desc: string): string {
  return desc.replace(/^\s*\[STK_CB\s*-\s*\]\s*/i, '').trim();
}

/** An STK Query answer: `pending` while the customer has not acted, else the final ResultCode. */
export type StkQueryResult =
  | { status: 'pending'; requestId?: string | undefined }
  | {
      status: 'final';
      merchantRequestId: string | undefined;
      checkoutRequestId: string | undefined;
      /** Normalised (`"1032"`, `"SFC_IC0003"`). The query carries no receipt, amount or phone. */
      resultCode: string;
      resultDesc: string;
      outcome: StkOutcome;
    };

export function toStkQueryResult(r: z.output<typeof StkQueryResponseSchema>): StkQueryResult {
  const resultCode = normalizeResultCode(r.ResultCode);
  return {
    status: 'final',
    merchantRequestId: r.MerchantRequestID,
    checkoutRequestId: r.CheckoutRequestID,
    resultCode,
    resultDesc: cleanResultDesc(r.ResultDesc),
    outcome: stkOutcome(resultCode),
  };
}

// ---------------------------------------------------------------------------------------------
// Async APIs: shared acknowledgement

export const AsyncAckSchema = z.object({
  OriginatorConversationID: z.string().optional().default(''),
  ConversationID: z.string().optional().default(''),
  ResponseCode: codeString,
  ResponseDescription: z.string().optional().default(''),
});

export interface AsyncAck {
  originatorConversationId: string;
  conversationId: string;
  responseCode: string;
  responseDescription: string;
}

export function toAsyncAck(r: z.output<typeof AsyncAckSchema>): AsyncAck {
  return {
    originatorConversationId: r.OriginatorConversationID,
    conversationId: r.ConversationID,
    responseCode: r.ResponseCode,
    responseDescription: r.ResponseDescription,
  };
}

function checkRemarks(issues: Issues, path: string, value: string, min = 2): void {
  checkText(issues, path, value, min, 100);
}

// ---------------------------------------------------------------------------------------------
// B2C v3

export type B2cCommand = 'BusinessPayment' | 'SalaryPayment' | 'PromotionPayment';

export interface B2cInput {
  /** Our unique id for this payout (Daraja rejects a reused one: 500.002.1001). */
  originatorConversationId: string;
  initiatorName: string;
  /** See `securityCredential()`. */
  securityCredential: string;
  command: B2cCommand;
  amount: number;
  /** B2C shortcode (PartyA). */
  shortcode: string;
  phone: string;
  remarks: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  occasion?: string | undefined;
}

export interface B2cPayload {
  OriginatorConversationID: string;
  InitiatorName: string;
  SecurityCredential: string;
  CommandID: B2cCommand;
  Amount: number;
  PartyA: number;
  PartyB: number;
  Remarks: string;
  QueueTimeOutURL: string;
  ResultURL: string;
  /** Spelled `Occassion` in the v3 docs sample (daraja.md §1.4); kept byte-exact. */
  Occassion?: string;
}

export function buildB2cPayload(input: B2cInput): B2cPayload {
  const issues = new Issues();
  if (!/^[\w-]{1,64}$/.test(input.originatorConversationId ?? '')) {
    issues.add('originatorConversationId', 'must be 1-64 letters, digits, dash or underscore');
  }
  if (!input.initiatorName) issues.add('initiatorName', 'is required');
  if (!input.securityCredential) issues.add('securityCredential', 'is required');
  if (!['BusinessPayment', 'SalaryPayment', 'PromotionPayment'].includes(input.command)) {
    issues.add('command', 'must be BusinessPayment, SalaryPayment or PromotionPayment');
  }
  checkAmount(issues, 'amount', input.amount);
  checkShortcode(issues, 'shortcode', input.shortcode);
  const phone = msisdnNumber(issues, 'phone', input.phone);
  checkRemarks(issues, 'remarks', input.remarks);
  checkUrl(issues, 'resultUrl', input.resultUrl);
  checkUrl(issues, 'queueTimeoutUrl', input.queueTimeoutUrl);
  if (input.occasion !== undefined) checkRemarks(issues, 'occasion', input.occasion, 1);
  issues.throwIfAny();
  return {
    OriginatorConversationID: input.originatorConversationId,
    InitiatorName: input.initiatorName,
    SecurityCredential: input.securityCredential,
    CommandID: input.command,
    Amount: input.amount,
    PartyA: Number(input.shortcode),
    PartyB: phone,
    Remarks: input.remarks,
    QueueTimeOutURL: input.queueTimeoutUrl,
    ResultURL: input.resultUrl,
    ...(input.occasion !== undefined ? { Occassion: input.occasion } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Transaction Status

/** Daraja IdentifierType: 1 MSISDN, 2 till, 4 shortcode. */
export type IdentifierType = 'msisdn' | 'till' | 'shortcode';
const IDENTIFIER: Record<IdentifierType, string> = { msisdn: '1', till: '2', shortcode: '4' };

export interface TransactionStatusInput {
  initiatorName: string;
  securityCredential: string;
  /** The M-Pesa receipt; or give originalConversationId. */
  transactionId?: string | undefined;
  originalConversationId?: string | undefined;
  partyA: string;
  identifierType: IdentifierType;
  resultUrl: string;
  queueTimeoutUrl: string;
  remarks: string;
  occasion?: string | undefined;
}

export interface TransactionStatusPayload {
  Initiator: string;
  SecurityCredential: string;
  CommandID: 'TransactionStatusQuery';
  TransactionID?: string;
  OriginalConversationID?: string;
  PartyA: string;
  IdentifierType: string;
  ResultURL: string;
  QueueTimeOutURL: string;
  Remarks: string;
  Occasion?: string;
}

export function buildTransactionStatusPayload(input: TransactionStatusInput): TransactionStatusPayload {
  const issues = new Issues();
  if (!input.initiatorName) issues.add('initiatorName', 'is required');
  if (!input.securityCredential) issues.add('securityCredential', 'is required');
  if (!input.transactionId && !input.originalConversationId) {
    issues.add('transactionId', 'give transactionId or originalConversationId');
  }
  if (input.transactionId !== undefined && !/^[A-Z0-9]{10}$/.test(input.transactionId)) {
    issues.add('transactionId', 'must be a 10-character M-Pesa receipt');
  }
  if (!/^\d{5,12}$/.test(input.partyA ?? '')) issues.add('partyA', 'must be a shortcode, till or MSISDN');
  if (!(input.identifierType in IDENTIFIER))
    issues.add('identifierType', 'must be msisdn, till or shortcode');
  checkUrl(issues, 'resultUrl', input.resultUrl);
  checkUrl(issues, 'queueTimeoutUrl', input.queueTimeoutUrl);
  checkRemarks(issues, 'remarks', input.remarks);
  issues.throwIfAny();
  return {
    Initiator: input.initiatorName,
    SecurityCredential: input.securityCredential,
    CommandID: 'TransactionStatusQuery',
    ...(input.transactionId ? { TransactionID: input.transactionId } : {}),
    ...(input.originalConversationId ? { OriginalConversationID: input.originalConversationId } : {}),
    PartyA: input.partyA,
    IdentifierType: IDENTIFIER[input.identifierType],
    ResultURL: input.resultUrl,
    QueueTimeOutURL: input.queueTimeoutUrl,
    Remarks: input.remarks,
    ...(input.occasion !== undefined ? { Occasion: input.occasion } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Reversal (daraja.md §8.7)

export interface ReversalRequestInput {
  initiatorName: string;
  securityCredential: string;
  /** The M-Pesa receipt of the transaction to reverse. */
  transactionId: string;
  /** Whole KES to reverse (at most the original amount; M-Pesa checks the rest). */
  amount: number;
  /** The shortcode that received the original payment. */
  receiverParty: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  remarks: string;
  occasion?: string | undefined;
}

export interface ReversalPayload {
  Initiator: string;
  SecurityCredential: string;
  CommandID: 'TransactionReversal';
  TransactionID: string;
  Amount: number;
  ReceiverParty: string;
  /** Spelled `RecieverIdentifierType` by Daraja (daraja.md §1.4); `"11"` = organisation shortcode. */
  RecieverIdentifierType: '11';
  ResultURL: string;
  QueueTimeOutURL: string;
  Remarks: string;
  Occasion?: string;
}

export function buildReversalPayload(input: ReversalRequestInput): ReversalPayload {
  const issues = new Issues();
  if (!input.initiatorName) issues.add('initiatorName', 'is required');
  if (!input.securityCredential) issues.add('securityCredential', 'is required');
  if (!/^[A-Z0-9]{10}$/.test(input.transactionId ?? '')) {
    issues.add('transactionId', 'must be a 10-character M-Pesa receipt');
  }
  checkAmount(issues, 'amount', input.amount);
  checkShortcode(issues, 'receiverParty', input.receiverParty);
  checkUrl(issues, 'resultUrl', input.resultUrl);
  checkUrl(issues, 'queueTimeoutUrl', input.queueTimeoutUrl);
  checkRemarks(issues, 'remarks', input.remarks);
  if (input.occasion !== undefined) checkRemarks(issues, 'occasion', input.occasion, 1);
  issues.throwIfAny();
  return {
    Initiator: input.initiatorName,
    SecurityCredential: input.securityCredential,
    CommandID: 'TransactionReversal',
    TransactionID: input.transactionId,
    Amount: input.amount,
    ReceiverParty: String(input.receiverParty),
    RecieverIdentifierType: '11',
    ResultURL: input.resultUrl,
    QueueTimeOutURL: input.queueTimeoutUrl,
    Remarks: input.remarks,
    ...(input.occasion !== undefined ? { Occasion: input.occasion } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Account Balance

export interface AccountBalanceInput {
  initiatorName: string;
  securityCredential: string;
  shortcode: string;
  identifierType?: IdentifierType | undefined;
  resultUrl: string;
  queueTimeoutUrl: string;
  remarks: string;
}
export interface AccountBalancePayload {
  Initiator: string;
  SecurityCredential: string;
  CommandID: 'AccountBalance';
  PartyA: number;
  IdentifierType: string;
  Remarks: string;
  QueueTimeOutURL: string;
  ResultURL: string;
}

export function buildAccountBalancePayload(input: AccountBalanceInput): AccountBalancePayload {
  const issues = new Issues();
  if (!input.initiatorName) issues.add('initiatorName', 'is required');
  if (!input.securityCredential) issues.add('securityCredential', 'is required');
  checkShortcode(issues, 'shortcode', input.shortcode);
  checkUrl(issues, 'resultUrl', input.resultUrl);
  checkUrl(issues, 'queueTimeoutUrl', input.queueTimeoutUrl);
  checkRemarks(issues, 'remarks', input.remarks);
  issues.throwIfAny();
  return {
    Initiator: input.initiatorName,
    SecurityCredential: input.securityCredential,
    CommandID: 'AccountBalance',
    PartyA: Number(input.shortcode),
    IdentifierType: IDENTIFIER[input.identifierType ?? 'shortcode'],
    Remarks: input.remarks,
    QueueTimeOutURL: input.queueTimeoutUrl,
    ResultURL: input.resultUrl,
  };
}

/** One account of an Account Balance result, e.g. `Working Account|KES|900.00|900.00|0.00|0.00`. */
export interface AccountBalanceLine {
  account: string;
  currency: string;
  available: number;
  uncleared: number;
  reserved: number;
}

/** Parses the `&`-joined AccountBalance string (daraja.md §8.4); malformed segments are skipped. */
export function parseAccountBalanceString(value: string): AccountBalanceLine[] {
  const out: AccountBalanceLine[] = [];
  for (const seg of String(value).split('&')) {
    const parts = seg.split('|');
    if (parts.length < 5) continue;
    const [account, currency, available, uncleared, reserved] = parts as [
      string,
      string,
      string,
      string,
      string,
    ];
    const nums = [available, uncleared, reserved].map(Number);
    if (nums.some((n) => !Number.isFinite(n))) continue;
    out.push({
      account: account.trim(),
      currency: currency.trim(),
      available: nums[0]!,
      uncleared: nums[1]!,
      reserved: nums[2]!,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// C2B register URL v2 and notifications

export interface C2bRegisterInput {
  shortcode: string;
  /** What M-Pesa does when the validation URL does not answer in time. */
  defaultAction: 'complete' | 'cancel';
  confirmationUrl: string;
  validationUrl: string;
}
export interface C2bRegisterPayload {
  ShortCode: string;
  ResponseType: 'Completed' | 'Cancelled';
  ConfirmationURL: string;
  ValidationURL: string;
}

/** Daraja rejects URLs with these words (daraja.md §9.2); we refuse them before sending. */
const FORBIDDEN_URL_WORDS = /m-?pesa|safaricom|exe|exec|cmd|sql|query/i;

export function buildC2bRegisterPayload(input: C2bRegisterInput): C2bRegisterPayload {
  const issues = new Issues();
  checkShortcode(issues, 'shortcode', input.shortcode);
  if (input.defaultAction !== 'complete' && input.defaultAction !== 'cancel') {
    issues.add('defaultAction', "must be 'complete' or 'cancel'");
  }
  for (const [path, url] of [
    ['confirmationUrl', input.confirmationUrl],
    ['validationUrl', input.validationUrl],
  ] as const) {
    checkUrl(issues, path, url);
    if (typeof url === 'string' && FORBIDDEN_URL_WORDS.test(url)) {
      issues.add(path, 'must not contain M-PESA, Safaricom, exe, exec, cmd, sql or query');
    }
  }
  issues.throwIfAny();
  return {
    ShortCode: input.shortcode,
    ResponseType: input.defaultAction === 'complete' ? 'Completed' : 'Cancelled',
    ConfirmationURL: input.confirmationUrl,
    ValidationURL: input.validationUrl,
  };
}

/** Note Daraja's typo `OriginatorCoversationID` (daraja.md §1.4); both spellings are read. */
export const C2bRegisterResponseSchema = z.object({
  OriginatorCoversationID: z.string().optional(),
  OriginatorConversationID: z.string().optional(),
  ResponseCode: codeString,
  ResponseDescription: z.string().optional().default(''),
});
export interface C2bRegisterAck {
  originatorConversationId: string;
  responseCode: string;
  responseDescription: string;
}
export function toC2bRegisterAck(r: z.output<typeof C2bRegisterResponseSchema>): C2bRegisterAck {
  return {
    originatorConversationId: r.OriginatorCoversationID ?? r.OriginatorConversationID ?? '',
    responseCode: r.ResponseCode,
    responseDescription: r.ResponseDescription,
  };
}

const looseString = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => (v === null || v === undefined ? '' : String(v)));

/** A C2B validation/confirmation payload; amounts and codes arrive as strings (sometimes numbers). */
export const C2bNotificationSchema = z.object({
  TransactionType: looseString,
  TransID: z.union([z.string(), z.number()]).transform(String),
  TransTime: looseString,
  TransAmount: z.union([z.string(), z.number()]).transform((v) => Number(v)),
  BusinessShortCode: looseString,
  BillRefNumber: looseString,
  InvoiceNumber: looseString,
  OrgAccountBalance: looseString,
  ThirdPartyTransID: looseString,
  MSISDN: looseString,
  FirstName: looseString,
  MiddleName: looseString,
  LastName: looseString,
});

export interface C2bNotification {
  transactionType: string;
  transactionId: string;
  /** `YYYYMMDDHHmmss`, Nairobi time. */
  transactionTime: string;
  amount: number;
  shortcode: string;
  billRefNumber: string;
  invoiceNumber: string;
  /** Blank in validation requests. */
  orgAccountBalance: string;
  thirdPartyTransId: string;
  /** v2: masked (`2547 ***** 149`); v1: a SHA-256 hex hash. Never a full number. */
  msisdn: string;
  firstName: string;
  middleName: string;
  lastName: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseC2bNotification(body: unknown): ParseResult<C2bNotification> {
  const r = C2bNotificationSchema.safeParse(body);
  if (!r.success)
    return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  const d = r.data;
  if (!Number.isFinite(d.TransAmount)) return { ok: false, error: 'TransAmount: not a number' };
  return {
    ok: true,
    value: {
      transactionType: d.TransactionType,
      transactionId: d.TransID,
      transactionTime: d.TransTime,
      amount: d.TransAmount,
      shortcode: d.BusinessShortCode,
      billRefNumber: d.BillRefNumber,
      invoiceNumber: d.InvoiceNumber,
      orgAccountBalance: d.OrgAccountBalance,
      thirdPartyTransId: d.ThirdPartyTransID,
      msisdn: d.MSISDN,
      firstName: d.FirstName,
      middleName: d.MiddleName,
      lastName: d.LastName,
    },
  };
}

/** Why a C2B validation rejects a payment, with Daraja's codes (daraja.md §8.5). */
export const C2B_REJECT_CODES = {
  invalid_msisdn: 'C2B00011',
  invalid_account: 'C2B00012',
  invalid_amount: 'C2B00013',
  invalid_kyc: 'C2B00014',
  invalid_shortcode: 'C2B00015',
  other: 'C2B00016',
} as const;

/** The body to answer a C2B validation request with. */
export function c2bValidationReply(
  decision:
    | { accept: true; thirdPartyTransId?: string }
    | { accept: false; reason: keyof typeof C2B_REJECT_CODES },
): { ResultCode: string; ResultDesc: string; ThirdPartyTransID?: string } {
  if (decision.accept) {
    return {
      ResultCode: '0',
      ResultDesc: 'Accepted',
      ...(decision.thirdPartyTransId ? { ThirdPartyTransID: decision.thirdPartyTransId } : {}),
    };
  }
  return { ResultCode: C2B_REJECT_CODES[decision.reason], ResultDesc: 'Rejected' };
}

/** The body to answer a C2B confirmation with. */
export const C2B_CONFIRMATION_REPLY = { ResultCode: 0, ResultDesc: 'Success' } as const;

// ---------------------------------------------------------------------------------------------
// Dynamic QR

export type QrKind = 'buy_goods' | 'paybill' | 'agent_withdrawal' | 'send_money' | 'send_to_business';
const TRX_CODE: Record<QrKind, string> = {
  buy_goods: 'BG',
  paybill: 'PB',
  agent_withdrawal: 'WA',
  send_money: 'SM',
  send_to_business: 'SB',
};

export interface QrInput {
  merchantName: string;
  refNo: string;
  amount: number;
  kind: QrKind;
  /** Credit party: till, paybill, MSISDN or agent number. */
  creditParty: string;
  /** Square image size in pixels. */
  size?: number | undefined;
}
export interface QrPayload {
  MerchantName: string;
  RefNo: string;
  Amount: number;
  TrxCode: string;
  CPI: string;
  Size: string;
}

export function buildQrPayload(input: QrInput): QrPayload {
  const issues = new Issues();
  checkText(issues, 'merchantName', input.merchantName, 1, 100);
  checkText(issues, 'refNo', input.refNo, 1, ACCOUNT_REFERENCE_MAX);
  checkAmount(issues, 'amount', input.amount);
  if (!(input.kind in TRX_CODE)) issues.add('kind', `must be one of ${Object.keys(TRX_CODE).join(', ')}`);
  if (!/^\d{5,12}$/.test(input.creditParty ?? ''))
    issues.add('creditParty', 'must be a till, paybill or MSISDN');
  const size = input.size ?? 300;
  if (!Number.isInteger(size) || size < 50 || size > 2000) issues.add('size', 'must be 50-2000 pixels');
  issues.throwIfAny();
  return {
    MerchantName: input.merchantName,
    RefNo: input.refNo,
    Amount: input.amount,
    TrxCode: TRX_CODE[input.kind],
    CPI: input.creditParty,
    Size: String(size),
  };
}

export const QrResponseSchema = z.object({
  ResponseCode: codeString,
  RequestID: z.string().optional().default(''),
  ResponseDescription: z.string().optional().default(''),
  QRCode: z.string().min(1),
});
export interface QrResult {
  requestId: string;
  responseCode: string;
  responseDescription: string;
  /** Base64 PNG. */
  qrCodePngBase64: string;
}
export function toQrResult(r: z.output<typeof QrResponseSchema>): QrResult {
  return {
    requestId: r.RequestID,
    responseCode: r.ResponseCode,
    responseDescription: r.ResponseDescription,
    qrCodePngBase64: r.QRCode,
  };
}
