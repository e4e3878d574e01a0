/** Webhooks: registered endpoints (sealed signing secrets), one delivery per (event, target), every attempt. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Registered endpoints. `secrets` holds the sealed signing secrets, newest first, each with the time
  // it stops signing (null while current); a rotation keeps the previous one for 24 hours.
  await sql`
    create table webhook_endpoints (
      id text primary key,
      merchant_id text not null,
      environment text not null,
      url text not null,
      events jsonb not null,
      description text not null default '',
      enabled boolean not null default true,
      disabled_reason text,
      disabled_at timestamptz,
      secrets jsonb not null,
      failing_since timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index webhook_endpoints_merchant on webhook_endpoints (merchant_id, environment, created_at desc, id desc)`.execute(
    db,
  );

  // One row per (event, target, sequence): sequence 0 is the automatic delivery, 1… are redeliveries.
  // Each row is driven by one Temporal workflow (workflow_id).
  await sql`
    create table webhook_deliveries (
      id text primary key,
      event_id text not null references events (id),
      merchant_id text not null,
      target_kind text not null check (target_kind in ('endpoint', 'callback_url')),
      target_id text not null,
      target_url text not null,
      sequence integer not null default 0,
      workflow_id text not null unique,
      status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
      attempts integer not null default 0,
      next_attempt_at timestamptz,
      last_status_code integer,
      last_error text,
      failure_reason text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (event_id, target_kind, target_id, sequence)
    )`.execute(db);
  await sql`create index webhook_deliveries_target on webhook_deliveries (target_id, created_at desc)`.execute(
    db,
  );

  // Every attempt: what was sent when, and what came back (the first 1 KiB).
  await sql`
    create table webhook_attempts (
      delivery_id text not null references webhook_deliveries (id) on delete cascade,
      attempt integer not null,
      attempted_at timestamptz not null,
      target_url text not null,
      status_code integer,
      latency_ms integer not null,
      error text,
      response_snippet text not null default '',
      primary key (delivery_id, attempt)
    )`.execute(db);
  await sql`create index events_merchant_type on events (merchant_id, environment, type, created_at desc)`.execute(
    db,
  );
  await sql`create index events_payment on events (payment_id, created_at desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists events_payment`.execute(db);
  await sql`drop index if exists events_merchant_type`.execute(db);
  for (const t of ['webhook_attempts', 'webhook_deliveries', 'webhook_endpoints']) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
