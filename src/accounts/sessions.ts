/**
 * Dashboard sessions, stored in the database. The cookie carries 32 random bytes; the row keeps only
 * their SHA-256, so a copy of the table signs no one in. A session ends at its absolute expiry, after an
 * idle gap, when revoked (sign-out, password change), or when its membership is gone.
 */
import crypto from 'node:crypto';
import type { Db } from '../db';
import { newId } from '../domain/ids';
import type { KeyEnvironment } from '../platform/scopes';
import type { Role } from './roles';

/** A session lives at most 7 days from sign-in. */
export const SESSION_MAX_AGE_MS = 7 * 24 * 3600_000;
/** …and ends after 12 hours without a request. */
export const SESSION_IDLE_MS = 12 * 3600_000;
/** last_seen_at is written at most once a minute per session, not on every page view. */
const TOUCH_EVERY_MS = 60_000;

export const sha256 = (s: string): string => crypto.createHash('sha256').update(s).digest('hex');
export const newToken = (): string => crypto.randomBytes(32).toString('base64url');

export interface Session {
  id: string;
  userId: string;
  email: string;
  merchantId: string;
  merchantName: string;
  role: Role;
  environment: KeyEnvironment;
  csrfToken: string;
  expiresAt: Date;
}

export async function createSession(
  db: Db,
  s: { userId: string; merchantId: string; environment?: KeyEnvironment },
  now: Date,
): Promise<{ id: string; token: string; expiresAt: Date }> {
  const token = newToken();
  const id = newId('session');
  const expiresAt = new Date(now.getTime() + SESSION_MAX_AGE_MS);
  await db
    .insertInto('sessions')
    .values({
      id,
      token_hash: sha256(token),
      user_id: s.userId,
      merchant_id: s.merchantId,
      environment: s.environment ?? 'test',
      csrf_token: newToken(),
      created_at: now,
      last_seen_at: now,
      expires_at: expiresAt,
    })
    .execute();
  return { id, token, expiresAt };
}

/** The live session this cookie token names, or undefined (unknown, revoked, expired, idle, no membership). */
export async function findSession(db: Db, token: string, now: Date): Promise<Session | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .innerJoin('memberships', (j) =>
      j
        .onRef('memberships.user_id', '=', 'sessions.user_id')
        .onRef('memberships.merchant_id', '=', 'sessions.merchant_id'),
    )
    .innerJoin('merchants', 'merchants.id', 'sessions.merchant_id')
    .select([
      'sessions.id',
      'sessions.user_id',
      'users.email',
      'sessions.merchant_id',
      'merchants.name',
      'memberships.role',
      'sessions.environment',
      'sessions.csrf_token',
      'sessions.expires_at',
      'sessions.last_seen_at',
      'sessions.revoked_at',
    ])
    .where('sessions.token_hash', '=', sha256(token))
    .executeTakeFirst();
  if (!row || row.revoked_at) return undefined;
  const t = now.getTime();
  if (new Date(row.expires_at).getTime() <= t) return undefined;
  const lastSeen = new Date(row.last_seen_at).getTime();
  if (t - lastSeen >= SESSION_IDLE_MS) return undefined;
  if (t - lastSeen >= TOUCH_EVERY_MS) {
    await db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
  }
  return {
    id: row.id,
    userId: row.user_id,
    email: row.email,
    merchantId: row.merchant_id,
    merchantName: row.name,
    role: row.role,
    environment: row.environment,
    csrfToken: row.csrf_token,
    expiresAt: new Date(row.expires_at),
  };
}

export async function revokeSession(db: Db, id: string, now: Date): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Every other live session of the user (after a password change); returns how many. */
export async function revokeOtherSessions(
  db: Db,
  userId: string,
  keepId: string,
  now: Date,
): Promise<number> {
  const r = await db
    .updateTable('sessions')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('id', '<>', keepId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export async function setSessionEnvironment(db: Db, id: string, environment: KeyEnvironment): Promise<void> {
  await db.updateTable('sessions').set({ environment }).where('id', '=', id).execute();
}
