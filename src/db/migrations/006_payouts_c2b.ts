import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The projection of each b2cPayout workflow, written monotonically by `version` like payments.
  await sql`
    create table payouts (
      id text primary key,
      merchant_id text not null,
      environment text not null,
      channel_id text not null,
      status text not null,
      version integer not null default 0,
      amount integer not null check (amount > 0),
      currency text not null default 'KES',
      phone text not null,
      command_id text not null,
      remarks text not null,
      occasion text,
      reference text not null,
      callback_url text,
      metadata jsonb,
      api_key_id text,
      initiation text not null default 'pending',
      conversation_id text,
      originator_conversation_id text,
      mpesa_receipt text,
      receiver_name text,
      completed_at text,
      result_code text,
      result_desc text,
      failure_reason text,
      review_reason text,
      decided_by text,
      created_at timestamptz(3) not null default now(),
      updated_at timestamptz not null default now(),
      settled_at timestamptz
    )`.execute(db);
  await sql`create index payouts_merchant_created on payouts (merchant_id, created_at desc, id desc)`.execute(
    db,
  );
  await sql`create index payouts_merchant_status on payouts (merchant_id, status)`.execute(db);

  // The "B2C request sent" mark: an activity attempt that finds it never sends again.
  await sql`
    create table payout_requests (
      payout_id text primary key,
      marked_at timestamptz not null default now(),
      outcome text
    )`.execute(db);

  // C2B per channel: whether its URLs are registered, and how validation decides.
  await sql`alter table channels add column c2b_validation text not null default 'accept_all'`.execute(db);
  await sql`alter table channels add column c2b_response_type text`.execute(db);
  await sql`alter table channels add column c2b_registered_at timestamptz`.execute(db);
  // A C2B payment is keyed by M-Pesa's TransID: a repeated confirmation never records it twice.
  await sql`create unique index payments_c2b_receipt on payments (mpesa_receipt) where kind = 'c2b'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index payments_c2b_receipt`.execute(db);
  for (const c of ['c2b_registered_at', 'c2b_response_type', 'c2b_validation']) {
    await sql`alter table channels drop column ${sql.ref(c)}`.execute(db);
  }
  await sql`drop table payout_requests`.execute(db);
  await sql`drop table payouts`.execute(db);
}
