/**
 * Tolerant parsing of what Daraja POSTs to us: the STK callback (`Body.stkCallback`) and the async
 * `{"Result": {...}}` of B2C, Transaction Status and Account Balance. Callbacks are unsigned hints
 * (CONVENTIONS 5): parse what is there, never throw, and let the workflow decide what to believe.
 */
import { normalizeResultCode, type StkOutcome, stkOutcome } from '../domain/result-codes';
import { parseNairobiTimestamp } from './password';
import {
  type AccountBalanceLine,
  cleanResultDesc,
  type ParseResult,
  parseAccountBalanceString,
} from './transformers';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const asString = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** A metadata value as sent: numbers stay numbers, a value-less item (Balance) is undefined. */
export type MetadataValue = string | number | undefined;

/** The typed result of an STK callback. */
export interface StkCallback {
  merchantRequestId: string;
  checkoutRequestId: string;
  /** Normalised ResultCode: `"0"`, `"1032"`, `"SFC_IC0003"`. */
  resultCode: string;
  resultDesc: string;
  outcome: StkOutcome;
  /** Present on success. May carry decimals as sent (`10.00` → 10). */
  amount?: number | undefined;
  receipt?: string | undefined;
  /** `YYYYMMDDHHmmss` Nairobi time, as a string even when sent as a number. */
  transactionDate?: string | undefined;
  /** The instant of `transactionDate`, read as Nairobi time ([UNSURE] in daraja.md §5.1). */
  transactionAt?: Date | undefined;
  /** 12-digit MSISDN as a string even when sent as a number. */
  phone?: string | undefined;
  /** Every metadata item by Name, including value-less ones (`Balance`), which map to undefined. */
  metadata: Record<string, MetadataValue>;
}

/**
 * Parses an STK callback body. Tolerates: ResultCode as a number or a string (`"SFC_IC0003"`),
 * missing ResultDesc, missing CallbackMetadata, items without `Value`, numbers where strings are
 * expected (phone, date, receipt) and strings where numbers are expected (Amount). Items are looked
 * up by Name, never by position. Fails only when there is no CheckoutRequestID or ResultCode.
 */
export function parseStkCallback(body: unknown): ParseResult<StkCallback> {
  const cb = isObj(body) && isObj(body.Body) ? body.Body.stkCallback : undefined;
  if (!isObj(cb)) return { ok: false, error: 'missing Body.stkCallback' };
  const checkoutRequestId = asString(cb.CheckoutRequestID)?.trim();
  if (!checkoutRequestId) return { ok: false, error: 'missing CheckoutRequestID' };
  const rawCode = cb.ResultCode;
  if (typeof rawCode !== 'number' && (typeof rawCode !== 'string' || rawCode.trim() === '')) {
    return { ok: false, error: 'missing ResultCode' };
  }
  const resultCode = normalizeResultCode(rawCode);
  const metadata: Record<string, MetadataValue> = {};
  const items = isObj(cb.CallbackMetadata) ? cb.CallbackMetadata.Item : undefined;
  // One capture had a single item as an object rather than an array; accept both.
  const list = Array.isArray(items) ? items : isObj(items) ? [items] : [];
  for (const item of list) {
    if (!isObj(item) || typeof item.Name !== 'string') continue;
    const v = item.Value;
    metadata[item.Name] = typeof v === 'number' || typeof v === 'string' ? v : undefined;
  }
  const amountRaw = metadata.Amount;
  const amount = amountRaw === undefined || amountRaw === '' ? undefined : Number(amountRaw);
  const date = asString(metadata.TransactionDate);
  const phone = asString(metadata.PhoneNumber);
  return {
    ok: true,
    value: {
      merchantRequestId: asString(cb.MerchantRequestID) ?? '',
      checkoutRequestId,
      resultCode,
      resultDesc: cleanResultDesc(asString(cb.ResultDesc) ?? ''),
      outcome: stkOutcome(resultCode),
      amount: amount !== undefined && Number.isFinite(amount) ? amount : undefined,
      receipt: asString(metadata.MpesaReceiptNumber),
      transactionDate: date,
      transactionAt: date ? parseNairobiTimestamp(date) : undefined,
      phone: phone ? phone.replace(/^\+/, '') : undefined,
      metadata,
    },
  };
}

/** The common `Result` of B2C, Transaction Status, Account Balance and Reversal (daraja.md §8). */
export interface AsyncResult {
  /** 0 = completed; 1 = waiting for further messages. */
  resultType: number | undefined;
  /** Normalised as for STK (`"0"`, `"2001"`, `"SFC_IC0003"`, `"R000002"`). */
  resultCode: string;
  resultDesc: string;
  success: boolean;
  originatorConversationId: string;
  conversationId: string;
  transactionId: string;
  /** ResultParameters by Key (values as sent). */
  parameters: Record<string, MetadataValue>;
  /** ReferenceData items by Key. */
  referenceData: Record<string, MetadataValue>;
}

