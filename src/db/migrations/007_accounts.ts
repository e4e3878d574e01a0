/** Dashboard accounts: users, their memberships of merchants, sessions, one-time tokens, login throttling. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // `password_hash` is null for a user created by an invite that was never accepted.
  await sql`
    create table users (
      id text primary key,
      email text not null,
      password_hash text,
      created_at timestamptz(3) not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  // emails are unique ignoring case: Ann@x.ke and ann@x.ke are one person
  await sql`create unique index users_email on users (lower(email))`.execute(db);

  await sql`
    create table memberships (
      user_id text not null references users (id),
      merchant_id text not null references merchants (id),
      role text not null check (role in ('owner', 'developer', 'viewer')),
      created_by text not null,
      created_at timestamptz(3) not null default now(),
      primary key (user_id, merchant_id)
    )`.execute(db);
  await sql`create index memberships_merchant on memberships (merchant_id)`.execute(db);

  // The cookie carries a random token; only its SHA-256 is stored, so a read of this table signs no one in.
  await sql`
    create table sessions (
      id text primary key,
      token_hash text not null unique,
      user_id text not null references users (id),
      merchant_id text not null references merchants (id),
      environment text not null default 'test' check (environment in ('test', 'live')),
      csrf_token text not null,
      created_at timestamptz(3) not null default now(),
      last_seen_at timestamptz not null,
      expires_at timestamptz not null,
      revoked_at timestamptz
    )`.execute(db);
  await sql`create index sessions_user on sessions (user_id) where revoked_at is null`.execute(db);

  // Invites (an operator adds someone to a merchant) and sign-in links (the dev banner's), stored hashed.
  await sql`
    create table account_tokens (
      token_hash text primary key,
      kind text not null check (kind in ('invite', 'sign_in')),
      merchant_id text not null references merchants (id),
      email text,
      role text check (role in ('owner', 'developer', 'viewer')),
      user_id text references users (id),
      created_by text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      used_at timestamptz
    )`.execute(db);

  // Failed sign-ins per bucket (`email:<lowercased>` or `ip:<address>`), shared by every API process.
  await sql`
    create table login_failures (
      bucket text primary key,
      failures integer not null,
      last_failure_at timestamptz not null,
      locked_until timestamptz
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['login_failures', 'account_tokens', 'sessions', 'memberships', 'users']) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
