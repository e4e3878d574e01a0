import { type Kysely, sql } from 'kysely';

/**
 * The `phone` filter of `GET /v1/payments` (and the dashboard's phone filter) reads a page in
 * list order instead of every payment of the merchant: `malipo bench growth` EXPLAINs it at 100k rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index payments_merchant_phone on payments (merchant_id, phone, created_at desc, id desc)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index payments_merchant_phone`.execute(db);
}
