/** Table types of payouts (migration 006). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json = ColumnType<unknown, string | undefined, string>;

export interface PayoutsTable {
  id: string;
  merchant_id: string;
  environment: string;
  channel_id: string;
  status: string;
  version: Generated<number>;
  amount: number;
  currency: Generated<string>;
  phone: string;
  command_id: string;
  remarks: string;
  occasion: string | null;
  reference: string;
  callback_url: string | null;
  metadata: Json | null;
  api_key_id: string | null;
  initiation: Generated<string>;
  conversation_id: string | null;
  originator_conversation_id: string | null;
  mpesa_receipt: string | null;
  receiver_name: string | null;
  completed_at: string | null;
  result_code: string | null;
  result_desc: string | null;
  failure_reason: string | null;
  review_reason: string | null;
  decided_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  settled_at: NullableTimestamp;
  /** Migration 010: `reconciliation` or `manual` once the payout left needs_review. */
  resolved_by: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface PayoutRequestsTable {
  payout_id: string;
  marked_at: Timestamp;
  outcome: string | null;
}

export interface PayoutTables {
  payouts: PayoutsTable;
  payout_requests: PayoutRequestsTable;
}
