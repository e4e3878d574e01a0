/**
 * Payment link slots: one row per pay-form submission that may start a payment (its form token's
 * nonce). It makes a resent form join its payment, finds a phone's open prompt, and holds one of the
 * link's `max_payments` places from the moment of the submission, so a link cannot be oversold.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // `payment_id` null: the payment is being started (the slot counts as held for a short while).
  await sql`
    create table payment_link_slots (
      link_id text not null,
      form_nonce text not null,
      phone text not null,
      amount integer not null check (amount > 0),
      payment_id text,
      created_at timestamptz(3) not null default now(),
      primary key (link_id, form_nonce)
    )`.execute(db);
  await sql`create index payment_link_slots_phone on payment_link_slots (link_id, phone)`.execute(db);
  await sql`create unique index payment_link_slots_payment on payment_link_slots (payment_id) where payment_id is not null`.execute(
    db,
  );
  // payments the pay page started before slots existed (their api_key_id is the link id) hold theirs
  await sql`
    insert into payment_link_slots (link_id, form_nonce, phone, amount, payment_id, created_at)
    select link_id, id, phone, amount, id, created_at from payments
    where link_id is not null and api_key_id = link_id`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table payment_link_slots`.execute(db);
}
