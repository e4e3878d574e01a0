/** Table types of the payments area (migration 003). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string | undefined, string>;

export interface PaymentsTable {
  id: string;
  merchant_id: string;
  environment: string;
  channel_id: string;
  kind: Generated<string>;
  status: string;
  version: Generated<number>;
  amount: number;
  currency: Generated<string>;
  phone: string;
  reference: string;
  description: string;
  callback_url: string | null;
  metadata: Json | null;
  api_key_id: string | null;
  link_id: string | null;
  checkout_request_id: string | null;
  merchant_request_id: string | null;
  mpesa_receipt: string | null;
  transaction_date: string | null;
  result_code: string | null;
  result_desc: string | null;
  failure_reason: string | null;
  review_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  settled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** Migration 010: `reconciliation` or `manual` once the payment left needs_review. */
  resolved_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** Migration 010: the `c2b` payment reconciliation matched to this one. */
  matched_c2b_payment_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface EventsTable {
  id: string;
  merchant_id: string;
  environment: string;
  type: string;
  payment_id: string;
  payment_version: number;
  body: string;
  created_at: Timestamp;
}

export interface CallbackInboxTable {
  id: Generated<number>;
  kind: string;
  payment_id: string;
  body: Json;
  error: string;
  received_at: Timestamp;
  resolved_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface IdempotencyKeysTable {
  merchant_id: string;
  environment: string;
  scope: string;
  key: string;
  request_hash: string;
  state: 'in_flight' | 'done';
  resource_id: string | null;
  response_status: number | null;
  response_body: Json | null;
  created_at: Timestamp;
  locked_until: Timestamp;
}

export interface StkPushesTable {
  payment_id: string;
  push_number: number;
  marked_at: Timestamp;
  outcome: string | null;
  /** Daraja's answer to an accepted or rejected push (InitiateStkPushResult), for a re-run attempt. */
  answer: Json | null;
}

export interface PaymentTables {
  stk_pushes: StkPushesTable;
  payments: PaymentsTable;
  events: EventsTable;
  callback_inbox: CallbackInboxTable;
  idempotency_keys: IdempotencyKeysTable;
}
