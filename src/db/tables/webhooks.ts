/** Table types of the webhooks area (migration 004). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

/** One signing secret of an endpoint, sealed with the secret box. */
export interface StoredSecret {
  /** The sealed `whsec_…` value. */
  sealed: string;
  createdAt: string;
  /** When it stops signing (set by a rotation); null while it is current. */
  expiresAt: string | null;
}

export interface WebhookEndpointsTable {
  id: string;
  merchant_id: string;
  environment: string;
  url: string;
  /** Event types the endpoint receives; `["*"]` means all. Written as a JSON string. */
  events: ColumnType<string[], string, string>;
  description: Generated<string>;
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  disabled_at: NullableTimestamp;
  /** Newest first. Written as a JSON string. */
  secrets: ColumnType<StoredSecret[], string, string>;
  /** Start of the current run of failed attempts; null after any success. */
  failing_since: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type DeliveryTargetKind = 'endpoint' | 'callback_url';
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  merchant_id: string;
  target_kind: DeliveryTargetKind;
  /** The endpoint id (`we_…`), or for a callback URL the API key whose secret signs it. */
  target_id: string;
  target_url: string;
  /** 0 for the automatic delivery, 1… for redeliveries. */
  sequence: Generated<number>;
  workflow_id: string;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: NullableTimestamp;
  last_status_code: number | null;
  last_error: string | null;
  failure_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  attempted_at: Timestamp;
  target_url: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_snippet: Generated<string>;
}

export interface WebhookTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}
