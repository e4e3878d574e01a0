/**
 * Reversals: one row per `reversal` workflow (its projection, written monotonically by `version`),
 * and the "Reversal request sent" mark that keeps a retried activity from sending twice.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table reversals (
      id text primary key,
      merchant_id text not null,
      environment text not null,
      payment_id text not null references payments (id),
      channel_id text not null,
      status text not null,
      version integer not null default 0,
      amount integer not null check (amount > 0),
      currency text not null default 'KES',
      reason text not null,
      api_key_id text,
      initiation text not null default 'pending',
      conversation_id text,
      originator_conversation_id text,
      mpesa_receipt text,
      result_code text,
      result_desc text,
      failure_reason text,
      review_reason text,
      decided_by text,
      created_at timestamptz(3) not null default now(),
      updated_at timestamptz not null default now(),
      settled_at timestamptz
    )`.execute(db);
  await sql`create index reversals_payment on reversals (payment_id, created_at desc, id desc)`.execute(db);
  await sql`create index reversals_merchant_status on reversals (merchant_id, status)`.execute(db);
  await sql`
    create table reversal_requests (
      reversal_id text primary key,
      marked_at timestamptz not null default now(),
      outcome text
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table reversal_requests`.execute(db);
  await sql`drop table reversals`.execute(db);
}
