/** Tenancy and access: merchants, API keys, Daraja channels (secrets encrypted), the audit log and rate-limit windows. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table merchants (
      id text primary key,
      name text not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  // Only the SHA-256 of a key is stored; prefix and last4 let people recognise it.
  await sql`
    create table api_keys (
      id text primary key,
      merchant_id text not null references merchants(id),
      environment text not null check (environment in ('test', 'live')),
      label text not null,
      scopes jsonb not null,
      key_hash text not null unique,
      prefix text not null,
      last4 text not null,
      webhook_secret_enc text not null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      expires_at timestamptz,
      revoked_at timestamptz,
      rotated_at timestamptz,
      replaced_by text
    )`.execute(db);
  await sql`create index api_keys_merchant on api_keys (merchant_id, environment)`.execute(db);

  await sql`
    create table channels (
      id text primary key,
      merchant_id text not null references merchants(id),
      name text not null,
      type text not null check (type in ('paybill', 'till')),
      shortcode text not null,
      till_number text,
      environment text not null check (environment in ('simulator', 'safaricom-sandbox', 'production')),
      mode text not null check (mode in ('test', 'live')),
      base_url text,
      is_default boolean not null default false,
      status text not null default 'active' check (status in ('active', 'disabled')),
      passkey_enc text not null,
      consumer_key_enc text not null,
      consumer_secret_enc text not null,
      initiator_name text,
      initiator_password_enc text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index channels_merchant on channels (merchant_id, mode)`.execute(db);
  // at most one default channel per merchant and key environment
  await sql`create unique index channels_one_default on channels (merchant_id, mode) where is_default`.execute(
    db,
  );

  await sql`
    create table audit_log (
      id text primary key,
      merchant_id text,
      actor text not null,
      action text not null,
      target_id text not null,
      details jsonb not null default '{}'::jsonb,
      request_id text,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index audit_log_merchant on audit_log (merchant_id, created_at)`.execute(db);

  // One row per (bucket, window): shared by every API process, incremented by an atomic upsert.
  await sql`
    create table rate_limit_windows (
      bucket text not null,
      window_start bigint not null,
      count integer not null,
      expires_at bigint not null,
      primary key (bucket, window_start)
    )`.execute(db);
  await sql`create index rate_limit_windows_expiry on rate_limit_windows (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['rate_limit_windows', 'audit_log', 'channels', 'api_keys', 'merchants']) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
