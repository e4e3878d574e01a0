/** STK Push and STK Query: request payloads and what Daraja answers. */
import { z } from 'zod';
import { normalizeResultCode, type StkOutcome, stkOutcome } from '../../domain/result-codes';
import { nairobiTimestamp, stkPassword } from '../password';
import {
  ACCOUNT_REFERENCE_MAX,
  TRANSACTION_DESC_MAX,
  Issues,
  checkText,
  checkAmount,
  checkShortcode,
  checkUrl,
  msisdnNumber,
  codeString,
} from './common';

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
