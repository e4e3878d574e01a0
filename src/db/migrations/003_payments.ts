import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The projection of each payment workflow. `version` orders writes from the workflow so a
  // retried or reordered activity can never move a row backwards.
  await sql`
    create table payments (
      id text primary key,
      merchant_id text not null,
      environment text not null,
      channel_id text not null,
      kind text not null default 'stk',
      status text not null,
      version integer not null default 0,
      amount integer not null check (amount > 0),
      currency text not null default 'KES',
      phone text not null,
      reference text not null,
      description text not null,
      callback_url text,
      metadata jsonb,
      api_key_id text,
      link_id text,
      checkout_request_id text,
      merchant_request_id text,
      mpesa_receipt text,
      transaction_date text,
      result_code text,
      result_desc text,
      failure_reason text,
      review_reason text,
      created_at timestamptz(3) not null default now(), -- ms precision: list cursors carry JS dates
      updated_at timestamptz not null default now(),
      settled_at timestamptz
    )`.execute(db);
  await sql`create index payments_merchant_created on payments (merchant_id, created_at desc, id desc)`.execute(
    db,
  );
  await sql`create index payments_merchant_status on payments (merchant_id, status)`.execute(db);
  await sql`create index payments_checkout on payments (checkout_request_id)`.execute(db);

  // One row per status change, created with the change; `body` is the webhook payload and never changes.
  await sql`
    create table events (
      id text primary key,
      merchant_id text not null,
      environment text not null,
      type text not null,
      payment_id text not null,
      payment_version integer not null,
      body text not null,
      created_at timestamptz not null default now(),
      unique (payment_id, payment_version)
    )`.execute(db);
  await sql`create index events_merchant_created on events (merchant_id, created_at desc, id desc)`.execute(
    db,
  );

  // Callbacks that could not be handed to a running workflow: kept for reconciliation, never dropped.
  await sql`
    create table callback_inbox (
      id bigserial primary key,
      kind text not null,
      payment_id text not null,
      body jsonb not null,
      error text not null,
      received_at timestamptz not null default now(),
      resolved_at timestamptz
    )`.execute(db);

  // One row per push request the activity is about to send: a retried activity attempt that finds
  // its mark knows an earlier attempt may have reached Daraja, and does not push again.
  await sql`
    create table stk_pushes (
      payment_id text not null,
      push_number integer not null,
      marked_at timestamptz not null default now(),
      outcome text,
      primary key (payment_id, push_number)
    )`.execute(db);

  // Idempotency-Key records: the first answer, replayed for 24 hours (and kept until swept).
  await sql`
    create table idempotency_keys (
      merchant_id text not null,
      environment text not null,
      scope text not null,
      key text not null,
      request_hash text not null,
      state text not null,
      resource_id text,
      response_status integer,
      response_body jsonb,
      created_at timestamptz not null default now(),
      locked_until timestamptz not null,
      primary key (merchant_id, environment, scope, key)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['idempotency_keys', 'stk_pushes', 'callback_inbox', 'events', 'payments']) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
