/** Table types for the Kysely query layer, one interface per table, composed into `Database`. */
import type { ColumnType, Generated } from 'kysely';
import type { AccountTables } from './tables/accounts';
import type { LinkTables } from './tables/links';
import type { PaymentTables } from './tables/payments';
import type { PayoutTables } from './tables/payouts';
import type { ReversalTables } from './tables/reversals';
import type { WebhookTables } from './tables/webhooks';

export interface MetaTable {
  key: string;
  value: string;
  updated_at: Generated<Date>;
}

export interface MerchantsTable {
  id: string;
  name: string;
  created_at: Generated<Date>;
}

export interface ApiKeysTable {
  id: string;
  merchant_id: string;
  environment: 'test' | 'live';
  label: string;
  /** JSON array of scope names; written as a JSON string. */
  scopes: ColumnType<string[], string, string>;
  key_hash: string;
  prefix: string;
  last4: string;
  /** The webhook signing secret, sealed with the secret box (webhooks need it in clear to sign). */
  webhook_secret_enc: string;
  created_at: Generated<Date>;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  rotated_at: Date | null;
  replaced_by: string | null;
}

export interface ChannelsTable {
  id: string;
  merchant_id: string;
  name: string;
  type: 'paybill' | 'till';
  shortcode: string;
  till_number: string | null;
  environment: 'simulator' | 'safaricom-sandbox' | 'production';
  /** Which key environment may use it: `test` for simulator and Safaricom sandbox, `live` for production. */
  mode: 'test' | 'live';
  base_url: string | null;
  is_default: Generated<boolean>;
  status: Generated<'active' | 'disabled'>;
  passkey_enc: string;
  consumer_key_enc: string;
  consumer_secret_enc: string;
  initiator_name: string | null;
  initiator_password_enc: string | null;
  /** C2B validation rule (migration 006): `accept_all` or `open_links`. */
  c2b_validation: Generated<'accept_all' | 'open_links'>;
  c2b_response_type: 'Completed' | 'Cancelled' | null;
  c2b_registered_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface AuditLogTable {
  id: string;
  merchant_id: string | null;
  /** A key id (`key_…`), `cli`, or `dev-bootstrap`. */
  actor: string;
  action: string;
  target_id: string;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  request_id: string | null;
  created_at: Generated<Date>;
}

export interface RateLimitWindowsTable {
  bucket: string;
  window_start: number;
  count: number;
  expires_at: number;
}

export interface Database
  extends PaymentTables,
    PayoutTables,
    WebhookTables,
    LinkTables,
    AccountTables,
    ReversalTables {
  malipo_meta: MetaTable;
  merchants: MerchantsTable;
  api_keys: ApiKeysTable;
  channels: ChannelsTable;
  audit_log: AuditLogTable;
  rate_limit_windows: RateLimitWindowsTable;
}
