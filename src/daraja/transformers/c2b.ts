/** C2B: URL registration, the validation and confirmation notifications and their replies. */
import { z } from 'zod';
import { Issues, checkShortcode, checkUrl, codeString } from './common';

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
