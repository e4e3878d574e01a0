/** Table types of dashboard accounts (migration 007). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type Role = 'owner' | 'developer' | 'viewer';

export interface UsersTable {
  id: string;
  email: string;
  /** `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`; null until an invited user sets a password. */
  password_hash: string | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface MembershipsTable {
  user_id: string;
  merchant_id: string;
  role: Role;
  created_by: string;
  created_at: Generated<Date>;
}

export interface SessionsTable {
  id: string;
  /** SHA-256 (hex) of the cookie's token. */
  token_hash: string;
  user_id: string;
  merchant_id: string;
  environment: Generated<'test' | 'live'>;
  /** The synchronizer token every form of this session carries. */
  csrf_token: string;
  created_at: Generated<Date>;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: NullableTimestamp;
}

export interface AccountTokensTable {
  /** SHA-256 (hex) of the token in the link. */
  token_hash: string;
  kind: 'invite' | 'sign_in';
  merchant_id: string;
  email: string | null;
  role: Role | null;
  user_id: string | null;
  created_by: string;
  created_at: Generated<Date>;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface LoginFailuresTable {
  bucket: string;
  failures: number;
  last_failure_at: Timestamp;
  locked_until: NullableTimestamp;
}

export interface AccountTables {
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  account_tokens: AccountTokensTable;
  login_failures: LoginFailuresTable;
}
