/** Table types of payment links (migration 005) and their slots (migration 009). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface PaymentLinksTable {
  id: string;
  merchant_id: string;
  environment: 'test' | 'live';
  channel_id: string | null;
  title: string;
  description: string | null;
  reference: string;
  amount: number | null;
  amount_min: number | null;
  amount_max: number | null;
  logo_url: string | null;
  expires_at: NullableTimestamp;
  max_payments: number | null;
  status: Generated<'active' | 'disabled'>;
  /** The key id that created it (or `dev-bootstrap`). */
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Timestamp;
  disabled_at: NullableTimestamp;
}

/** One pay-form submission of a link: its token's nonce, and the payment it started (null while starting). */
export interface PaymentLinkSlotsTable {
  link_id: string;
  form_nonce: string;
  phone: string;
  amount: number;
  payment_id: string | null;
  created_at: Generated<Date>;
}

export interface LinkTables {
  payment_links: PaymentLinksTable;
  payment_link_slots: PaymentLinkSlotsTable;
}
