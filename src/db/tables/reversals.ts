/** Table types of reversals (migration 011). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface ReversalsTable {
  id: string;
  merchant_id: string;
  environment: string;
  payment_id: string;
  channel_id: string;
  status: string;
  version: Generated<number>;
  amount: number;
  currency: Generated<string>;
  reason: string;
  api_key_id: string | null;
  initiation: Generated<string>;
  conversation_id: string | null;
  originator_conversation_id: string | null;
  mpesa_receipt: string | null;
  result_code: string | null;
  result_desc: string | null;
  failure_reason: string | null;
  review_reason: string | null;
  decided_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  settled_at: NullableTimestamp;
}

export interface ReversalRequestsTable {
  reversal_id: string;
  marked_at: Timestamp;
  outcome: string | null;
}

export interface ReversalTables {
  reversals: ReversalsTable;
  reversal_requests: ReversalRequestsTable;
}
