/** The lookups: Transaction Status, Account Balance and Dynamic QR payloads and answers. */
import { z } from 'zod';
import {
  ACCOUNT_REFERENCE_MAX,
  Issues,
  checkText,
  checkAmount,
  checkShortcode,
  checkUrl,
  codeString,
  checkRemarks,
} from './common';

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
