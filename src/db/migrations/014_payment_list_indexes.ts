import { type Kysely, sql } from 'kysely';

/**
 * Indexes that keep the filters of `GET /v1/payments` O(page) as a merchant's payments grow
 * (`malipo bench growth` measures them at 100k rows). A status filter reads its newest rows in list
 * order instead of every row of a rare status then a sort, so (merchant_id, status, created_at, id)
 * replaces (merchant_id, status), which it covers as a prefix; a reference and a receipt search find
 * their rows instead of reading all of the merchant's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index payments_merchant_status_created on payments (merchant_id, status, created_at desc, id desc)`.execute(
    db,
  );
  await sql`drop index payments_merchant_status`.execute(db);
  await sql`create index payments_merchant_reference on payments (merchant_id, reference)`.execute(db);
  await sql`create index payments_merchant_receipt on payments (merchant_id, mpesa_receipt) where mpesa_receipt is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index payments_merchant_receipt`.execute(db);
  await sql`drop index payments_merchant_reference`.execute(db);
  await sql`create index payments_merchant_status on payments (merchant_id, status)`.execute(db);
  await sql`drop index payments_merchant_status_created`.execute(db);
}
