import { type Kysely, sql } from 'kysely';

/**
 * Leaving `needs_review`: who did it (`resolved_by`: `reconciliation` or `manual`), and for a payment
 * that reconciliation matched to a C2B confirmation the customer made instead, that `c2b` payment. A
 * confirmation settles at most one payment (unique index), so two reviews can never both claim it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table payments add column resolved_by text`.execute(db);
  await sql`alter table payments add column matched_c2b_payment_id text`.execute(db);
  await sql`create unique index payments_matched_c2b on payments (matched_c2b_payment_id) where matched_c2b_payment_id is not null`.execute(
    db,
  );
  // the C2B match looks up confirmations by channel, phone and amount
  await sql`create index payments_c2b_match on payments (channel_id, phone, amount) where kind = 'c2b'`.execute(
    db,
  );
  await sql`alter table payouts add column resolved_by text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table payouts drop column resolved_by`.execute(db);
  await sql`drop index payments_c2b_match`.execute(db);
  await sql`drop index payments_matched_c2b`.execute(db);
  await sql`alter table payments drop column matched_c2b_payment_id`.execute(db);
  await sql`alter table payments drop column resolved_by`.execute(db);
}
