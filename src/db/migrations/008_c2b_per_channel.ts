import { type Kysely, sql } from 'kysely';

/**
 * A C2B TransID is a duplicate only on the channel (shortcode, environment, merchant) it was first seen
 * on: one unique TransID across all channels let a confirmation for one merchant's shortcode shadow
 * another merchant's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`drop index payments_c2b_receipt`.execute(db);
  await sql`create unique index payments_c2b_channel_receipt on payments (channel_id, mpesa_receipt) where kind = 'c2b'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index payments_c2b_channel_receipt`.execute(db);
  await sql`create unique index payments_c2b_receipt on payments (mpesa_receipt) where kind = 'c2b'`.execute(
    db,
  );
}
