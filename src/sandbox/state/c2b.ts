/** The C2B ledgers: URL registrations and customer payments to a paybill or till. */
import type { TargetedAttempt } from './common';

export interface C2bRegistration {
  at: string;
  shortcode: string;
  responseType: string;
  confirmationUrl: string;
  validationUrl: string;
}

/** A customer paying a paybill/till unprompted (control API or Daraja's simulate endpoint). */
export interface C2bPaymentLedgerEntry {
  transId: string;
  /** `control` = POST /__sandbox/c2b/payments; `simulate` = /mpesa/c2b/v1|v2/simulate. */
  via: 'control' | 'simulate';
  /** The simulate acknowledgement's OriginatorCoversationID; null for the control API. */
  originatorConversationId: string | null;
  at: string;
  /** EAT `YYYYMMDDHHmmss`, as sent in TransTime. */
  transTime: string;
  shortcode: string;
  /** Full MSISDN (the payloads carry a masked one). */
  phone: string;
  amount: number;
  billRefNumber: string;
  transactionType: 'Pay Bill' | 'Buy Goods';
  /** The registration used (latest for the shortcode). */
  registration: C2bRegistration;
  validation: {
    /** The payload POSTed to the ValidationURL. */
    request: Record<string, unknown>;
    attempt: TargetedAttempt | null;
    /** The receiver's reply body (parsed JSON, or the raw text), null if none. */
    reply: unknown;
    /** `accepted` / `rejected` by the reply; otherwise the registration's ResponseType decided. */
    outcome: 'accepted' | 'rejected' | 'unreachable' | 'timeout' | 'http_error' | 'invalid_reply' | 'pending';
    resultCode: string | null;
  };
  /** Who decided: the validation reply, or the registration's ResponseType (no usable reply). */
  decidedBy: 'validation' | 'response_type' | null;
  /** The payment went through (money moved); false = rejected, no confirmation. Null while validating. */
  accepted: boolean | null;
  thirdPartyTransId: string | null;
  /** Org balance after this payment (only when accepted). */
  orgAccountBalance: string | null;
  confirmation: {
    /** The payload POSTed to the ConfirmationURL (null when rejected). */
    request: Record<string, unknown> | null;
    attempts: TargetedAttempt[];
    delivered: boolean;
  };
  /** Transaction Status queries that asked about this TransID. */
  statusQueries: number;
}
