/** Payment links: a shareable page that starts STK payments for a merchant (issue 9). */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // `amount` is set for a fixed amount; `amount_min`/`amount_max` for a bounded one (never both).
  // `channel_id` null: the merchant's default channel of the link's environment at payment time.
  await sql`
    create table payment_links (
      id text primary key,
      merchant_id text not null,
      environment text not null,
      channel_id text,
      title text not null,
      description text,
      reference text not null,
      amount integer check (amount > 0),
      amount_min integer check (amount_min > 0),
      amount_max integer,
      logo_url text,
      expires_at timestamptz,
      max_payments integer check (max_payments > 0),
      status text not null default 'active' check (status in ('active', 'disabled')),
      created_by text not null,
      created_at timestamptz(3) not null default now(),
      updated_at timestamptz not null default now(),
      disabled_at timestamptz,
      check ((amount is not null) <> (amount_min is not null and amount_max is not null)),
      check (amount_max is null or amount_max >= amount_min)
    )`.execute(db);
  await sql`create index payment_links_merchant_created on payment_links (merchant_id, environment, created_at desc, id desc)`.execute(
    db,
  );
  // link stats and the exhausted check read payments by link
  await sql`create index payments_link on payments (link_id, status) where link_id is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists payments_link`.execute(db);
  await sql`drop table payment_links`.execute(db);
}