function keyValues(container: unknown, listKey: string): Record<string, MetadataValue> {
  const out: Record<string, MetadataValue> = {};
  if (!isObj(container)) return out;
  const raw = container[listKey];
  const list = Array.isArray(raw) ? raw : isObj(raw) ? [raw] : [];
  for (const item of list) {
    if (!isObj(item) || typeof item.Key !== 'string') continue;
    const v = item.Value;
    out[item.Key] = typeof v === 'number' || typeof v === 'string' ? v : undefined;
  }
  return out;
}

/** Parses `{"Result": {...}}`; ResultType/ResultCode may be numbers or strings. */
export function parseAsyncResult(body: unknown): ParseResult<AsyncResult> {
  const r = isObj(body) ? body.Result : undefined;
  if (!isObj(r)) return { ok: false, error: 'missing Result' };
  const code = r.ResultCode;
  if (typeof code !== 'number' && (typeof code !== 'string' || code.trim() === '')) {
    return { ok: false, error: 'missing ResultCode' };
  }
  const resultCode = normalizeResultCode(code);
  const rt = r.ResultType === undefined ? undefined : Number(r.ResultType);
  return {
    ok: true,
    value: {
      resultType: rt !== undefined && Number.isFinite(rt) ? rt : undefined,
      resultCode,
      resultDesc: asString(r.ResultDesc) ?? '',
      success: resultCode === '0',
      originatorConversationId: asString(r.OriginatorConversationID) ?? '',
      conversationId: asString(r.ConversationID) ?? '',
      transactionId: asString(r.TransactionID) ?? '',
      parameters: keyValues(r.ResultParameters, 'ResultParameter'),
      referenceData: keyValues(r.ReferenceData, 'ReferenceItem'),
    },
  };
}

/** B2C-specific fields from a parsed Result (absent on failure). */
export interface B2cResultDetails {
  amount?: number | undefined;
  receipt?: string | undefined;
  /** `"2547XXXXXXXX - FIRST LAST"` as sent. */
  receiverPublicName?: string | undefined;
  /** `dd.MM.yyyy HH:mm:ss` as sent. */
  completedAt?: string | undefined;
  recipientIsRegistered?: boolean | undefined;
  utilityAccountAvailableFunds?: number | undefined;
  workingAccountAvailableFunds?: number | undefined;
}

const num = (v: MetadataValue): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

export function b2cResultDetails(result: AsyncResult): B2cResultDetails {
  const p = result.parameters;
  const reg = asString(p.B2CRecipientIsRegisteredCustomer);
  return {
    amount: num(p.TransactionAmount),
    receipt: asString(p.TransactionReceipt) ?? (result.transactionId || undefined),
    receiverPublicName: asString(p.ReceiverPartyPublicName),
    completedAt: asString(p.TransactionCompletedDateTime),
    recipientIsRegistered: reg === undefined ? undefined : reg.toUpperCase() === 'Y',
    utilityAccountAvailableFunds: num(p.B2CUtilityAccountAvailableFunds),
    workingAccountAvailableFunds: num(p.B2CWorkingAccountAvailableFunds),
  };
}

/** Account Balance fields from a parsed Result. */
export function accountBalanceDetails(result: AsyncResult): {
  accounts: AccountBalanceLine[];
  completedAt?: string | undefined;
} {
  const raw = asString(result.parameters.AccountBalance);
  return {
    accounts: raw ? parseAccountBalanceString(raw) : [],
    completedAt: asString(result.parameters.BOCompletedTime),
  };
}

/** Transaction Status fields from a parsed Result. */
export interface TransactionStatusDetails {
  receipt?: string | undefined;
  status?: string | undefined;
  amount?: number | undefined;
  debitPartyName?: string | undefined;
  creditPartyName?: string | undefined;
  initiatedTime?: string | undefined;
  finalisedTime?: string | undefined;
  reasonType?: string | undefined;
}

export function transactionStatusDetails(result: AsyncResult): TransactionStatusDetails {
  const p = result.parameters;
  return {
    receipt: asString(p.ReceiptNo),
    status: asString(p.TransactionStatus),
    amount: num(p.Amount),
    debitPartyName: asString(p.DebitPartyName),
    creditPartyName: asString(p.CreditPartyName),
    initiatedTime: asString(p.InitiatedTime),
    finalisedTime: asString(p.FinalisedTime),
    reasonType: asString(p.ReasonType),
  };
}

/** Reversal fields from a parsed Result (daraja.md §8.7; absent on failure). */
export interface ReversalResultDetails {
  /** The reversal's own transaction id. */
  transactionId?: string | undefined;
  amount?: number | undefined;
  originalTransactionId?: string | undefined;
  completedAt?: string | undefined;
}

export function reversalResultDetails(result: AsyncResult): ReversalResultDetails {
  const p = result.parameters;
  return {
    transactionId: result.transactionId || undefined,
    amount: num(p.Amount),
    originalTransactionId: asString(p.OriginalTransactionID),
    completedAt: asString(p.TransCompletedTime),
  };
}
